"""Degeneracy penalty of the PCT metrics: text that is not a reply to the person scores low.

The marker-count metrics of E-THER V-A reward phrases and give a neutral 0.5 to text without
them, so repetition ("I am very happy" twenty times), an echo of the prompt, notes about "the
client" or off-topic text scored like a plain, caring reply (issue 15). Each function below
measures one structural way a reply fails to be a reply, as a penalty ``p`` in [0, 1] (0: none),
from the text, its length and its similarity to the client's words; no phrase list is fitted to
examples. They combine into one factor

.. math::

    g = \\prod_i (1 - p_i)

that multiplies Empathic Authenticity, Responsive Engagement and PCT Adherence
(:func:`congruence.evaluation.pct.score_counts`); ``degeneracy = 1 - g`` is reported per reply
with the names of the penalties that fired. Thresholds are documented with each function and in
docs/metrics.md; the validation is tests/evaluation/test_contrast_pairs.py (a dev split used
while designing, a held-out split only scored).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import cache

from congruence.evaluation.lexicon import LEXICON_DIR, normalize

REPETITION_FREE = 0.1  # share of repeated word bigrams ordinary replies stay under
REPETITION_FULL = 0.5  # half the bigrams repeated: a loop, no longer a reply
ECHO_N = 4  # word n-grams this long copied from the client count as echo
ECHO_FREE = 0.5  # a reflection may quote the client; past half the words it is an echo
LENGTH_FREE = 100  # two word budgets (WORD_BUDGET = 50): Therapeutic Concision handles 50-100
DIRECTIVE_WEIGHT = 0.5  # advice is a stance failure, not junk: at most half the score
DIRECTIVE_FULL = 2  # directive phrases that give the full stance penalty
OFF_TOPIC_SDS = 2.0  # relevant = more similar than unrelated pairs by this many SDs
# shared words miss paraphrase ("you miss her" for "my mother died"): with the lexical similarity
# an unrelated-looking reply loses at most half its score
OFF_TOPIC_LEXICAL_WEIGHT = 0.5

_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# the dialogue's own roles, named in the third person: notes about the client, not a reply to them
_ROLE = re.compile(
    r"\b(?:the|this|our|my)\s+(?:client|patient|user|speaker|counsell?or|therapist|assistant)s?\b"
)
# prompt scaffolding: [Tag] or <tag>, Markdown headings, or a one- or two-word label and a colon
# at the start of the text, a line or a sentence ("Technique:", "Client said:", "Response:")
_SCAFFOLD = re.compile(
    r"\[[^\]\n]{1,40}\]|</?[a-z_]{1,20}>|(?m:^\s*#{1,6}\s)"
    r"|(?:^|\n|(?<=[.!?\]>])\s)\s*[A-Za-z]+(?:\s[A-Za-z]+)?\s?:(?=\s|$)"
)


def words(text: str) -> list[str]:
    """Normalised word tokens (:func:`~congruence.evaluation.lexicon.normalize`)."""
    return _WORDS.findall(normalize(text))


def repetition_share(tokens: list[str]) -> float:
    """Share of word bigrams that repeat an earlier bigram: ``1 - distinct / total``.

    .. math:: r = 1 - |\\{(w_i, w_{i+1})\\}| / (n - 1)

    0 for fewer than three words.

    >>> round(repetition_share("i am very happy i am very happy".split()), 3)
    0.429
    >>> repetition_share("what is it like to be there".split())
    0.0
    """
    if len(tokens) < 3:
        return 0.0
    bigrams = list(itertools.pairwise(tokens))
    return 1.0 - len(set(bigrams)) / len(bigrams)


def ramp(x: float, free: float, full: float) -> float:
    """0 up to ``free``, 1 from ``full``, linear between: ``clip((x - free) / (full - free), 0, 1)``.

    >>> [round(ramp(x, 0.1, 0.5), 3) for x in (0.05, 0.3, 0.9)]
    [0.0, 0.5, 1.0]
    """
    return min(1.0, max(0.0, (x - free) / (full - free)))


def repetition_penalty(tokens: list[str]) -> float:
    """``ramp(r, 0.1, 0.5)`` of :func:`repetition_share`: loops such as "happy happy happy".

    >>> repetition_penalty(("i am very happy " * 20).split())
    1.0
    """
    return ramp(repetition_share(tokens), REPETITION_FREE, REPETITION_FULL)


def echo_share(tokens: list[str], client_tokens: list[str], n: int = ECHO_N) -> float:
    """Share of the reply's words inside a word n-gram (n = 4) that also occurs in the client's turn.

    >>> echo_share("you said i feel so alone".split(), "i feel so alone today".split())
    0.6666666666666666
    """
    if len(tokens) < n or len(client_tokens) < n:
        return 0.0
    grams = {tuple(client_tokens[i : i + n]) for i in range(len(client_tokens) - n + 1)}
    covered = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i : i + n]) in grams:
            covered[i : i + n] = [True] * n
    return sum(covered) / len(tokens)


def echo_penalty(share: float) -> float:
    """``ramp(e, 0.5, 1)``: a reply made mostly of the client's own phrases echoes the prompt.

    >>> echo_penalty(0.4), echo_penalty(0.75), echo_penalty(1.0)
    (0.0, 0.5, 1.0)
    """
    return ramp(share, ECHO_FREE, 1.0)


def role_mentions(text: str, *, normalized: str | None = None) -> int:
    """Third-person mentions of the dialogue's roles ("the client", "the patient", "the therapist").

    >>> role_mentions("The client is grieving. The therapist should validate the client's loss.")
    3
    """
    return len(_ROLE.findall(normalize(text) if normalized is None else normalized))


def scaffold_marks(text: str) -> int:
    """Prompt scaffolding: ``[Tag]``, ``<tag>``, Markdown headings, ``Label:`` at a line start.

    >>> scaffold_marks("[Technique] Reflection [Response] Client: I feel alone.")
    3
    >>> scaffold_marks("You said 'really', as if to convince me. What is it like?")
    0
    """
    return len(_SCAFFOLD.findall(text))


def length_penalty(n_words: int, free: int = LENGTH_FREE) -> float:
    """``ramp(n, 100, 200)``: past two word budgets a reply turns into a monologue.

    >>> length_penalty(80), length_penalty(150), length_penalty(400)
    (0.0, 0.5, 1.0)
    """
    return ramp(n_words, free, 2 * free)


def directive_penalty(directive: int) -> float:
    """``0.5 sat(directive, 2)``: advice instead of following the person (Rogers' non-directiveness).

    >>> directive_penalty(0), directive_penalty(1), directive_penalty(3)
    (0.0, 0.25, 0.5)
    """
    return DIRECTIVE_WEIGHT * min(1.0, max(0, directive) / DIRECTIVE_FULL)


def off_topic_penalty(similarity: float, unrelated_mean: float, unrelated_sd: float) -> float:
    """``ramp(-m, -(mu + 2 sigma), -mu)``: 1 at the mean similarity of unrelated pairs, 0 from 2 SDs above.

    ``mu``, ``sigma``: mean and SD of the same similarity over random pairs of unrelated reference
    sentences (``congruence/data/pct/mirroring_baseline.json``).

    >>> [round(off_topic_penalty(m, 0.1, 0.1), 3) for m in (0.5, 0.2, 0.0)]
    [0.0, 0.5, 1.0]
    """
    hi = unrelated_mean + OFF_TOPIC_SDS * unrelated_sd
    return ramp(-similarity, -hi, -unrelated_mean)


@cache
def mirroring_baseline(measure: str) -> tuple[float, float]:
    """(mean, sd) of the mirroring similarity of unrelated pairs for ``"minilm"`` or ``"lexical"``."""
    data = json.loads((LEXICON_DIR / "mirroring_baseline.json").read_text(encoding="utf-8"))
    return float(data[measure]["mean"]), float(data[measure]["std"])


@dataclass(frozen=True)
class Degeneracy:
    """Each penalty of one reply (0: none; ``off_topic`` is ``None`` without a client turn)."""

    repetition: float
    echo: float
    role_talk: float
    scaffold: float
    length: float
    directive: float
    off_topic: float | None

    @property
    def factor(self) -> float:
        """``g = prod(1 - p_i)``, the multiplier of EA, RE and PCT Adherence."""
        g = 1.0
        for name in self.__dataclass_fields__:
            p = getattr(self, name)
            g *= 1.0 - (p or 0.0)
        return g

    @property
    def reasons(self) -> str:
        """Names of the penalties that fired, ``;``-separated (empty when none)."""
        return ";".join(n for n in self.__dataclass_fields__ if (getattr(self, n) or 0.0) > 0)


def degeneracy(
    response: str,
    client: str | None,
    *,
    n_words: int,
    directive: int,
    similarity: float | None,
    baseline: tuple[float, float] | None,
    off_topic_weight: float = 1.0,
    normalized: str | None = None,
    normalized_client: str | None = None,
) -> Degeneracy:
    """Every penalty of ``response`` (``similarity``: its mirroring similarity to ``client``).

    ``off_topic_weight`` scales the off-topic penalty (:data:`OFF_TOPIC_LEXICAL_WEIGHT` for the
    lexical similarity); ``normalized`` / ``normalized_client``: the texts through
    :func:`~congruence.evaluation.lexicon.normalize`, when the caller has them.
    """
    norm = normalize(response) if normalized is None else normalized
    toks = _WORDS.findall(norm)
    echo = 0.0
    if client:
        ctoks = _WORDS.findall(normalize(client) if normalized_client is None else normalized_client)
        echo = echo_penalty(echo_share(toks, ctoks))
    off = None
    if similarity is not None and baseline is not None:
        off = off_topic_weight * off_topic_penalty(similarity, *baseline)
    return Degeneracy(
        repetition=repetition_penalty(toks),
        echo=echo,
        role_talk=min(1.0, float(role_mentions(response, normalized=norm))),
        scaffold=min(1.0, float(scaffold_marks(response))),
        length=length_penalty(n_words),
        directive=directive_penalty(directive),
        off_topic=off,
    )
