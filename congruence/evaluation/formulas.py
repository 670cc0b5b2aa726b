"""The formulas of the PCT metrics (E-THER section V-A) as pure typed functions.

Notation: ``sat(c, k) = min(1, c / k)`` turns a phrase count ``c`` into [0, 1]; ``k`` is the count
that saturates the component. :mod:`congruence.evaluation.pct` counts the phrases and applies
these; docs/metrics.md lists every formula with its source.
"""

from __future__ import annotations

import math

from congruence.evaluation.lexicon import _stem, content_words

# --- constants of the formulas (documented in docs/metrics.md) ---------------------------------
WORD_BUDGET = 50  # E-THER's prompt asks for 1-2 sentences; ~50 words is two long sentences
K_NATURAL = 2  # natural conversational elements that saturate the component
K_ENGAGEMENT = 1
K_PERFORMATIVE = 2
DIRECTIVE_PENALTY = 0.5  # per directive / judgmental phrase


# --- pure formulas -------------------------------------------------------------------------------
def saturate(count: float, k: float) -> float:
    """``sat(c, k) = min(1, c / k)`` for ``c >= 0``, ``k > 0``.

    >>> saturate(1, 2), saturate(5, 2), saturate(0, 1)
    (0.5, 1.0, 0.0)
    """
    if k <= 0:
        raise ValueError("k must be positive")
    return min(1.0, max(0.0, count) / k)


def empathic_authenticity(natural: int, engagement: int, performative: int) -> float:
    """Empathic Authenticity (E-THER V-A-1).

    ``EA = clip(0.5 + 0.25 sat(natural, 2) + 0.25 sat(engagement, 1) - 0.5 sat(performative, 2), 0, 1)``

    ``natural``: natural conversational elements ("actually", "I see", sentence-initial "okay");
    ``engagement``: authentic engagement patterns ("I'm wondering", "it sounds like");
    ``performative``: performative or stock phrases ("I completely understand", "you are not
    alone") plus exclamation marks. A response with none of them scores 0.5.

    >>> empathic_authenticity(0, 0, 0), empathic_authenticity(2, 1, 0), empathic_authenticity(0, 0, 2)
    (0.5, 1.0, 0.0)
    """
    v = (
        0.5
        + 0.25 * saturate(natural, K_NATURAL)
        + 0.25 * saturate(engagement, K_ENGAGEMENT)
        - 0.5 * saturate(performative, K_PERFORMATIVE)
    )
    return min(1.0, max(0.0, v))


def responsive_engagement(situational: int, mirroring: float) -> float:
    """Responsive Engagement (E-THER V-A-2).

    ``RE = 0.5 sat(situational, 1) + 0.5 clip(mirroring, 0, 1)``

    ``situational``: situational responsiveness markers ("given", "in your situation", "you
    mentioned"); ``mirroring``: semantic similarity between the client utterance and the response
    (cosine of all-MiniLM-L6-v2 embeddings, or the lexical fallback :func:`lexical_mirroring`).

    >>> responsive_engagement(1, 0.6)
    0.8
    """
    return 0.5 * saturate(situational, 1) + 0.5 * min(1.0, max(0.0, float(mirroring)))


def question_score(n_questions: int, n_open: int, n_sentences: int) -> float:
    """Appropriate question density (part of Therapeutic Concision, E-THER V-A-3).

    ``Q = 0`` without a question; otherwise
    ``Q = (0.5 + 0.5 n_open / n_questions) / (1 + max(0, n_questions - ceil(n_sentences / 2)))``:
    full credit for at least one question, all open, in at most half the sentences (rounded up);
    each question beyond that divides the score (an interrogation is not concise), and closed
    questions ("Have you tried ...?") earn half.

    >>> question_score(1, 1, 2), question_score(0, 0, 2), question_score(1, 0, 1), question_score(3, 3, 3)
    (1.0, 0.0, 0.5, 0.5)
    """
    if n_questions <= 0:
        return 0.0
    n_sentences = max(n_sentences, n_questions)
    excess = max(0, n_questions - math.ceil(n_sentences / 2))
    return (0.5 + 0.5 * min(n_open, n_questions) / n_questions) / (1 + excess)


def brevity(n_words: int, budget: int = WORD_BUDGET) -> float:
    """``b = min(1, budget / n_words)``: 1 within the word budget, then inversely proportional.

    >>> brevity(30), brevity(100)
    (1.0, 0.5)
    """
    return 1.0 if n_words <= budget else budget / n_words


def therapeutic_concision(
    clarity: int, purposeful: int, n_questions: int, n_open: int, n_sentences: int, n_words: int
) -> float:
    """Therapeutic Concision (E-THER V-A-3).

    ``TC = brevity(n_words) * (sat(clarity, 1) + sat(purposeful, 1) + Q) / 3``

    clarity markers ("specifically", "what I hear"), purposeful language ("to understand", "to
    help"), question density ``Q`` (:func:`question_score`), all scaled by :func:`brevity`.

    >>> therapeutic_concision(1, 1, 1, 1, 2, 30), therapeutic_concision(1, 1, 1, 1, 2, 100)
    (1.0, 0.5)
    """
    parts = saturate(clarity, 1) + saturate(purposeful, 1) + question_score(n_questions, n_open, n_sentences)
    return brevity(n_words) * parts / 3.0


def empathic_understanding(empathy: int, curiosity: int) -> float:
    """Rogers' empathic understanding (E-THER V-A-4).

    ``EU = 0.5 sat(empathy, 1) + 0.5 sat(curiosity, 1)``: reflections of feeling ("you feel",
    "you're experiencing") and genuine curiosity ("I'm wondering", "what's that like").

    >>> empathic_understanding(1, 0), empathic_understanding(2, 3)
    (0.5, 1.0)
    """
    return 0.5 * saturate(empathy, 1) + 0.5 * saturate(curiosity, 1)


def unconditional_positive_regard(acceptance: int, directive: int) -> float:
    """Rogers' unconditional positive regard with a judgment penalty (E-THER V-A-4).

    ``UPR = clip(0.5 + 0.5 sat(acceptance, 1) - 0.5 directive, 0, 1)``: non-judgmental acceptance
    ("that makes sense") raises it; each directive or judgmental phrase ("you should", "you need
    to", sentence-initial imperatives) costs 0.5. A response with neither scores 0.5.

    >>> [unconditional_positive_regard(a, d) for a, d in ((1, 0), (0, 0), (1, 2))]
    [1.0, 0.5, 0.0]
    """
    v = 0.5 + 0.5 * saturate(acceptance, 1) - DIRECTIVE_PENALTY * max(0, directive)
    return min(1.0, max(0.0, v))


def therapeutic_congruence(authenticity: int, concept_similarity: float | None) -> float:
    """Rogers' congruence (genuineness) (E-THER V-A-4).

    With word vectors: ``CG = 0.5 sat(authenticity, 1) + 0.5 s_c``; without (``None``):
    ``CG = sat(authenticity, 1)``. ``authenticity`` counts first-person transparency markers ("I
    notice", "I'm not sure"); ``s_c`` in [0, 1] is the similarity of the response's mean word
    vector to the congruence concepts, as a percentile against a reference corpus
    (:func:`concept_similarity_percentile`).

    >>> therapeutic_congruence(1, 0.5), therapeutic_congruence(1, None)
    (0.75, 1.0)
    """
    if concept_similarity is None:
        return saturate(authenticity, 1)
    return 0.5 * saturate(authenticity, 1) + 0.5 * min(1.0, max(0.0, concept_similarity))


def rogers_core_conditions(eu: float, upr: float, cg: float) -> float:
    """Mean of Rogers' three conditions: ``R = (EU + UPR + CG) / 3``."""
    return (eu + upr + cg) / 3.0


def pct_adherence(rogers: float, ea: float, tc: float) -> float:
    """PCT Adherence composite (E-THER V-A-4): ``PCTA = (R + EA + TC) / 3``.

    The paper averages "Rogers Core Conditions, Conversational Authenticity, and Therapeutic
    Concision"; conversational authenticity is taken to be Empathic Authenticity.

    >>> pct_adherence(0.5, 1.0, 0.0)
    0.5
    """
    return (rogers + ea + tc) / 3.0


def concept_similarity_percentile(cosine: float, mean: float, std: float) -> float:
    """``s_c = Phi((cos - mu) / sigma)``: the cosine's percentile under a normal fit to a corpus.

    ``mu`` and ``sigma`` are the mean and SD of the same cosine over reference sentences
    (``congruence/data/pct/congruence_baseline.json``), so 0.5 is a typical sentence.

    >>> concept_similarity_percentile(0.7, 0.7, 0.1)
    0.5
    """
    return 0.5 * (1.0 + math.erf((cosine - mean) / (std * math.sqrt(2.0))))


def lexical_mirroring(
    client: str,
    response: str,
    stopwords: frozenset[str],
    *,
    normalized: tuple[str, str] | None = None,
) -> float:
    """Share of the client's content-word stems that the response repeats: ``|C & R| / |C|``.

    A fast proxy of the semantic mirroring of Responsive Engagement; 0 when the client has no
    content words.

    >>> lexical_mirroring("I argue with my brother", "You and your brother argued", frozenset({"with", "my"}))
    1.0
    """
    nc, nr = normalized if normalized is not None else (None, None)
    c = {_stem(w) for w in content_words(client, stopwords, normalized=nc)}
    if not c:
        return 0.0
    r = {_stem(w) for w in content_words(response, stopwords, normalized=nr)}
    return len(c & r) / len(c)
