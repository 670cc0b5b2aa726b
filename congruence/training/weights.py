"""Per-sample loss weights of E-THER incongruence-aware training, as pure functions.

E-THER (``docs/references.md#e-ther``, section IV-A-3, eq. 4-6, Algorithm 1 and the notes under eq. 5):

=================== ================================================ =======================
scheme              weight                                           source
=================== ================================================ =======================
``uniform``         ``w = 1``                                         ablation (a), VII-A-1
``binary``          ``w = lambda_base + alpha * I``  (1 + I)          Algorithm 1, line 14
``continuous``      ``w = 1 + s ** gamma``, ``gamma in [0.8, 1.2]``   eq. 4
``engagement``      ``w = lambda_base + alpha * E``  (1 + E)          eq. 6, ablation (b)
=================== ================================================ =======================

The continuous score ``s`` of eq. 3 divides the VA mismatch by ``tau_e``; the paper takes ``tau_e``
as the *batch median* mismatch, a training-time statistic: :func:`batch_median_scores` is that
form, and :func:`batch_scores` applies it to a training batch (the trainer's default,
``weights.tau = "batch_median"``). The analysis table's ``*_score`` columns use a fixed scale
instead (:data:`congruence.incongruence.scores.TAU_FIXED`) so that they mean the same in every
session; ``weights.tau = "fixed"`` trains on those.

Optional batch-mean normalisation ``w_i <- w_i / mean_B(w)`` (note ii under eq. 5) keeps the
batch-mean weight at 1 without changing the relative emphasis. The objective is
``L = 1/|B| sum_i w_i l_i`` (eq. 5), with ``l_i`` the per-sample loss.

>>> continuous_weights([0.0, 1.0, 0.25], gamma=1.0).tolist()
[1.0, 2.0, 1.25]
>>> normalise_batch([1.0, 2.0, 1.0, 2.0]).tolist()
[0.6666666666666666, 1.3333333333333333, 0.6666666666666666, 1.3333333333333333]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from congruence.errors import CongruenceError

Scheme = Literal["uniform", "binary", "continuous", "engagement"]
SCHEMES: tuple[str, ...] = ("uniform", "binary", "continuous", "engagement")
#: Where the continuous scheme's ``s`` comes from: eq. 3 with the batch median ``tau_e`` (the paper),
#: or the analysis table's fixed-scale score.
TAU_MODES: tuple[str, ...] = ("batch_median", "fixed")
GAMMA_RANGE = (0.8, 1.2)


def _unit(x: ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0):
        raise CongruenceError(
            f"{what} must be finite values in [0, 1], got min {np.nanmin(a):.3g}, max {np.nanmax(a):.3g}.",
            f"Check the dataset's {what} column (missing values must be filled or the rows dropped).",
        )
    return a


def uniform_weights(n: int) -> np.ndarray:
    """``w_i = 1`` for every sample (E-THER ablation "No Incongruence Weighting").

    >>> uniform_weights(3).tolist()
    [1.0, 1.0, 1.0]
    """
    return np.ones(int(n), dtype=np.float64)


def binary_weights(indicator: ArrayLike, *, lambda_base: float = 1.0, alpha: float = 1.0) -> np.ndarray:
    """``w_i = lambda_base + alpha * I_i`` with ``I_i in {0, 1}`` (E-THER Algorithm 1, line 14).

    With the defaults (1, 1) an incongruent sample counts twice (w = 2 vs 1).

    >>> binary_weights([0, 1, 1]).tolist()
    [1.0, 2.0, 2.0]
    """
    i = _unit(indicator, "incongruence indicator I")
    if not np.all((i == 0) | (i == 1)):
        raise CongruenceError("The incongruence indicator I must be 0 or 1.", "Use the 'incongruent' column.")
    return float(lambda_base) + float(alpha) * i


def continuous_weights(score: ArrayLike, *, gamma: float = 1.0) -> np.ndarray:
    """``w_i = 1 + s_i ** gamma`` with ``s_i in [0, 1]``, ``gamma in [0.8, 1.2]`` (E-THER eq. 4).

    Monotone in ``s`` and bounded in [1, 2]; ``s = I`` recovers the binary scheme (note i).

    >>> continuous_weights([0.5], gamma=1.2).round(4).tolist()
    [1.4353]
    """
    g = float(gamma)
    if not GAMMA_RANGE[0] <= g <= GAMMA_RANGE[1]:
        raise CongruenceError(
            f"gamma = {g} is outside E-THER's range [0.8, 1.2].", "Set weights.gamma between 0.8 and 1.2."
        )
    return 1.0 + np.power(_unit(score, "incongruence score s"), g)


def engagement_weights(engagement: ArrayLike, *, lambda_base: float = 1.0, alpha: float = 1.0) -> np.ndarray:
    """``w_i = lambda_base + alpha * E_i = 1 + E_i`` with engagement ``E_i in [0, 1]`` (E-THER eq. 6).

    >>> engagement_weights([0.0, 0.5]).tolist()
    [1.0, 1.5]
    """
    return float(lambda_base) + float(alpha) * _unit(engagement, "engagement E")


def batch_median_scores(
    e_v: ArrayLike,
    e_t: ArrayLike,
    z_v: ArrayLike | None,
    z_t: ArrayLike | None,
    *,
    lam: float = 0.5,
) -> np.ndarray:
    """E-THER's training-time score: eq. 3 with ``tau_e`` = the batch median VA mismatch.

    ``s_i = clip(||e_v_i - e_t_i|| / median_B ||e_v - e_t|| + lam (1 - cos(z_v_i, z_t_i)), 0, 1)``
    (docs/references.md#e-ther, IV-A-3: "we use tau_e as the batch median VAD mismatch and lambda = 0.5").
    Each row's value depends on the whole batch, by design of the paper: use it for sample
    weights (:func:`continuous_weights`), never as a per-turn measurement. Thin wrapper over
    :func:`congruence.incongruence.scores.ether_score` with ``tau_e=None``.

    >>> e_t = [[0.1, 0], [0.2, 0], [0.4, 0]]
    >>> batch_median_scores([[0, 0]] * 3, e_t, None, None, lam=0).tolist()
    [0.5, 1.0, 1.0]
    """
    from congruence.incongruence.scores import ether_score

    return ether_score(e_v, e_t, z_v, z_t, tau_e=None, lam=lam)


def batch_scores(
    fallback: ArrayLike,
    e_v: Sequence[Sequence[float] | None],
    e_t: Sequence[Sequence[float] | None],
    z_v: Sequence[Sequence[float] | None] | None = None,
    z_t: Sequence[Sequence[float] | None] | None = None,
    *,
    lam: float = 0.5,
    recompute: Sequence[bool] | None = None,
) -> np.ndarray:
    """``s`` of one training batch as E-THER computes it (eq. 3, ``tau_e`` = this batch's median).

    ``tau_e`` is the median VA mismatch over the batch's rows with both VA pairs (``e_v``, ``e_t``;
    ``None`` where missing). Rows with those and, when ``lam > 0``, both category distributions
    get :func:`batch_median_scores`; every other row keeps its ``fallback`` (the analysis table's
    fixed-scale score). ``recompute`` (default: every row) marks the rows whose ``s`` is an
    estimate; the others keep ``fallback`` too (``s = I`` from a human label, note i) while their
    VA pairs still count towards the batch median.

    >>> batch_scores([0.0, 0.3, 1.0], [[0, 0], [0, 0], None], [[0.1, 0], [0.3, 0], None], lam=0).tolist()
    [0.5, 1.0, 1.0]
    """
    fb = np.asarray(fallback, dtype=np.float64).reshape(-1)
    n = fb.size
    if len(e_v) != n or len(e_t) != n:
        raise ValueError(f"{n} fallback scores but {len(e_v)} / {len(e_t)} VA rows")

    def matrix(rows: Sequence[Sequence[float] | None] | None, width: int) -> np.ndarray:
        out = np.full((n, width), np.nan)
        for i, r in enumerate(rows or [None] * n):
            if isinstance(r, list | tuple | np.ndarray) and len(r) == width:
                out[i] = np.asarray(r, dtype=np.float64)
        return out

    ev, et = matrix(e_v, 2), matrix(e_t, 2)
    if lam > 0:
        width = next((len(r) for r in (*(z_v or ()), *(z_t or ())) if r is not None), 0)
        if width == 0:  # no distributions at all: no row can have the full eq. 3
            return fb
        s = batch_median_scores(ev, et, matrix(z_v, width), matrix(z_t, width), lam=lam)
    else:
        s = batch_median_scores(ev, et, None, None, lam=0.0)
    mask = np.ones(n, dtype=bool) if recompute is None else np.asarray(recompute, dtype=bool).reshape(-1)
    return np.where(mask & np.isfinite(s), s, fb)


def normalise_batch(weights: ArrayLike) -> np.ndarray:
    """``w_i <- w_i / (1/|B| sum_j w_j)``: batch-mean weight 1, same ratios (E-THER note ii, eq. 5).

    >>> normalise_batch([2.0, 2.0]).tolist()
    [1.0, 1.0]
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size == 0:
        return w
    m = w.mean()
    if not np.isfinite(m) or m <= 0:
        raise CongruenceError(
            "Sample weights must be positive to normalise them.", "Check the weight scheme."
        )
    return w / m


def sample_weights(
    scheme: str,
    *,
    indicator: Sequence[float] | np.ndarray | None = None,
    score: Sequence[float] | np.ndarray | None = None,
    engagement: Sequence[float] | np.ndarray | None = None,
    n: int | None = None,
    gamma: float = 1.0,
    lambda_base: float = 1.0,
    alpha: float = 1.0,
    normalise: bool = False,
) -> np.ndarray:
    """Weights of one batch under ``scheme`` (see the module table), optionally batch-normalised.

    >>> sample_weights("binary", indicator=[0, 1], normalise=True).tolist()
    [0.6666666666666666, 1.3333333333333333]
    """
    if scheme == "uniform":
        size = n if n is not None else len(next(x for x in (indicator, score, engagement) if x is not None))
        w = uniform_weights(size)
    elif scheme == "binary":
        w = binary_weights(_need(indicator, "indicator", scheme), lambda_base=lambda_base, alpha=alpha)
    elif scheme == "continuous":
        w = continuous_weights(_need(score, "score", scheme), gamma=gamma)
    elif scheme == "engagement":
        w = engagement_weights(_need(engagement, "engagement", scheme), lambda_base=lambda_base, alpha=alpha)
    else:
        raise CongruenceError(f"Unknown weight scheme {scheme!r}.", f"Choose one of: {', '.join(SCHEMES)}.")
    return normalise_batch(w) if normalise else w


def _need(x: Sequence[float] | np.ndarray | None, what: str, scheme: str) -> Sequence[float] | np.ndarray:
    if x is None:
        raise CongruenceError(f"The {scheme!r} weight scheme needs the {what} values.", f"Pass {what}=...")
    return x


__all__ = [
    "GAMMA_RANGE",
    "SCHEMES",
    "TAU_MODES",
    "batch_median_scores",
    "batch_scores",
    "binary_weights",
    "continuous_weights",
    "engagement_weights",
    "normalise_batch",
    "sample_weights",
    "uniform_weights",
]
