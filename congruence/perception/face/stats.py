"""The face analyzer's statistics: running sums of a face track within a turn (no per-frame
storage) and the session step's z-scores of AU proxies against a person's most neutral turns.

Split from :mod:`congruence.perception.face.analyzer`, which uses them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class _Running:
    """Welford running mean / variance of one scalar."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / self.n) if self.n >= 2 else None


@dataclass
class _TrackAcc:
    """Running sums of one track within a turn (no per-frame storage)."""

    n: int = 0
    n_mesh: int = 0
    area_sum: float = 0.0
    cx_sum: float = 0.0
    score_sum: float = 0.0
    stats: dict[str, _Running] = field(default_factory=dict)
    model_expr_sum: np.ndarray | None = None
    key_dist: float = math.inf
    key_time: float | None = None
    key_values: dict[str, Any] = field(default_factory=dict)
    key_crop: np.ndarray | None = None
    # last answers of the slower models, held between their runs (see model_interval)
    held: dict[str, Any] = field(default_factory=dict)
    held_time: float | None = None

    def add(self, name: str, value: float | None) -> None:
        if value is not None and math.isfinite(value):
            self.stats.setdefault(name, _Running()).add(float(value))

    def mean(self, name: str) -> float | None:
        r = self.stats.get(name)
        return r.mean if r is not None and r.n else None


def _person_groups(table: pd.DataFrame) -> list[np.ndarray]:
    """Row positions per person: by the first of person_id / session_id / session (column or index level)."""
    for key in ("person_id", "session_id", "session"):
        if key in table.columns:
            labels = table[key]
        elif key in (table.index.names or []):
            labels = pd.Series(table.index.get_level_values(key))
        else:
            continue
        codes, _ = pd.factorize(pd.Series(labels).astype(str))
        return [np.flatnonzero(codes == c) for c in np.unique(codes)]
    return [np.arange(len(table))]


def zscore_against_reference(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``z = (x - mean(x[ref])) / sd`` with ``sd = sd(x[ref])``, else ``sd(x)`` if that is degenerate.

    ``ref`` indexes the reference (most neutral) entries; NaNs are ignored; sd uses ddof = 1. An
    all-NaN result means there was no spread to scale by.

    >>> zscore_against_reference(np.array([0.0, 1.0, 2.0, 4.0]), np.array([0, 1, 2])).tolist()
    [-1.0, 0.0, 1.0, 3.0]
    """
    x = np.asarray(x, dtype=float)
    xr = x[np.asarray(ref, dtype=int)]
    xr = xr[np.isfinite(xr)]
    if xr.size == 0:
        return np.full_like(x, np.nan)
    sd = float(np.std(xr, ddof=1)) if xr.size >= 2 else float("nan")
    if not sd > 1e-9:
        finite = x[np.isfinite(x)]
        sd = float(np.std(finite, ddof=1)) if finite.size >= 2 else float("nan")
    if not sd > 1e-9:
        return np.full_like(x, np.nan)
    return (x - float(xr.mean())) / sd
