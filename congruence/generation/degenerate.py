"""Degenerate-output detection: replies that are not a reply to the client.

Pure typed functions, one per kind of failure seen from small models (issue 15: "Enhanced,
enhanced, enhanced", a 130-word monologue about "the above dialogue", a numbered list about the
technique, talk about "the patient", text about an immune system in answer to grief):

============== ========================================================================================
reason          rule
============== ========================================================================================
``empty``       no word characters at all
``scaffolding`` prompt layout in the reply: ``[Technique]`` / ``[Response]`` placeholders, speaker labels
                (``Patient:``, ``Therapist:``, ``Client:``), ``Dialogue:``, the prompt's own phrases
                ("intervention technique", "the above dialogue", "mental health expert"), or a numbered
                / bulleted list or markdown heading
``prompt_echo`` an 8-word sequence copied from the instruction text (:func:`copied_ngrams`)
``third_person`` the client named in the third person ("the client", "the patient", "the user"), or
                advice to someone else about them: no "you" anywhere and two or more phrases
                such as "help them", "encourage them", "their feelings" (:func:`about_them`)
``repetition``  a word trigram that occurs twice, or one word three times in a row (:func:`repeated_ngrams`)
``too_short`` / ``too_long`` fewer than :data:`MIN_WORDS` / more than :data:`MAX_WORDS` words
``non_english`` under 85 % of the letters are ASCII, or five or more words and no common English function word
``off_topic``   sentence-embedding cosine similarity to the client's words below :data:`OFF_TOPIC_COSINE`
                (MiniLM, :class:`congruence.evaluation.pct.SentenceEncoder`); only when an encoder is given
============== ========================================================================================

These are screening rules (a proxy), not a quality score: a reply that passes can still be poor.
The upper word limit follows E-THER's concision (1-3 sentences) and issue 15's usable-reply
definition (at most 80 words).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

#: Reply length in words outside which a reply is degenerate. 80 is issue 15's upper bound of a
#: usable reply; the lower bound is 3, not its 5, because "You sound tired." is a real reply.
MIN_WORDS, MAX_WORDS = 3, 80
#: Length of a word sequence copied from the instruction that counts as prompt echo.
ECHO_NGRAM = 8
#: Below this cosine similarity (MiniLM L6, unit vectors) to the client's words a reply is off topic.
#: Calibrated on the examples in tests/generation/test_degenerate.py: person-centred replies scored
#: 0.22-0.71 against the client's words, text about something else (weather, code) under 0.05. A
#: generic question ("What has this week been like for you?") scores about 0.25, so the bar is low
#: on purpose: it catches replies about another subject, not vague ones.
OFF_TOPIC_COSINE = 0.12
#: Every reason :func:`degenerate_reasons` can return.
REASONS: tuple[str, ...] = (
    "empty",
    "scaffolding",
    "prompt_echo",
    "third_person",
    "repetition",
    "too_short",
    "too_long",
    "non_english",
    "off_topic",
)

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SCAFFOLD = re.compile(
    r"\[\s*(?:your\s+)?(?:technique|response|intervention)[^\]]*\]"
    r"|(?:^|\n|\s)[*_]*(?:patient|therapist|client|counsell?or|user|assistant|dialogue)\s*(?:\([^)]*\))?[*_]*\s*:"
    r"|\b(?:intervention\s+technique|above\s+dialogue|mental\s+health\s+expert|technique\s+used|"
    r"your\s+response\s+must|in\s+the\s+form)\b"
    r"|(?:^|\n)\s*(?:\d+[.)]|[-*•])\s+\S"
    r"|(?:^|\n)\s*#{1,6}\s",
    re.I,
)
_THIRD_PERSON = re.compile(
    r"\b(?:the|this|our|a)\s+(?:client|patient|user|speaker|person\s+speaking)(?:['’]s)?\b"
    r"|\b(?:clients|patients)\b",
    re.I,
)
# how a note to a counsellor speaks of the client: what to do to them, and their inner life
_ABOUT_THEM = re.compile(
    r"\b(?:help|encourage|ask|allow|let|invite|support|validate|reassure|remind|guide)\s+(?:them|him|her)\b"
    r"|\b(?:their|his|her)\s+(?:own\s+)?(?:feelings?|emotions?|thoughts?|experiences?|concerns?|needs?|"
    r"struggles?|grief|pain)\b",
    re.I,
)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves|you['’](?:re|ve|ll|d))\b", re.I)
_FUNCTION_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as one string
        "i you me my your we it is are am was be been to of and a an the that this in on for with not "
        "what how do does can so but it's you're i'm there have has feel"
    ).split()
)


def words(text: str) -> list[str]:
    """Lower-cased words (letters and in-word apostrophes).

    >>> words("I'm fine, really—FINE.")
    ["i'm", 'fine', 'really', 'fine']
    """
    return [w.lower().replace("’", "'") for w in _WORD.findall(text or "")]


def repeated_ngrams(text: str, n: int = 3) -> int:
    """Number of distinct word ``n``-grams that occur more than once, plus one per run of one word
    three or more times in a row ("enhanced, enhanced, enhanced").

    >>> repeated_ngrams("I hear you. I hear you. I hear you.")
    3
    >>> repeated_ngrams("That sounds hard. What was it like for you?")
    0
    """
    w = words(text)
    grams = Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    runs = sum(1 for i in range(len(w) - 2) if w[i] == w[i + 1] == w[i + 2] and (i == 0 or w[i - 1] != w[i]))
    return sum(1 for c in grams.values() if c > 1) + runs


def copied_ngrams(text: str, source: str, n: int = ECHO_NGRAM) -> int:
    """Number of word ``n``-grams of ``text`` that also occur in ``source`` (prompt echo).

    >>> copied_ngrams("Imagine you are a mental health expert interacting with a patient today",
    ...               "Imagine you are a mental health expert interacting with a patient.")
    4
    """
    s = words(source)
    have = {tuple(s[i : i + n]) for i in range(len(s) - n + 1)}
    w = words(text)
    return sum(1 for i in range(len(w) - n + 1) if tuple(w[i : i + n]) in have)


def ascii_letter_share(text: str) -> float:
    """Share of letters that are ASCII (1.0 for text without letters).

    >>> ascii_letter_share("abc"), ascii_letter_share("日本語abc")
    (1.0, 0.5)
    """
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() for c in letters) / len(letters) if letters else 1.0


def looks_english(text: str) -> bool:
    """At least 85 % ASCII letters, and (from five words on) at least one common English function word.

    >>> looks_english("That sounds really painful."), looks_english("Das ist sehr schwer für dich heute.")
    (True, False)
    """
    if ascii_letter_share(text) < 0.85:
        return False
    w = words(text)
    return len(w) < 5 or any(x in _FUNCTION_WORDS for x in w)


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity ``a·b / (|a| |b|)`` of two vectors (0.0 when either is zero)."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na and nb else 0.0


def about_them(text: str) -> bool:
    """A reply that addresses nobody and advises on a third person's inner life: a note to a
    counsellor about the client, not a reply to the client (no "you" anywhere, and two or more of
    "help / encourage / ask ... them", "their feelings / emotions / thoughts ...").

    >>> about_them("Reflecting on their feelings can help them understand what they experience.")
    True
    >>> about_them("It's hard to help them when they fight, and you feel it too.")
    False
    """
    return not _SECOND_PERSON.search(text) and len(_ABOUT_THEM.findall(text)) >= 2


def degenerate_reasons(
    reply: str,
    *,
    client_text: str = "",
    instructions: Sequence[str] = (),
    similarity: float | None = None,
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
    off_topic_cosine: float = OFF_TOPIC_COSINE,
) -> tuple[str, ...]:
    """Why ``reply`` is not a usable reply to the client (empty tuple: no rule fired).

    Args:
        reply: the parsed reply text.
        client_text: the client's words (used to ignore echo of the client, which is reflection).
        instructions: the prompt's instruction texts; 8-word runs copied from them are prompt echo.
        similarity: embedding cosine similarity of the reply to ``client_text``
            (:func:`topic_similarity`); ``None`` skips the off-topic rule.

    >>> degenerate_reasons("Enhanced, enhanced")
    ('too_short',)
    >>> degenerate_reasons("Enhanced, enhanced, enhanced")
    ('repetition',)
    >>> degenerate_reasons("It sounds like losing her has left you feeling very alone.")
    ()
    """
    text = reply or ""
    w = words(text)
    if not w:
        return ("empty",)
    out: list[str] = []
    if _SCAFFOLD.search(text):
        out.append("scaffolding")
    if any(copied_ngrams(text, s) for s in instructions if s):
        out.append("prompt_echo")
    if (_THIRD_PERSON.search(text) and not _THIRD_PERSON.search(client_text or "")) or about_them(text):
        out.append("third_person")
    if repeated_ngrams(text):
        out.append("repetition")
    if len(w) < min_words:
        out.append("too_short")
    elif len(w) > max_words:
        out.append("too_long")
    if not looks_english(text):
        out.append("non_english")
    if similarity is not None and similarity < off_topic_cosine:
        out.append("off_topic")
    return tuple(out)


class TopicChecker:
    """MiniLM similarity of a reply to the client's words, for the ``off_topic`` rule (lazy load)."""

    name = "all-MiniLM-L6-v2 cosine (congruence.evaluation.pct.SentenceEncoder)"

    def __init__(self, encoder: Any = None) -> None:
        self._encoder = encoder

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from congruence.evaluation.pct import SentenceEncoder

            self._encoder = SentenceEncoder()
        return self._encoder

    def similarity(self, reply: str, client_text: str) -> float:
        """Cosine similarity of the two texts' unit embeddings."""
        emb = self.encoder.encode([reply, client_text])
        return cosine(emb[0], emb[1])


def failure_counts(flags: Sequence[str]) -> Counter[str]:
    """Count of each failure reason over ``;``-joined flag strings (one per reply).

    >>> failure_counts(["degenerate:repetition;retries_exhausted", "directive", "degenerate:repetition"])
    Counter({'repetition': 2})
    """
    c: Counter[str] = Counter()
    for f in flags:
        for part in str(f or "").split(";"):
            if part.startswith("degenerate:"):
                c[part.split(":", 1)[1]] += 1
            elif part in ("parse_failed", "missing_technique", "explanation"):
                c[part] += 1
    return c


__all__ = [
    "ECHO_NGRAM",
    "MAX_WORDS",
    "MIN_WORDS",
    "OFF_TOPIC_COSINE",
    "REASONS",
    "TopicChecker",
    "ascii_letter_share",
    "copied_ngrams",
    "cosine",
    "degenerate_reasons",
    "failure_counts",
    "looks_english",
    "repeated_ngrams",
    "words",
]
