"""Detector features from a turn table: per-modality column lists, presence, cross-modal gaps.

:func:`feature_frame` turns a turn table into a numeric matrix with an explicit
``<modality>_missing`` indicator per modality; :class:`FeatureSpec` says which features a model
uses (modalities, the text embedding, eGeMAPS, the cross-modal pair features).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.incongruence.labels import LABELS
from congruence.perception.face.geometry import AU_NAMES
from congruence.perception.voice.arousal import EGEMAPS_PREFIX
from congruence.table import FER_CLASSES, NRC_CATEGORIES, PAIR_MODALITIES, numeric_column

# The lists below are the detector's *choice* of features among the columns the analyzers declare
# in their ``columns()`` (congruence.pipeline.run.declared_provenance): affect values, class
# probabilities, AU proxies and prosody, not bookkeeping (statuses, counts, key-frame copies) nor
# the pair columns (added as cross features). The vocabularies come from their owners (the turn-
# table contract, the face geometry, the voice analyzer); tests/test_detector.py checks that every
# listed column is one an analysis declares. Changing a list changes every model's inputs.
#: Feature order of the modalities (text-face first, E-THER's pair); the names are the contract's.
MODALITIES: tuple[str, ...] = ("text", "face", "voice")
#: The mixed-signals paper names the modalities text / audio / video.
PAPER_NAMES: Mapping[str, str] = {"text": "text", "voice": "audio", "face": "video"}

#: Text affect features (the embedding is added separately, see ``text_embedding``).
TEXT_COLUMNS: tuple[str, ...] = (
    "text_valence",
    "text_arousal",
    "text_dominance",
    "text_sentiment",
    *(f"text_cat_{c}" for c in FER_CLASSES),
    *(f"text_emo_{c}" for c in NRC_CATEGORIES),
)
TEXT_EMBEDDING = "text_embedding"
#: Face features: valence / arousal, FER-2013 class probabilities, AU proxies raw and z-scored
#: against the person's neutral turns, head pose, gaze toward the camera, engagement proxy.
FACE_COLUMNS: tuple[str, ...] = (
    "face_valence",
    "face_arousal",
    *(f"face_expr_{c}" for c in FER_CLASSES),
    *(f"face_{au}" for au in AU_NAMES),
    *(f"face_{au}_z" for au in AU_NAMES),
    "face_head_yaw",
    "face_head_pitch",
    "face_head_roll",
    "face_gaze_at_camera",
    "face_engagement",
)
#: Voice features: the speech-emotion estimate and Praat prosody (eGeMAPS added separately).
VOICE_COLUMNS: tuple[str, ...] = (
    "voice_arousal",
    "voice_valence",
    "voice_dominance",
    "voice_f0_median",
    "voice_f0_p05",
    "voice_f0_p95",
    "voice_f0_range_st",
    "voice_intensity_mean",
    "voice_intensity_max",
    "voice_jitter",
    "voice_shimmer",
    "voice_hnr",
    "voice_voiced_frac",
    "voice_rate",
    "voice_words_per_s",
)
BASE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "text": TEXT_COLUMNS,
    "face": FACE_COLUMNS,
    "voice": VOICE_COLUMNS,
}
#: Core columns whose presence decides whether a modality is there when no status column exists.
CORE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "text": ("text_valence", "text_sentiment"),
    "face": ("face_valence", "face_expr_neutral"),
    "voice": ("voice_f0_median", "voice_intensity_mean", "voice_arousal"),
}
# Cross-modal features per pair of congruence.table.PAIR_MODALITIES (used when both modalities of
# the pair are selected): the pair's rule-based E-THER score, dissonance indicator and typed label
# (one-hot), plus signed gaps (_GAPS).


def modality_present(table: pd.DataFrame, modality: str) -> np.ndarray:
    """Boolean per row: the modality was observed.

    ``<modality>_status == "ok"`` where the status column exists and is filled; otherwise any of
    the modality's core columns (:data:`CORE_COLUMNS`) is a number.
    """
    cores = np.column_stack([numeric_column(table, c) for c in CORE_COLUMNS[modality]])
    by_values = ~np.isnan(cores).all(axis=1)
    status_col = f"{modality}_status"
    if status_col not in table.columns:
        return by_values
    status = table[status_col].astype(object)
    known = status.notna().to_numpy()
    return np.where(known, (status == "ok").to_numpy(), by_values)


def embedding_matrix(table: pd.DataFrame, column: str = TEXT_EMBEDDING, dim: int | None = None) -> np.ndarray:
    """Stack a column of vectors (lists / arrays; ``None`` if missing) into (n, dim); NaN rows if missing."""
    if column not in table.columns:
        return np.full((len(table), dim or 0), np.nan)
    vals = list(table[column])
    if dim is None:
        dim = next((len(v) for v in vals if isinstance(v, list | tuple | np.ndarray) and len(v)), 0)
    out = np.full((len(vals), dim), np.nan)
    for i, v in enumerate(vals):
        if isinstance(v, list | tuple | np.ndarray) and len(v) == dim:
            out[i] = np.asarray(v, dtype=float)
    return out


def egemaps_columns(table: pd.DataFrame) -> list[str]:
    """The table's eGeMAPS columns (``voice_egemaps_*``), in table order."""
    return [c for c in table.columns if c.startswith(EGEMAPS_PREFIX)]


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a detector uses.

    Args:
        modalities: any of ``"text"``, ``"face"``, ``"voice"``; one modality = a unimodal model.
        text_embedding: add the sentence embedding (``text_emb_000`` ...) to the text features.
        egemaps: add the 88 eGeMAPS functionals to the voice features.
        cross: add cross-modal features for each selected pair (needs two modalities):
            ``x_<pair>_score`` / ``_dissonance`` / ``_type_<label>`` (the rule-based columns of
            :mod:`congruence.incongruence.pairs`) and the signed gaps ``x_tf_dv`` (face - text
            valence), ``x_tf_da`` (arousal), ``x_tf_vprod`` (product of valences), ``x_tf_int``
            (``|v_face| - |v_text|``), ``x_fv_da``, ``x_tv_da``.
    """

    modalities: tuple[str, ...] = MODALITIES
    text_embedding: bool = True
    egemaps: bool = True
    cross: bool = True

    def __post_init__(self) -> None:
        mods = tuple(self.modalities)
        bad = [m for m in mods if m not in MODALITIES]
        if bad or not mods or len(set(mods)) != len(mods):
            raise CongruenceError(
                f"Invalid modalities {list(mods)}.", f"Choose one or more of {', '.join(MODALITIES)}."
            )
        object.__setattr__(self, "modalities", tuple(m for m in MODALITIES if m in mods))

    def pairs(self) -> list[str]:
        if not self.cross:
            return []
        return [p for p, (a, b) in PAIR_MODALITIES.items() if a in self.modalities and b in self.modalities]


_GAPS: Mapping[str, tuple[tuple[str, Callable[[Callable[[str], np.ndarray]], np.ndarray]], ...]] = {
    "text_face": (
        ("x_tf_dv", lambda g: g("face_valence") - g("text_valence")),
        ("x_tf_da", lambda g: g("face_arousal") - g("text_arousal")),
        ("x_tf_vprod", lambda g: g("face_valence") * g("text_valence")),
        ("x_tf_int", lambda g: np.abs(g("face_valence")) - np.abs(g("text_valence"))),
    ),
    "face_voice": (("x_fv_da", lambda g: g("face_arousal") - g("voice_arousal")),),
    "text_voice": (("x_tv_da", lambda g: g("voice_arousal") - g("text_arousal")),),
}


def feature_frame(
    table: pd.DataFrame, spec: FeatureSpec, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Numeric feature matrix of a turn table (index follows ``table``).

    Every selected modality contributes its columns (NaN where the value is missing) and a
    ``<modality>_missing`` indicator (1.0 where :func:`modality_present` is false; all of that
    modality's values are then NaN, so a stale value never leaks in). Imputation happens in the
    model, from training statistics. ``columns`` (the fitted feature list) fixes the output
    columns: columns absent from ``table`` come out NaN, extra ones are dropped.
    """
    feats: dict[str, np.ndarray] = {}
    present = {m: modality_present(table, m) for m in spec.modalities}
    emb_dim: int | None = None
    if columns is not None:
        emb_dim = sum(1 for c in columns if c.startswith("text_emb_"))
    for m in spec.modalities:
        cols = list(BASE_COLUMNS[m])
        if m == "voice" and spec.egemaps:
            cols += (
                [c for c in columns if c.startswith(EGEMAPS_PREFIX)]
                if columns is not None
                else egemaps_columns(table)
            )
        for c in cols:
            feats[c] = np.where(present[m], numeric_column(table, c), np.nan)
        if m == "text" and spec.text_embedding:
            emb = embedding_matrix(table, TEXT_EMBEDDING, emb_dim)
            for j in range(emb.shape[1]):
                feats[f"text_emb_{j:03d}"] = np.where(present[m], emb[:, j], np.nan)
        feats[f"{m}_missing"] = (~present[m]).astype(float)
    for pair in spec.pairs():
        a, b = PAIR_MODALITIES[pair]
        both = present[a] & present[b]

        def get(c: str) -> np.ndarray:
            return numeric_column(table, c)

        feats[f"x_{pair}_score"] = np.where(both, get(f"{pair}_score"), np.nan)
        feats[f"x_{pair}_dissonance"] = np.where(both, get(f"{pair}_dissonance"), np.nan)
        types = table[f"{pair}_type"].astype(object) if f"{pair}_type" in table.columns else None
        for lab in LABELS:
            hot = np.full(len(table), np.nan)
            if types is not None:
                known = types.notna().to_numpy()
                hot = np.where(known, (types == lab).to_numpy(dtype=float), np.nan)
            feats[f"x_{pair}_type_{lab}"] = np.where(both, hot, np.nan)
        for name, fn in _GAPS[pair]:
            feats[name] = np.where(both, fn(get), np.nan)
    out = pd.DataFrame(feats, index=table.index)
    if columns is not None:
        out = out.reindex(columns=list(columns))
    return out
