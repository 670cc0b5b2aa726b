"""Incongruence columns for one modality pair of a turn table (text-face, face-voice, text-voice).

A thin table wrapper over the pure functions in :mod:`congruence.incongruence.scores`: it reads the
valence / arousal (and, for the E-THER score, the 7-class FER distribution) of two modalities and
returns the score, the dissonance indicator and the type per row. ``None`` cells become ``NaN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from congruence.incongruence.scores import (
    DISSONANCE_THRESHOLD,
    LAMBDA,
    dissonance,
    ether_score,
    incongruence_types,
    median_mismatch,
)
from congruence.perception.text.mapping import FER_CLASSES


@dataclass(frozen=True)
class ModalityColumns:
    """Where a modality's affect lives in the turn table.

    ``categories`` are the 7 FER-2013 class columns in :data:`FER_CLASSES` order (the shared
    space of the E-THER cosine term), or ``None`` when the modality has no such distribution.
    """

    valence: str
    arousal: str
    categories: tuple[str, ...] | None = None

    @classmethod
    def with_prefix(cls, prefix: str, *, categories: str | None = None) -> ModalityColumns:
        """``<prefix>_valence``, ``<prefix>_arousal`` and, if given, ``<categories><class>`` columns.

        >>> ModalityColumns.with_prefix("text", categories="text_cat_").categories[0]
        'text_cat_angry'
        """
        cats = tuple(f"{categories}{c}" for c in FER_CLASSES) if categories else None
        return cls(f"{prefix}_valence", f"{prefix}_arousal", cats)


# Column names of the three analyzers; the face's ``face_expr_*`` follow the same FER class order.
TEXT = ModalityColumns.with_prefix("text", categories="text_cat_")
FACE = ModalityColumns.with_prefix("face", categories="face_expr_")
VOICE = ModalityColumns.with_prefix("voice")  # no FER distribution: use lam=0 for face-voice / text-voice


def _num(table: pd.DataFrame, cols: list[str] | tuple[str, ...]) -> np.ndarray:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        # an absent modality is missing data, not an error: every row gets NaN
        return np.full((len(table), len(cols)), np.nan)
    return table[list(cols)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


def pair_scores(
    table: pd.DataFrame,
    *,
    vision: ModalityColumns,
    verbal: ModalityColumns,
    name: str,
    tau_e: float | None = None,
    lam: float = LAMBDA,
    threshold: float = DISSONANCE_THRESHOLD,
    **type_kwargs: float | bool,
) -> pd.DataFrame:
    """Columns ``<name>_score`` (E-THER), ``<name>_dissonance`` and ``<name>_type`` for each row.

    ``vision`` plays the face's role and ``verbal`` the words' role in the typed label (for a
    face-voice pair pass ``either_direction=True``). ``tau_e`` defaults to the median mismatch of
    this table (E-THER: batch median). Without categories on both sides the score is ``NaN`` when
    ``lam > 0``; pass ``lam=0`` for the VA-only score. Index follows ``table``.
    """
    e_v = _num(table, [vision.valence, vision.arousal])
    e_t = _num(table, [verbal.valence, verbal.arousal])
    if vision.categories and verbal.categories:
        z_v, z_t = _num(table, vision.categories), _num(table, verbal.categories)
    elif lam > 0:  # no shared space: the cosine term, and so the score, is unavailable
        z_v = z_t = np.full((len(table), 1), np.nan)
    else:
        z_v = z_t = None
    tau = median_mismatch(e_v, e_t) if tau_e is None else tau_e
    out = pd.DataFrame(index=table.index)
    out[f"{name}_score"] = ether_score(e_v, e_t, z_v, z_t, tau_e=tau, lam=lam) if len(table) else []
    out[f"{name}_dissonance"] = (
        dissonance(e_v[:, 0], e_v[:, 1], e_t[:, 0], e_t[:, 1], threshold=threshold) if len(table) else []
    )
    types = (
        incongruence_types(e_v[:, 0], e_v[:, 1], e_t[:, 0], e_t[:, 1], **type_kwargs) if len(table) else []
    )
    out[f"{name}_type"] = pd.Series(
        [None if t is None else str(t) for t in types], index=table.index, dtype=object
    )
    out.attrs[f"{name}_tau_e"] = tau
    return out


#: The modality pairs scored per turn: (name, vision-like side, verbal-like side, options).
#: text-face is E-THER's primary pair (with the 7-class cosine term); face-voice is the
#: interventions paper's dissonance pair; no shared category space exists with voice, so those
#: pairs use the valence-arousal term only (lam = 0) and a direction-free type.
PAIRS: tuple[tuple[str, ModalityColumns, ModalityColumns, dict[str, float | bool]], ...] = (
    ("text_face", FACE, TEXT, {}),
    ("face_voice", FACE, VOICE, {"lam": 0.0, "either_direction": True}),
    ("text_voice", VOICE, TEXT, {"lam": 0.0, "either_direction": True}),
)


def score_table(
    table: pd.DataFrame,
    *,
    threshold: float = DISSONANCE_THRESHOLD,
    lam: float = LAMBDA,
    tau_e: float | None = None,
) -> pd.DataFrame:
    """Add the score, dissonance and type columns of every pair in :data:`PAIRS` to ``table``.

    ``tau_e`` of each pair is the median mismatch over this table (the session), as in E-THER,
    unless a fixed ``tau_e`` is given. ``lam`` applies to the pairs with a shared category space
    (the voice pairs have none and use 0). The returned table's ``attrs["tau_e"]`` records the
    value used per pair.
    """
    out = table.copy()
    taus: dict[str, float] = {}
    arousal_only: list[str] = []
    for name, vision, verbal, opts in PAIRS:
        opts = dict(opts)
        pair_lam = float(opts.pop("lam", lam))
        source = table
        if pair_lam == 0 and any(_all_missing(table, m.valence) for m in (vision, verbal)):
            # the default voice analyzer gives no valence (acoustics predict it poorly): compare
            # arousal alone by setting both valences to 0, so |dV| = 0 and the type can only be
            # none or minimizing; recorded in attrs so reports can say so
            source = table.assign(**{vision.valence: 0.0, verbal.valence: 0.0})
            arousal_only.append(name)
        cols = pair_scores(
            source,
            vision=vision,
            verbal=verbal,
            name=name,
            lam=pair_lam,
            threshold=threshold,
            tau_e=tau_e,
            **opts,
        )
        taus[name] = float(cols.attrs[f"{name}_tau_e"])
        for c in cols.columns:
            out[c] = cols[c]
    out.attrs["tau_e"] = taus
    out.attrs["arousal_only"] = arousal_only
    return out


def _all_missing(table: pd.DataFrame, column: str) -> bool:
    return column not in table.columns or pd.to_numeric(table[column], errors="coerce").isna().all()
