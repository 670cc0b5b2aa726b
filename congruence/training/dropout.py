"""Context dropout and VAD masking for E-THER training (``docs/references.md#e-ther``, section IV-A-1/2).

*Context dropout*: in a share ``p`` of training samples (E-THER: 30%) the explicit emotional cues
are removed from the model input, so the model must read the affect from the face and the wording
rather than from named feelings. What counts as an explicit cue here (our operationalisation; the
paper does not list its cue set): emotion words (:data:`EMOTION_WORDS`, e.g. "sad", "anxious",
"happy") and feeling-report phrases (:data:`CUE_PHRASES`, e.g. "I feel", "makes me feel"), plus
any cue line the prompt builder adds (the estimated facial expression in words).

*VAD masking*: valence / arousal / dominance labels are training metadata, never input text;
:func:`assert_no_vad_in_input` checks a rendered input for their numbers.

>>> remove_emotional_cues("Honestly, I feel so sad and tired today.")
'Honestly, so and tired today.'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from congruence.errors import CongruenceError

#: Explicit emotion words (base forms and common inflections). Project-authored list of common
#: affect vocabulary; "tired" and other bodily states are deliberately not cues.
_EMOTION_WORDS_TEXT = """
sad sadness sadder saddest unhappy upset depressed depressing depression miserable down hopeless
lonely heartbroken grief grieving crying cry cried tears happy happier happiest happiness glad
joy joyful delighted thrilled excited exciting wonderful great amazing proud pride relieved
grateful thankful content cheerful lovely love loved angry anger mad furious annoyed annoying
irritated frustrated frustrating frustration resentful hate hated rage afraid scared frightened
fear fearful terrified anxious anxiety nervous worried worry worrying panic panicked stressed
stress overwhelmed overwhelming ashamed shame embarrassed guilty guilt disgusted disgust jealous
hurt hurting lost surprised surprise shocked confused numb empty fine okay ok
"""
EMOTION_WORDS: frozenset[str] = frozenset(_EMOTION_WORDS_TEXT.split())

#: Feeling-report phrases removed before the word list applies (regular expressions, case-insensitive).
CUE_PHRASES: tuple[str, ...] = (
    r"\bI(?:'m| am) feeling\b",
    r"\bI feel(?:s)?\b",
    r"\bI felt\b",
    r"\b(?:it |that |this )?makes? me feel\b",
    r"\b(?:it |that |this )?made me feel\b",
    r"\bemotionally\b",
)

_SPACES = r"\s+"  # phrases match across any run of whitespace
_PHRASE_RE = re.compile("|".join("(?:" + p.replace(" ", _SPACES) + ")" for p in CUE_PHRASES), re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Za-z']+")
_SPACE_RE = re.compile(r"\s+")
_SPACE_PUNCT_RE = re.compile(r"\s+([,.;:!?])")
_DUP_PUNCT_RE = re.compile(r"([,;:])\s*(?=[,.;:!?])")


def remove_emotional_cues(text: str, *, words: Iterable[str] | None = None) -> str:
    """``text`` with explicit emotion words and feeling-report phrases removed.

    Tokens are matched case-insensitively on whole words; whitespace and stray punctuation are
    tidied afterwards. ``words`` replaces :data:`EMOTION_WORDS`.

    >>> remove_emotional_cues("It made me feel angry, honestly.")
    'honestly.'
    """
    vocab = frozenset(w.lower() for w in words) if words is not None else EMOTION_WORDS
    out, prev = str(text), None
    while out != prev:  # removing a word can join a new phrase ("I afraid feel" -> "I feel")
        prev = out
        out = _PHRASE_RE.sub(" ", out)
        out = _WORD_RE.sub(lambda m: " " if m.group(0).lower() in vocab else m.group(0), out)
    out = _SPACE_RE.sub(" ", out)
    out = _SPACE_PUNCT_RE.sub(r"\1", out)
    out = _DUP_PUNCT_RE.sub("", out)
    return out.strip(" ,;:")


def count_cues(text: str, *, words: Iterable[str] | None = None) -> int:
    """Number of explicit cues (emotion words + feeling phrases) in ``text``.

    >>> count_cues("I feel sad but fine")
    3
    """
    vocab = frozenset(w.lower() for w in words) if words is not None else EMOTION_WORDS
    n = len(_PHRASE_RE.findall(str(text)))
    stripped = _PHRASE_RE.sub(" ", str(text))
    return n + sum(1 for m in _WORD_RE.finditer(stripped) if m.group(0).lower() in vocab)


def dropout_mask(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` samples get context dropout: independent Bernoulli(``p``) draws (Algorithm 1, l. 8)."""
    if not 0.0 <= float(p) <= 1.0:
        raise CongruenceError(f"Context dropout p = {p} is not a probability.", "Set dropout.p in [0, 1].")
    return rng.random(int(n)) < float(p)


VAD_FIELDS: tuple[str, ...] = ("valence", "arousal", "dominance")


def assert_no_vad_in_input(text: str, instance: dict) -> None:
    """Raise if a VAD label word with its value (e.g. ``valence -0.40``) leaks into the input text.

    E-THER masks VAD annotations from the model input (IV-A-1); this guards the prompt builder.
    """
    low = str(text).lower()
    for f in VAD_FIELDS:
        if re.search(rf"\b{f}\b\s*[:=]?\s*[-+]?\d", low):
            raise CongruenceError(
                f"The training input of {instance.get('session_id')}/{instance.get('turn_index')} "
                f"contains a {f} value.",
                "VAD labels are masked from the input (E-THER IV-A-1): keep them out of the prompt.",
            )


__all__ = [
    "CUE_PHRASES",
    "EMOTION_WORDS",
    "VAD_FIELDS",
    "assert_no_vad_in_input",
    "count_cues",
    "dropout_mask",
    "remove_emotional_cues",
]
