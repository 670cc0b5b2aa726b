"""Incongruence between two modalities of a turn, as pure numpy functions.

- :func:`ether_score`: E-THER's continuous score (docs/references.md#e-ther, section IV-A-3, eq. 3), on
  the fixed scale :data:`TAU_FIXED` for the analysis table (a turn's score never depends on the
  other turns) or with E-THER's batch median ``tau_e`` (:func:`median_mismatch`) for training
  sample weights only (:func:`congruence.training.weights.batch_median_scores`).
- :func:`dissonance`: the emotional-dissonance indicator (docs/references.md#interventions,
  section 3.1, eq. 1).
- :func:`incongruence_type`: E-THER's typed label none / minimizing / contradiction (section III-C-1)
  turned into documented threshold rules.

Valence and arousal are in [-1, 1] for every modality. A missing value (``NaN``) yields a ``NaN``
score (``None`` type), never a zero that would read as "congruent".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from congruence.schema import IncongruenceType

#: The fixed valence-arousal mismatch scale of the analysis table's scores: the diameter of the
#: valence-arousal square every analyzer writes to, ``||(1, 1) - (-1, -1)||_2 = 2 * sqrt(2)``.
#: Derivation: E-THER's ``tau_e`` is the median mismatch of a training batch, a statistic of the
#: other rows, so with it half the turns of any session score >= 1 and a turn's score moves when
#: other turns are added or removed. Dividing by the largest possible mismatch instead makes the
#: VA term ``||e_v - e_t|| / tau`` the fraction of the largest possible disagreement, in [0, 1]
#: for every input, the same in every session and for every modality pair (all are in [-1, 1]).
#: It is a property of the scale, not fitted to any data set.
TAU_FIXED = 2.0 * 2.0**0.5
TAU_FLOOR = 0.05  # below the resolution of any VA estimate here; keeps ||e_v - e_t|| / tau_e finite
LAMBDA = 0.5  # E-THER's lambda
DISSONANCE_THRESHOLD = 0.5  # the interventions paper's T (its appendix C)


def referenced(
    valence: ArrayLike, arousal: ArrayLike, neutral: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Valence and arousal on the common scale: measured from the modality's own neutral point::

        v' = clip(v - v0, -1, 1),   a' = clip(a - a0, -1, 1),   (v0, a0) = ``neutral``

    Each estimator writes [-1, 1], but not with the same zero: affect-free sentences get text
    arousal about -0.2 (Warriner's neutral words are rated calm), a neutral face gets 0 from the
    circumplex proxy. Comparing raw values reads that offset as incongruence. ``(v0, a0)`` is what
    the modality's estimator gives to affect-free input, derived from reference data that ships with
    the packages, never from the cases scored (docs/incongruence.md#neutral-points;
    ``scripts/derive_neutral_points.py``). A shift only: the rule's margins keep their meaning.
    ``NaN`` stays ``NaN``.

    >>> [x.round(2).tolist() for x in referenced([0.5, float("nan")], [-0.1, 0.9], (0.0, -0.21))]
    [[0.5, nan], [0.11, 1.0]]
    """
    v0, a0 = (float(x) for x in neutral)
    v = np.clip(np.asarray(valence, dtype=float) - v0, -1.0, 1.0)
    a = np.clip(np.asarray(arousal, dtype=float) - a0, -1.0, 1.0)
    return v, a


def _rows(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d) or (d,), got {a.shape}")
    return a


def mismatch(e_v: ArrayLike, e_t: ArrayLike) -> np.ndarray:
    """Per-row Euclidean distance ``||e_v - e_t||_2``; ``NaN`` where either row has a ``NaN``.

    >>> mismatch([[0.0, 0.0], [1.0, 1.0]], [[0.3, 0.4], [float("nan"), 0.0]]).round(3).tolist()
    [0.5, nan]
    """
    a, b = _rows(e_v, "e_v"), _rows(e_t, "e_t")
    if a.shape != b.shape:
        raise ValueError(f"e_v and e_t must have the same shape, got {a.shape} and {b.shape}")
    return np.sqrt(((a - b) ** 2).sum(axis=1))  # NaN propagates through the sum


def median_mismatch(e_v: ArrayLike, e_t: ArrayLike, *, floor: float = TAU_FLOOR) -> float:
    """E-THER's ``tau_e``: the median of ``||e_v - e_t||_2`` over the rows where both are present.

    Returns ``max(median, floor)`` so that a batch of near-identical rows does not divide by ~0,
    or ``NaN`` when no row has both modalities.

    >>> median_mismatch([[0, 0], [0, 0], [0, 0]], [[0.3, 0.4], [0.6, 0.8], [float("nan"), 0]])
    0.75
    >>> median_mismatch([[0, 0]], [[0, 0]])
    0.05
    """
    if floor <= 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    d = mismatch(e_v, e_t)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan")
    return float(max(np.median(d), floor))


def row_cosine(z_v: ArrayLike, z_t: ArrayLike) -> np.ndarray:
    """Per-row cosine ``<z_v / ||z_v||, z_t / ||z_t||>``; ``NaN`` for a missing or all-zero row.

    >>> row_cosine([[1.0, 0.0], [1.0, 1.0]], [[2.0, 0.0], [-1.0, 1.0]]).tolist()
    [1.0, 0.0]
    """
    a, b = _rows(z_v, "z_v"), _rows(z_t, "z_t")
    if a.shape != b.shape:
        raise ValueError(f"z_v and z_t must have the same shape, got {a.shape} and {b.shape}")
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (a * b).sum(axis=1) / (na * nb)
    cos[(na == 0) | (nb == 0)] = np.nan
    return np.clip(cos, -1.0, 1.0)  # clip keeps NaN


def ether_score(
    e_v: ArrayLike,
    e_t: ArrayLike,
    z_v: ArrayLike | None,
    z_t: ArrayLike | None,
    *,
    tau_e: float | None,
    lam: float = LAMBDA,
) -> np.ndarray:
    """E-THER continuous incongruence score per turn (docs/references.md#e-ther, eq. 3)::

        s_i = clip(||e_v_i - e_t_i||_2 / tau_e + lam * (1 - <z_v_i, z_t_i>), 0, 1)

    - ``e_v``, ``e_t``: shape (n, d) affect of the vision and text modality; here d = 2,
      (valence, arousal) in [-1, 1] (the paper uses VAD; no face dominance estimate exists here).
    - ``z_v``, ``z_t``: shape (n, k) embeddings in a shared space, L2-normalised here before the
      cosine. The shared space used by congruence is the 7-class FER-2013 distribution
      (angry, disgust, fear, happy, sad, surprise, neutral): the face expression classifier's
      output versus the text analyzer's ``text_cat_*``. Both are non-negative, so the cosine term
      lies in [0, lam]. With ``lam=0`` the term is dropped and ``z_v``, ``z_t`` may be ``None``.
    - ``tau_e``: the mismatch scale. The analysis table uses the fixed :data:`TAU_FIXED`
      (session-invariant); ``None`` computes E-THER's batch median from these rows
      (:func:`median_mismatch`), the form the paper uses for training sample weights, which makes
      each row's score depend on the other rows. ``lam`` = 0.5 as in the paper.

    Any ``NaN`` in a row (a missing modality) gives ``NaN`` for that row. Returns shape (n,).

    >>> ether_score([[0.5, 0.2]], [[0.5, 0.2]], [[0, 0, 0, 1, 0, 0, 0]], [[0, 0, 0, 1, 0, 0, 0]], tau_e=0.4)
    array([0.])
    >>> ether_score([[0.5, 0.0]], [[0.3, 0.0]], [[1, 0]], [[0, 1]], tau_e=0.4)
    array([1.])
    """
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    if tau_e is None:
        tau_e = median_mismatch(e_v, e_t)
    elif not tau_e > 0 and not np.isnan(tau_e):
        raise ValueError(f"tau_e must be > 0, got {tau_e}")
    d = mismatch(e_v, e_t)
    if z_v is None or z_t is None:
        if lam != 0:
            raise ValueError("z_v and z_t are required unless lam == 0")
        return np.clip(d / tau_e, 0.0, 1.0)
    cos = row_cosine(z_v, z_t)
    if d.shape != cos.shape:
        raise ValueError(f"e and z must have the same number of rows, got {d.shape[0]} and {cos.shape[0]}")
    # lam = 0 drops the term, so a missing embedding does not hide an available VA mismatch
    term = lam * (1.0 - cos) if lam != 0 else 0.0
    return np.clip(d / tau_e + term, 0.0, 1.0)


def dissonance(
    v_a: ArrayLike,
    a_a: ArrayLike,
    v_b: ArrayLike,
    a_b: ArrayLike,
    *,
    threshold: float = DISSONANCE_THRESHOLD,
) -> float | np.ndarray:
    """Emotional dissonance indicator (docs/references.md#interventions, eq. 1)::

        D = 1{max(|V_a - V_b|, |A_a - A_b|) > T},  T = 0.5

    The paper compares speech (a) with face (b); any two modalities with valence and arousal in
    [-1, 1] work. Returns 0.0 / 1.0, or ``NaN`` where an input is missing; a float for scalar
    inputs, an array for array inputs (broadcast).

    >>> dissonance(0.1, 0.2, 0.1, 0.2), dissonance(0.6, 0.0, 0.0, 0.0), dissonance(0.0, 0.0, None, 0.0)
    (0.0, 1.0, nan)
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    va, aa, vb, ab = (np.asarray(x, dtype=float) for x in (v_a, a_a, v_b, a_b))
    gap = np.maximum(np.abs(va - vb), np.abs(aa - ab))  # np.maximum propagates NaN
    out = np.where(np.isnan(gap), np.nan, (gap > threshold).astype(float))
    return float(out) if out.ndim == 0 else out


def incongruence_type(
    v_face: float | None,
    a_face: float | None,
    v_text: float | None,
    a_text: float | None,
    *,
    valence_margin: float = 0.2,
    intensity_margin: float = 0.4,
    slip_valence: float = 0.3,
    neutral_band: float = 0.15,
    either_direction: bool = False,
) -> IncongruenceType | None:
    """E-THER incongruence type of a turn from face and text valence / arousal in [-1, 1].

    E-THER (section III-C-1) defines the types in words; these rules make them operational:

    - **contradiction**: opposite valence, both clear - ``v_face * v_text < 0`` and
      ``min(|v_face|, |v_text|) > valence_margin`` ("happy expression while discussing sad events").
    - **minimizing**: the face shows more intensity than the words acknowledge -
      ``|v_face| - |v_text| > intensity_margin`` or ``a_face - a_text > intensity_margin`` - or an
      emotional slip under controlled words - ``v_face < -slip_valence`` while
      ``|v_text| <= neutral_band``.
    - **none** otherwise. Contradiction is checked first.

    E-THER's figure 1 also labels the mirror case (distress in the words, a neutral face) as
    minimizing; ``either_direction=True`` counts the intensity gap and the slip in both
    directions, which makes the label symmetric in the two modalities. The inputs must be on the
    common scale of :func:`referenced` (each modality measured from its own neutral point):
    "more intensity" compares distances from neutral, and raw arousal of text and face sits on
    different baselines. Returns ``None`` when any input is missing.

    >>> incongruence_type(0.6, 0.3, -0.5, 0.0)
    <IncongruenceType.CONTRADICTION: 'contradiction'>
    >>> incongruence_type(-0.7, 0.5, -0.1, 0.0)
    <IncongruenceType.MINIMIZING: 'minimizing'>
    >>> incongruence_type(0.4, 0.1, 0.5, 0.0)
    <IncongruenceType.NONE: 'none'>
    """
    vals = (v_face, a_face, v_text, a_text)
    if any(x is None or np.isnan(x) for x in vals):
        return None
    vf, af, vt, at = (float(x) for x in vals)  # type: ignore[arg-type]
    if vf * vt < 0 and min(abs(vf), abs(vt)) > valence_margin:
        return IncongruenceType.CONTRADICTION

    def stronger(v1: float, a1: float, v2: float, a2: float) -> bool:
        gap = abs(v1) - abs(v2) > intensity_margin or a1 - a2 > intensity_margin
        slip = v1 < -slip_valence and abs(v2) <= neutral_band
        return gap or slip

    if stronger(vf, af, vt, at) or (either_direction and stronger(vt, at, vf, af)):
        return IncongruenceType.MINIMIZING
    return IncongruenceType.NONE


def incongruence_types(
    v_face: ArrayLike,
    a_face: ArrayLike,
    v_text: ArrayLike,
    a_text: ArrayLike,
    **kwargs: float | bool,
) -> list[IncongruenceType | None]:
    """:func:`incongruence_type` over aligned sequences (keyword arguments passed through)."""
    cols: Sequence[np.ndarray] = [
        np.atleast_1d(np.asarray(x, dtype=float)) for x in (v_face, a_face, v_text, a_text)
    ]
    n = {len(c) for c in cols}
    if len(n) != 1:
        raise ValueError(f"inputs must have the same length, got {[len(c) for c in cols]}")
    return [incongruence_type(*row, **kwargs) for row in zip(*cols, strict=True)]  # type: ignore[arg-type]
