"""Incongruence columns for one modality pair of a turn table (text-face, face-voice, text-voice).

A thin table wrapper over the pure functions in :mod:`congruence.incongruence.scores`: it reads the
valence / arousal (and, for the E-THER score, the 7-class FER distribution) of two modalities and
returns the score, the dissonance indicator and the type per row. ``None`` cells become ``NaN``.

Every column is a function of its own row only: the score uses the fixed mismatch scale
:data:`~congruence.incongruence.scores.TAU_FIXED` (not E-THER's batch median, which the paper uses
for training weights), so a turn scores the same whatever other turns the table holds. Before any
comparison each modality's valence / arousal is measured from its own neutral point
(:func:`~congruence.incongruence.scores.referenced`, :data:`TEXT_NEUTRAL`, :data:`FACE_NEUTRAL`,
:data:`VOICE_NEUTRAL`): fixed constants, so this keeps every row independent of the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from congruence.incongruence.scores import (
    DISSONANCE_THRESHOLD,
    LAMBDA,
    TAU_FIXED,
    dissonance,
    ether_score,
    incongruence_type,
    incongruence_types,
    referenced,
)
from congruence.table import FER_CLASSES

#: Neutral point (valence, arousal) of the default text analyzer: what it gives to affect-free
#: language. Arousal: the median ``text_arousal`` of the 5,498 CrowdFlower tweets (tune half) that a
#: crowd panel labelled *neutral* is -0.212; the Warriner (2013) lemmas rated neutral in valence
#: (4.5-5.5 of 9) have a mean arousal norm of -0.267 and read -0.255 through the analyzer - both
#: references agree that neutral words sit near -0.2 on this scale (Warriner's calm middle), so the
#: sentence median is used, rounded. Valence: the two references disagree (+0.16 on the tweets,
#: -0.03 on the words) and the ensemble's valence is already centred by construction (VADER is 0 on
#: affect-free text, the regressor is offset on such tweets), so 0. Reproduce:
#: ``scripts/derive_neutral_points.py``; docs/incongruence.md#neutral-points.
TEXT_NEUTRAL: tuple[float, float] = (0.0, -0.21)
#: The face proxy places the FER "neutral" class at the circumplex origin (face/va.py CIRCUMPLEX), so
#: a neutral expression distribution gives (0, 0); plug-in regressors trained on AffectNet-style
#: labels also code neutral as 0. No neutral-face photo ships here to measure the classifiers' own
#: lean on neutral faces.
FACE_NEUTRAL: tuple[float, float] = (0.0, 0.0)
#: The voice arousal proxy is speaker-normalised (voice/arousal.py): 0 is the speaker's own mean
#: turn; SER plug-ins code neutral as 0.
VOICE_NEUTRAL: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ModalityColumns:
    """Where a modality's affect lives in the turn table.

    ``categories`` are the 7 FER-2013 class columns in :data:`FER_CLASSES` order (the shared
    space of the E-THER cosine term), or ``None`` when the modality has no such distribution.
    ``neutral`` is the (valence, arousal) the modality's estimator gives to affect-free input; pair
    columns compare values measured from it (:func:`~congruence.incongruence.scores.referenced`).
    """

    valence: str
    arousal: str
    categories: tuple[str, ...] | None = None
    neutral: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def with_prefix(
        cls, prefix: str, *, categories: str | None = None, neutral: tuple[float, float] = (0.0, 0.0)
    ) -> ModalityColumns:
        """``<prefix>_valence``, ``<prefix>_arousal`` and, if given, ``<categories><class>`` columns.

        >>> ModalityColumns.with_prefix("text", categories="text_cat_").categories[0]
        'text_cat_angry'
        """
        cats = tuple(f"{categories}{c}" for c in FER_CLASSES) if categories else None
        return cls(f"{prefix}_valence", f"{prefix}_arousal", cats, neutral)


# Column names of the three analyzers; the face's ``face_expr_*`` follow the same FER class order.
TEXT = ModalityColumns.with_prefix("text", categories="text_cat_", neutral=TEXT_NEUTRAL)
FACE = ModalityColumns.with_prefix("face", categories="face_expr_", neutral=FACE_NEUTRAL)
# voice has no FER distribution: use lam=0 for face-voice / text-voice
VOICE = ModalityColumns.with_prefix("voice", neutral=VOICE_NEUTRAL)


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
    tau_e: float = TAU_FIXED,
    lam: float = LAMBDA,
    threshold: float = DISSONANCE_THRESHOLD,
    **type_kwargs: float | bool,
) -> pd.DataFrame:
    """Columns ``<name>_score`` (E-THER), ``<name>_dissonance`` and ``<name>_type`` for each row.

    ``vision`` plays the face's role and ``verbal`` the words' role in the typed label (for a
    face-voice pair pass ``either_direction=True``). Valence and arousal are measured from each
    side's ``neutral`` point before the score, the indicator and the type. ``tau_e`` is the
    fixed mismatch scale (default :data:`~congruence.incongruence.scores.TAU_FIXED`). Without
    categories on both sides the score is ``NaN`` when ``lam > 0``; pass ``lam=0`` for the VA-only score.
    Index follows ``table``.
    """
    raw_v = _num(table, [vision.valence, vision.arousal])
    raw_t = _num(table, [verbal.valence, verbal.arousal])
    e_v = np.column_stack(referenced(raw_v[:, 0], raw_v[:, 1], vision.neutral))
    e_t = np.column_stack(referenced(raw_t[:, 0], raw_t[:, 1], verbal.neutral))
    z_v: np.ndarray | None
    z_t: np.ndarray | None
    if vision.categories and verbal.categories:
        z_v, z_t = _num(table, vision.categories), _num(table, verbal.categories)
    elif lam > 0:  # no shared space: the cosine term, and so the score, is unavailable
        z_v = z_t = np.full((len(table), 1), np.nan)
    else:
        z_v = z_t = None
    if tau_e is None or not tau_e > 0:  # a batch statistic (None) has no place in the table
        raise ValueError(f"tau_e must be a fixed number > 0, got {tau_e!r}")
    tau = float(tau_e)
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

    ``tau_e`` is the fixed mismatch scale of every pair (``None``: :data:`TAU_FIXED`), so each
    row's columns depend on that row only. ``lam`` applies to the pairs with a shared category space
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
        if pair_lam == 0:
            # the default voice analyzer gives no valence (acoustics predict it poorly): a row
            # without a valence on one side compares arousal alone (both valences set to 0, so
            # |dV| = 0 and the type can only be none or minimizing). Decided per row, so a turn's
            # values never depend on the other turns; recorded in attrs so reports can say so
            no_v = _missing(table, vision.valence) | _missing(table, verbal.valence)
            if no_v.any():
                source = table.assign(
                    **{
                        c: np.where(no_v, 0.0, pd.to_numeric(table[c], errors="coerce"))
                        if c in table.columns
                        else 0.0
                        for c in (vision.valence, verbal.valence)
                    }
                )
                arousal_only.append(name)
        cols = pair_scores(
            source,
            vision=vision,
            verbal=verbal,
            name=name,
            lam=pair_lam,
            threshold=threshold,
            tau_e=TAU_FIXED if tau_e is None else tau_e,
            **opts,
        )
        taus[name] = float(cols.attrs[f"{name}_tau_e"])
        for c in cols.columns:
            out[c] = cols[c]
    out.attrs["tau_e"] = taus
    out.attrs["arousal_only"] = arousal_only
    return out


def text_neutral_point(texts: list[str], analyzer: str = "default") -> tuple[float, float, int]:
    """Median (valence, arousal) the text analyzer gives to ``texts``, and how many had both.

    Applied to affect-free sentences this is the text modality's neutral point (:data:`TEXT_NEUTRAL`
    comes from the CrowdFlower tweets labelled neutral; ``scripts/derive_neutral_points.py``).
    """
    from congruence.registry import create

    rows = [f.values for f in create("text.analyzer", analyzer).analyze_many(texts)]
    v = np.array([r.get("text_valence") for r in rows], dtype=float)
    a = np.array([r.get("text_arousal") for r in rows], dtype=float)
    ok = ~(np.isnan(v) | np.isnan(a))
    if not ok.any():
        raise ValueError("no text got both a valence and an arousal")
    return float(np.median(v[ok])), float(np.median(a[ok])), int(ok.sum())


def text_face_type(
    v_face: float | None, a_face: float | None, v_text: float | None, a_text: float | None
) -> str | None:
    """The table's ``text_face_type`` for one turn's raw face and text values (no table needed).

    Measures each side from its neutral point (:data:`FACE_NEUTRAL`, :data:`TEXT_NEUTRAL`) and applies
    :func:`~congruence.incongruence.scores.incongruence_type` with its defaults, as :func:`score_table`.

    >>> text_face_type(0.8, 0.3, 0.7, -0.15), text_face_type(0.8, 0.3, -0.6, 0.0)
    ('none', 'contradiction')
    """
    vals = (v_face, a_face, v_text, a_text)
    if any(x is None or not np.isfinite(x) for x in vals):
        return None
    vf, af, vt, at = (float(x) for x in vals)  # type: ignore[arg-type]
    fv, fa = (float(x) for x in referenced(vf, af, FACE.neutral))
    tv, ta = (float(x) for x in referenced(vt, at, TEXT.neutral))
    t = incongruence_type(fv, fa, tv, ta)
    return None if t is None else str(t)


def _missing(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table.columns:
        return np.ones(len(table), dtype=bool)
    return pd.to_numeric(table[column], errors="coerce").isna().to_numpy()
