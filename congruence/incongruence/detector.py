"""A learned incongruence detector: turn-table features in, the E-THER label out.

E-THER (docs/references.md#e-ther, section III-C) labels each client turn none / minimizing /
contradiction; SPEC capability 3 asks for a classifier trained on those labels when annotations
exist, evaluated with accuracy, macro-F1 and Cohen's kappa against the human labels. This module
holds

- the **feature lists** per modality (:data:`TEXT_COLUMNS`, :data:`FACE_COLUMNS`,
  :data:`VOICE_COLUMNS`, the text embedding, eGeMAPS, and cross-modal features built from the
  pairs' rule-based columns) and :func:`feature_frame`, which turns a turn table into a numeric
  matrix with an explicit ``<modality>_missing`` indicator per modality;
- :class:`IncongruenceDetector`: imputation (training median) + scaling + logistic regression or
  gradient boosting, calibrated with sigmoid (Platt) scaling over session-level folds
  (:class:`~sklearn.calibration.CalibratedClassifierCV`); ``modalities=("text",)`` etc. gives the
  unimodal classifiers of the mixed-signals paper; save / load with joblib;
- labels: :func:`read_labels` / :func:`attach_labels` (a CSV / Parquet of labels joined on
  ``session_id`` + ``turn_index``, format below) and :func:`read_tables` (many turn tables);
- evaluation: :func:`session_splits` (never splits a session across train and test),
  :func:`cross_validate` (out-of-fold predictions) and :func:`evaluate` (accuracy, macro-F1,
  Cohen's kappa, confusion matrix, and the same for the binary incongruent / congruent task).

Labels file format (CSV, TSV or Parquet), one row per rated turn and rater:

==================  ===========================================================================
``session_id``      the turn table's ``session_id``
``turn_index``      the turn table's ``turn_index`` (integer)
``incongruence``    ``none`` / ``minimizing`` / ``contradiction`` (``ann_incongruence`` also
                    accepted; British ``minimising`` is read as ``minimizing``; empty = unrated)
``rater``           optional; with several raters per turn the majority label is used (ties:
                    the label of the rater listed first), or choose one with ``rater=``
``engagement``,     optional E-THER fields (also with the ``ann_`` prefix), copied into the
``valence``, ...    table's ``ann_*`` columns
==================  ===========================================================================

A turn table whose ``ann_incongruence`` column is already filled needs no labels file.

Example (synthetic rows, for the shape of the API only)::

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame({"session_id": np.repeat(["a", "b", "c", "d"], 10),
    ...                   "turn_index": np.tile(range(10), 4),
    ...                   "text_valence": rng.uniform(-1, 1, 40), "face_valence": rng.uniform(-1, 1, 40)})
    >>> t["ann_incongruence"] = np.where(t.text_valence * t.face_valence < 0, "contradiction", "none")
    >>> det = IncongruenceDetector(modalities=("text", "face"), text_embedding=False).fit(t)
    >>> bool(det.predict(t).isin(LABELS).all())
    True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from congruence import __version__
from congruence.errors import CongruenceError
from congruence.perception.face.geometry import AU_NAMES
from congruence.perception.text.mapping import FER_CLASSES
from congruence.provenance import Kind, Provenance
from congruence.schema import IncongruenceType

#: E-THER's three labels, in the order used for probabilities and confusion matrices.
LABELS: tuple[str, ...] = tuple(str(t) for t in IncongruenceType)  # none, minimizing, contradiction
#: The binary task: any incongruence (minimizing or contradiction) versus none.
BINARY_LABELS: tuple[str, ...] = ("congruent", "incongruent")
MODALITIES: tuple[str, ...] = ("text", "face", "voice")
#: The mixed-signals paper names the modalities text / audio / video.
PAPER_NAMES: Mapping[str, str] = {"text": "text", "voice": "audio", "face": "video"}
FORMAT = "congruence.incongruence.detector"
FORMAT_VERSION = 1

NRC_CATEGORIES = (
    "anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust", "positive", "negative",
)  # fmt: skip
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
EGEMAPS_PREFIX = "voice_egemaps_"
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
#: Cross-modal features per pair (used when both modalities of the pair are selected): the pair's
#: rule-based E-THER score, dissonance indicator and typed label (one-hot), plus signed gaps.
PAIR_MODALITIES: Mapping[str, tuple[str, str]] = {
    "text_face": ("text", "face"),
    "face_voice": ("face", "voice"),
    "text_voice": ("text", "voice"),
}

Task = Literal["type", "binary"]
ModelName = Literal["logreg", "hgb"]


# --------------------------------------------------------------------------------------- tables
def read_tables(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate turn tables: ``turns.parquet`` / ``.csv`` files, or folders searched for them.

    A folder contributes every ``turns.parquet`` below it (or ``turns.csv`` where no Parquet is
    beside it); a corpus folder its finished sessions (:func:`congruence.table.discover`).
    Rows keep their ``session_id``; two tables with the same ``session_id`` and ``turn_index`` are an
    error (the same session read twice).
    """
    from congruence.table import read_all

    frames = []
    for p in map(Path, paths):
        if not p.exists():
            raise CongruenceError(f"Turn table {p} does not exist.", "Pass a turns.parquet file or a folder.")
        frames += [t.table for t in read_all([p])]
    if not frames:
        raise CongruenceError("No turn tables were given.", "Pass turns.parquet files or folders.")
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for col in ("session_id", "turn_index"):
        if col not in table.columns:
            raise CongruenceError(
                f"The turn table has no {col} column.", "Use tables from `congruence analyze`."
            )
    table["session_id"] = table["session_id"].astype(str)
    dup = table.duplicated(["session_id", "turn_index"])
    if dup.any():
        first = table.loc[dup, ["session_id", "turn_index"]].iloc[0].tolist()
        raise CongruenceError(
            f"{int(dup.sum())} turn(s) appear twice (e.g. session {first[0]!r}, turn {first[1]}).",
            "Pass each session's table once, or give sessions distinct ids (analyze --session-id).",
        )
    return table


# --------------------------------------------------------------------------------------- labels
_LABEL_ALIASES = {"minimising": "minimizing", "contradicting": "contradiction", "congruent": "none"}
_ANN_FIELDS = ("engagement", "valence", "arousal", "dominance")


def normalize_label(value: object) -> str | None:
    """``"None"`` / ``" Minimising "`` -> ``"none"`` / ``"minimizing"``; empty -> ``None``.

    >>> normalize_label(" Minimising "), normalize_label(float("nan")), normalize_label("contradiction")
    ('minimizing', None, 'contradiction')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip().lower()
    if s in ("", "nan", "<na>"):
        return None
    s = _LABEL_ALIASES.get(s, s)
    if s not in LABELS:
        raise CongruenceError(
            f"Unknown incongruence label {value!r}.", f"Use one of {', '.join(LABELS)} (E-THER's types)."
        )
    return s


def read_labels(path: str | Path) -> pd.DataFrame:
    """Read a labels file (CSV, TSV or Parquet; format in the module docstring).

    Returns columns ``session_id`` (str), ``turn_index`` (int), ``incongruence`` (normalised
    label), ``rater`` and any of ``engagement``, ``valence``, ``arousal``, ``dominance``.
    """
    p = Path(path)
    if not p.exists():
        raise CongruenceError(f"Labels file {p} does not exist.", "Pass a CSV or Parquet of labels.")
    if p.suffix == ".parquet":
        df = pd.read_parquet(p)
    elif p.suffix in (".csv", ".tsv", ".txt"):
        df = pd.read_csv(p, sep="\t" if p.suffix == ".tsv" else ",")
    else:
        raise CongruenceError(f"{p.name}: labels must be .csv, .tsv or .parquet.", "Convert the file.")
    df = df.rename(columns={c: c[4:] for c in df.columns if c.startswith("ann_")})
    missing = [c for c in ("session_id", "turn_index", "incongruence") if c not in df.columns]
    if missing:
        raise CongruenceError(
            f"{p.name} lacks the column(s) {', '.join(missing)}.",
            "Labels need session_id, turn_index and incongruence (none / minimizing / contradiction).",
        )
    out = pd.DataFrame(
        {
            "session_id": df["session_id"].astype(str),
            "turn_index": pd.to_numeric(df["turn_index"], errors="raise").astype(int),
            "incongruence": [normalize_label(v) for v in df["incongruence"]],
            "rater": df["rater"].astype(str) if "rater" in df.columns else "rater",
        }
    )
    for f in _ANN_FIELDS:
        if f in df.columns:
            out[f] = pd.to_numeric(df[f], errors="coerce")
    return out


def majority_labels(labels: pd.DataFrame, *, rater: str | None = None) -> pd.DataFrame:
    """One label per (session_id, turn_index): the chosen ``rater``'s, or the majority over raters.

    Ties go to the label of the rater listed first for that turn. Unrated rows are dropped.
    """
    df = labels.dropna(subset=["incongruence"])
    if rater is not None:
        df = df[df["rater"] == rater]
        if df.empty:
            raise CongruenceError(f"No labels from rater {rater!r}.", "Check the rater column.")
    rows = []
    for (sid, ti), g in df.groupby(["session_id", "turn_index"], sort=False):
        counts = g["incongruence"].value_counts(sort=False)
        top = counts.max()
        label = next(v for v in g["incongruence"] if counts[v] == top)  # first-listed wins ties
        row = {"session_id": sid, "turn_index": ti, "incongruence": label, "n_raters": len(g)}
        row["rater"] = g["rater"].iloc[0] if len(g) == 1 else "majority"
        for f in _ANN_FIELDS:
            if f in g.columns:
                row[f] = float(g[f].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def attach_labels(table: pd.DataFrame, labels: pd.DataFrame, *, rater: str | None = None) -> pd.DataFrame:
    """Copy of ``table`` with ``ann_incongruence`` (and other ``ann_*``) filled from ``labels``.

    Turns without a label keep ``None``. Raises when no label matches a turn of the table.
    """
    one = majority_labels(labels, rater=rater)
    out = table.copy()
    out["session_id"] = out["session_id"].astype(str)
    key = pd.MultiIndex.from_frame(out[["session_id", "turn_index"]].astype({"turn_index": int}))
    lab = one.set_index(["session_id", "turn_index"])
    hit = key.isin(lab.index)
    if not hit.any():
        raise CongruenceError(
            "No label matches a turn of the table (joined on session_id + turn_index).",
            "Check that the labels use the same session_id and turn_index as turns.parquet.",
        )
    matched = lab.reindex(key[hit])

    def column(name: str, dtype: Any) -> pd.Series:
        if name in out.columns:
            return out[name].astype(dtype).copy()
        return pd.Series(np.nan if dtype is float else None, index=out.index, dtype=dtype)

    inc = column("ann_incongruence", object)
    inc[hit] = matched["incongruence"].to_numpy()
    out["ann_incongruence"] = inc
    for f in _ANN_FIELDS:
        if f in matched.columns:
            c = pd.to_numeric(column(f"ann_{f}", object), errors="coerce").astype(float)
            c[hit] = matched[f].to_numpy(dtype=float)
            out[f"ann_{f}"] = c
    rater_col = column("ann_rater", object)
    rater_col[hit] = matched["rater"].to_numpy()
    out["ann_rater"] = rater_col
    out.attrs["labels_unmatched"] = int(len(lab) - hit.sum())
    return out


def table_labels(table: pd.DataFrame, task: Task = "type") -> pd.Series:
    """The human label of each row (``ann_incongruence``), ``None`` where unrated.

    ``task="binary"`` maps none -> congruent and minimizing / contradiction -> incongruent.
    """
    if "ann_incongruence" not in table.columns:
        raise CongruenceError(
            "The table has no ann_incongruence column, so there is nothing to learn from.",
            "Pass a labels file (--labels) or annotate the turns first.",
        )
    y = pd.Series([normalize_label(v) for v in table["ann_incongruence"]], index=table.index, dtype=object)
    if task == "binary":
        y = y.map(lambda v: None if v is None else ("congruent" if v == "none" else "incongruent"))
    return y


# ------------------------------------------------------------------------------------- features
def _numeric(table: pd.DataFrame, col: str) -> np.ndarray:
    if col not in table.columns:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)


def modality_present(table: pd.DataFrame, modality: str) -> np.ndarray:
    """Boolean per row: the modality was observed.

    ``<modality>_status == "ok"`` where the status column exists and is filled; otherwise any of
    the modality's core columns (:data:`CORE_COLUMNS`) is a number.
    """
    cores = np.column_stack([_numeric(table, c) for c in CORE_COLUMNS[modality]])
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
            feats[c] = np.where(present[m], _numeric(table, c), np.nan)
        if m == "text" and spec.text_embedding:
            emb = embedding_matrix(table, TEXT_EMBEDDING, emb_dim)
            for j in range(emb.shape[1]):
                feats[f"text_emb_{j:03d}"] = np.where(present[m], emb[:, j], np.nan)
        feats[f"{m}_missing"] = (~present[m]).astype(float)
    for pair in spec.pairs():
        a, b = PAIR_MODALITIES[pair]
        both = present[a] & present[b]

        def get(c: str) -> np.ndarray:
            return _numeric(table, c)

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


# ------------------------------------------------------------------------------------- detector
class Classifier(Protocol):
    """What :func:`cross_validate` needs from a model: fit on labelled rows, probabilities out."""

    classes: tuple[str, ...]

    def n_modalities(self, table: pd.DataFrame) -> np.ndarray: ...

    def fit(self, table: pd.DataFrame, labels: pd.Series | None = None, *, groups: Any = None) -> Any: ...

    def predict_proba(self, table: pd.DataFrame) -> pd.DataFrame: ...


def require_labels(y: pd.Series) -> pd.Series:
    """Boolean mask of the labelled rows of ``y``; a :class:`CongruenceError` when there are none."""
    keep = y.notna()
    if not keep.any():
        raise CongruenceError(
            "No turn has a human incongruence label.", "Annotate turns, or pass a labels file (--labels)."
        )
    return keep


class IncongruenceDetector:
    """Calibrated classifier of the E-THER incongruence type from a turn table.

    Args:
        modalities: modalities whose features are used; one modality gives a unimodal model.
        model: ``"logreg"`` (multinomial logistic regression, L2, class-balanced) or ``"hgb"``
            (histogram gradient boosting, class-balanced).
        task: ``"type"`` (none / minimizing / contradiction) or ``"binary"`` (congruent /
            incongruent). A ``"type"`` model also reports ``p_incongruent = 1 - p_none``.
        text_embedding, egemaps, cross: see :class:`FeatureSpec`.
        calibration: ``"sigmoid"`` (Platt scaling; suits small data), ``"isotonic"`` or ``"none"``.
            Calibration folds are session-level (at most 3); with too few sessions or too few
            labels per class for that, folds fall back to class-stratified turns of the training
            data, and with fewer than 2 labels in a class calibration is skipped
            (``training_["calibration"]`` records what happened).
        C: inverse L2 strength of the logistic regression.
        random_state: seed of the gradient boosting and the calibration folds.
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str] = MODALITIES,
        model: ModelName = "logreg",
        task: Task = "type",
        text_embedding: bool = True,
        egemaps: bool = True,
        cross: bool = True,
        calibration: Literal["sigmoid", "isotonic", "none"] = "sigmoid",
        C: float = 1.0,
        random_state: int = 0,
    ) -> None:
        if model not in ("logreg", "hgb"):
            raise CongruenceError(f"Unknown detector model {model!r}.", "Use 'logreg' or 'hgb'.")
        if task not in ("type", "binary"):
            raise CongruenceError(f"Unknown task {task!r}.", "Use 'type' or 'binary'.")
        if calibration not in ("sigmoid", "isotonic", "none"):
            raise CongruenceError(f"Unknown calibration {calibration!r}.", "Use sigmoid, isotonic or none.")
        self.spec = FeatureSpec(tuple(modalities), text_embedding, egemaps, cross)
        self.model = model
        self.task: Task = task
        self.calibration = calibration
        self.C = C
        self.random_state = random_state
        self.classes: tuple[str, ...] = LABELS if task == "type" else BINARY_LABELS
        self.feature_names_: list[str] = []
        self.training_: dict[str, Any] = {}
        self._estimator: Any = None
        self._constant: str | None = None

    # ------------------------------------------------------------------ description
    @property
    def name(self) -> str:
        return f"{self.model}[{'+'.join(self.spec.modalities)}]"

    def config(self) -> dict[str, Any]:
        return {
            "modalities": list(self.spec.modalities),
            "model": self.model,
            "task": self.task,
            "text_embedding": self.spec.text_embedding,
            "egemaps": self.spec.egemaps,
            "cross": self.spec.cross,
            "calibration": self.calibration,
            "C": self.C,
            "random_state": self.random_state,
        }

    def columns(self) -> dict[str, Provenance]:
        """Provenance of the prediction columns of :meth:`predictions`."""
        n = self.training_.get("n_labelled", "?")
        s = self.training_.get("n_sessions", "?")
        note = f"{self.name}, {self.calibration} calibration; trained on {n} labelled turns of {s} sessions"
        est = f"incongruence-detector({self.name})"
        cols = {f"p_{c}": Provenance(est, Kind.MODEL, note) for c in self.classes}
        cols["pred"] = Provenance(est, Kind.MODEL, note + "; argmax")
        cols["p_incongruent"] = Provenance(est, Kind.MODEL, note + "; 1 - p_none for the type task")
        cols["n_modalities"] = Provenance(est, Kind.MEASUREMENT, "selected modalities observed in the turn")
        return cols

    # ------------------------------------------------------------------ training
    def _base(self) -> Any:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.model == "logreg":
            from sklearn.linear_model import LogisticRegression

            clf: Any = LogisticRegression(C=self.C, max_iter=5000, class_weight="balanced")
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            clf = HistGradientBoostingClassifier(
                max_iter=150,
                learning_rate=0.05,
                max_leaf_nodes=15,
                l2_regularization=1.0,
                class_weight="balanced",
                random_state=self.random_state,
            )
        # keep_empty_features: a column never observed in training still has a fixed position
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), clf
        )

    def _calibration_folds(self, y: np.ndarray, groups: np.ndarray) -> tuple[Any, str]:
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        classes, counts = np.unique(y, return_counts=True)
        n_groups = len(np.unique(groups))
        if n_groups >= 2:
            k = min(3, n_groups)
            folds = list(GroupKFold(n_splits=k).split(y, y, groups))
            if all(len(np.unique(y[tr])) == len(classes) for tr, _ in folds):
                return folds, f"{self.calibration} over {k} session-level folds"
        k = min(3, int(counts.min()))
        if k >= 2:
            skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=self.random_state)
            return list(skf.split(y, y)), f"{self.calibration} over {k} stratified turn folds (few sessions)"
        return None, "none (a class has fewer than 2 labels)"

    def fit(
        self, table: pd.DataFrame, labels: pd.Series | Sequence[object] | None = None, *, groups: Any = None
    ) -> IncongruenceDetector:
        """Fit on the labelled rows of ``table``.

        ``labels`` default to ``table["ann_incongruence"]`` (normalised; for ``task="binary"``
        mapped to congruent / incongruent); ``groups`` (the sessions, for calibration folds)
        default to ``table["session_id"]``. Unlabelled rows are ignored.
        """
        if labels is None:
            y_all = table_labels(table, self.task)
        else:
            y_all = pd.Series(list(labels), index=table.index, dtype=object)
            if self.task == "type":
                y_all = y_all.map(normalize_label)
        keep = require_labels(y_all)
        sub = table.loc[keep]
        y = y_all[keep].astype(str).to_numpy()
        bad = sorted(set(y) - set(self.classes))
        if bad:
            raise CongruenceError(
                f"Labels {bad} do not belong to the {self.task} task.", f"Use {self.classes}."
            )
        g = np.asarray(groups)[keep.to_numpy()] if groups is not None else _groups(sub)
        X = feature_frame(sub, self.spec)
        self.feature_names_ = list(X.columns)
        present = sorted(set(y))
        self.training_ = {
            "n_labelled": len(y),
            "n_sessions": len(np.unique(g)),
            "label_counts": {c: int((y == c).sum()) for c in self.classes},
            "congruence_version": __version__,
        }
        if len(present) < 2:
            # one class only: nothing to discriminate; predict it with certainty and say so
            self._constant, self._estimator = present[0], None
            self.training_["calibration"] = "none (one class in the training labels)"
            return self
        self._constant = None
        base = self._base()
        folds, how = (None, "none") if self.calibration == "none" else self._calibration_folds(y, g)
        if folds is None:
            est = base.fit(X.to_numpy(), y)
        else:
            from sklearn.calibration import CalibratedClassifierCV

            est = CalibratedClassifierCV(base, method=self.calibration, cv=folds).fit(X.to_numpy(), y)
        self.training_["calibration"] = how
        self._estimator = est
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if self._estimator is None and self._constant is None:
            raise CongruenceError("The detector is not trained.", "Call fit() or load a saved detector.")

    def n_modalities(self, table: pd.DataFrame) -> np.ndarray:
        """How many of the selected modalities each row has."""
        return np.sum([modality_present(table, m) for m in self.spec.modalities], axis=0).astype(int)

    def predict_proba(self, table: pd.DataFrame) -> pd.DataFrame:
        """``p_<class>`` per row (index follows ``table``); NaN where no selected modality is observed."""
        self._check_fitted()
        probs = np.zeros((len(table), len(self.classes)))
        if self._constant is not None:
            probs[:, self.classes.index(self._constant)] = 1.0
        elif len(table):
            X = feature_frame(table, self.spec, columns=self.feature_names_).to_numpy()
            p = self._estimator.predict_proba(X)
            for j, c in enumerate(self._estimator.classes_):
                probs[:, self.classes.index(str(c))] = p[:, j]
        probs[self.n_modalities(table) == 0] = np.nan
        return pd.DataFrame(probs, index=table.index, columns=[f"p_{c}" for c in self.classes])

    def predict(self, table: pd.DataFrame) -> pd.Series:
        """Most probable class per row; ``None`` where no selected modality is observed."""
        return proba_to_labels(self.predict_proba(table), self.classes)

    def predictions(self, table: pd.DataFrame) -> pd.DataFrame:
        """``session_id``, ``turn_index``, ``pred``, ``p_<class>``, ``p_incongruent``, ``n_modalities``."""
        return prediction_frame(table, self.predict_proba(table), self.classes, self.n_modalities(table))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted detector (joblib): model, feature list, config, versions, training counts."""
        import joblib
        import sklearn

        from congruence.io import atomic_path

        self._check_fitted()
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "congruence_version": __version__,
            "sklearn_version": sklearn.__version__,
            "config": self.config(),
            "classes": list(self.classes),
            "feature_names": self.feature_names_,
            "training": self.training_,
            "constant": self._constant,
            "estimator": self._estimator,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            joblib.dump(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> IncongruenceDetector:
        """Read a detector written by :meth:`save`.

        joblib files are pickles: load only files you made or trust.
        """
        import joblib
        import sklearn

        p = Path(path)
        if not p.exists():
            raise CongruenceError(
                f"Detector file {p} does not exist.", "Train one with `congruence detect train`."
            )
        try:
            payload = joblib.load(p)
        except Exception as exc:
            raise CongruenceError(
                f"{p} is not a detector file ({exc}).", "Pass a file from detect train."
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CongruenceError(f"{p} is not a congruence detector file.", "Pass a file from detect train.")
        if payload["format_version"] > FORMAT_VERSION:
            raise CongruenceError(
                f"{p} was written by a newer congruence (format {payload['format_version']}).",
                "Upgrade congruence.",
            )
        if payload["sklearn_version"] != sklearn.__version__:
            warnings.warn(
                f"{p} was saved with scikit-learn {payload['sklearn_version']}, this is "
                f"{sklearn.__version__}; predictions may differ.",
                stacklevel=2,
            )
        det = cls(**payload["config"])
        det.feature_names_ = list(payload["feature_names"])
        det.training_ = dict(payload["training"])
        det._constant = payload["constant"]
        det._estimator = payload["estimator"]
        return det


def _groups(table: pd.DataFrame) -> np.ndarray:
    if "session_id" in table.columns:
        return table["session_id"].astype(str).to_numpy()
    return np.zeros(len(table), dtype=int)


def proba_to_labels(proba: pd.DataFrame, classes: Sequence[str]) -> pd.Series:
    """Argmax of ``p_<class>`` columns; ``None`` for all-NaN rows."""
    p = proba[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
    out = np.full(len(p), None, dtype=object)
    ok = ~np.isnan(p).any(axis=1)
    if ok.any():
        out[ok] = np.asarray(classes, dtype=object)[np.argmax(p[ok], axis=1)]
    return pd.Series(out, index=proba.index, dtype=object)


def prediction_frame(
    table: pd.DataFrame, proba: pd.DataFrame, classes: Sequence[str], n_modalities: np.ndarray
) -> pd.DataFrame:
    """Predictions keyed like the turn table (``session_id``, ``turn_index``)."""
    out = pd.DataFrame(index=table.index)
    for c in ("session_id", "turn_index"):
        if c in table.columns:
            out[c] = table[c].to_numpy()
    out["pred"] = proba_to_labels(proba, classes)
    for c in proba.columns:
        out[c] = proba[c].to_numpy()
    if "p_incongruent" not in out.columns and "p_none" in out.columns:
        out["p_incongruent"] = 1.0 - out["p_none"]
    out["n_modalities"] = n_modalities
    return out


# ----------------------------------------------------------------------------------- evaluation
@dataclass
class Evaluation:
    """Agreement of predictions with human labels (rows without a prediction are not scored)."""

    n: int
    n_unscored: int
    accuracy: float
    macro_f1: float
    kappa: float
    labels: tuple[str, ...]
    confusion: pd.DataFrame  # rows: human label, columns: predicted label
    per_class: pd.DataFrame  # precision, recall, f1, support per label
    binary: dict[str, float] = field(default_factory=dict)  # accuracy / f1 / kappa of incongruent-vs-none

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_unscored": self.n_unscored,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "kappa": self.kappa,
            "labels": list(self.labels),
            "confusion": self.confusion.to_numpy().tolist(),
            "per_class": self.per_class.reset_index().to_dict(orient="records"),
            "binary": self.binary,
        }

    def to_markdown(self, *, title: str = "") -> str:
        lines = [f"### {title}", ""] if title else []
        lines += [
            f"n = {self.n} scored turns"
            + (f" ({self.n_unscored} without a prediction)" if self.n_unscored else ""),
            "",
            "| accuracy | macro-F1 | Cohen's kappa |",
            "|---:|---:|---:|",
            f"| {self.accuracy:.3f} | {self.macro_f1:.3f} | {_fmt(self.kappa)} |",
            "",
            "Confusion matrix (rows: human / expected label, columns: predicted):",
            "",
            confusion_markdown(self.confusion),
        ]
        if self.binary:
            b = self.binary
            lines += [
                "",
                f"Binary (incongruent vs none): accuracy {b['accuracy']:.3f}, F1 {b['f1']:.3f}, "
                f"kappa {_fmt(b['kappa'])}.",
            ]
        return "\n".join(lines) + "\n"


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"


def confusion_markdown(cm: pd.DataFrame) -> str:
    """A confusion matrix as a Markdown table."""
    head = "| human \\ predicted | " + " | ".join(map(str, cm.columns)) + " |"
    sep = "|---|" + "---:|" * len(cm.columns)
    rows = [
        f"| {i} | " + " | ".join(str(int(v)) for v in r) + " |"
        for i, r in zip(cm.index, cm.to_numpy(), strict=True)
    ]
    return "\n".join([head, sep, *rows])


def evaluate(
    y_true: Sequence[object], y_pred: Sequence[object], *, labels: Sequence[str] = LABELS
) -> Evaluation:
    """Accuracy, macro-F1 (over ``labels``), Cohen's kappa (Cohen, 1960) and the confusion matrix.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed agreement and ``p_e`` the
    agreement expected from the marginals (:func:`congruence.evaluation.stats.cohens_kappa`; NaN
    when ``p_e = 1``). Pairs where either side is missing (``None`` / NaN) are not scored. For the
    three E-THER labels the binary scores (incongruent = minimizing or contradiction) are added.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    from congruence.evaluation.stats import cohens_kappa

    def missing(v: object) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    yt_all, yp_all = list(y_true), list(y_pred)
    if len(yt_all) != len(yp_all):
        raise CongruenceError("Labels and predictions differ in length.", "Align them by turn first.")
    pairs = [
        (str(t), str(p)) for t, p in zip(yt_all, yp_all, strict=True) if not missing(t) and not missing(p)
    ]
    labels = tuple(labels)
    n_unscored = len(yt_all) - len(pairs)
    if not pairs:
        raise CongruenceError("No turn has both a label and a prediction.", "Check the labels and the table.")
    yt, yp = [t for t, _ in pairs], [p for _, p in pairs]
    unknown = sorted((set(yt) | set(yp)) - set(labels))
    if unknown:
        raise CongruenceError(f"Labels {unknown} are not among {list(labels)}.", "Use E-THER's labels.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision/kappa on degenerate data -> 0 / NaN
        kappa = cohens_kappa(yt, yp, labels=list(labels)).kappa
        p, r, f, s = precision_recall_fscore_support(yt, yp, labels=list(labels), zero_division=0)
        ev = Evaluation(
            n=len(yt),
            n_unscored=n_unscored,
            accuracy=float(accuracy_score(yt, yp)),
            macro_f1=float(f1_score(yt, yp, labels=list(labels), average="macro", zero_division=0)),
            kappa=kappa,
            labels=labels,
            confusion=pd.DataFrame(
                confusion_matrix(yt, yp, labels=list(labels)), index=list(labels), columns=list(labels)
            ),
            per_class=pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=list(labels)),
        )
        if set(labels) == set(LABELS):
            bt = [t != "none" for t in yt]
            bp = [q != "none" for q in yp]
            ev.binary = {
                "accuracy": float(accuracy_score(bt, bp)),
                "f1": float(f1_score(bt, bp, zero_division=0)),
                "kappa": cohens_kappa(bt, bp).kappa,
            }
    return ev


def session_splits(
    groups: Sequence[object], *, n_splits: int = 5, y: Sequence[object] | None = None, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train / test row positions that never split a session (group) across the two.

    Leave-one-session-out when there are at most ``n_splits`` sessions, else
    :class:`~sklearn.model_selection.StratifiedGroupKFold` on ``y`` (shuffled with ``seed``) or
    :class:`~sklearn.model_selection.GroupKFold` without ``y``.
    """
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold

    g = np.asarray([str(x) for x in groups])
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise CongruenceError(
            f"Session-level evaluation needs at least 2 sessions, got {n_groups}.",
            "Add labelled turns from more sessions.",
        )
    idx = np.arange(len(g))
    if n_groups <= n_splits:
        return list(LeaveOneGroupOut().split(idx, groups=g))
    if y is not None:
        yy = np.asarray([str(v) for v in y])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "least populated class" warnings on small data
            return list(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(idx, yy, g))
    return list(GroupKFold(n_splits=n_splits).split(idx, groups=g))


@dataclass
class CVResult:
    """Out-of-fold predictions of a model and their evaluation."""

    predictions: pd.DataFrame  # session_id, turn_index, label, pred, p_*, fold (labelled rows only)
    evaluation: Evaluation
    n_folds: int


def cross_validate(
    make: Callable[[], Classifier],
    table: pd.DataFrame,
    *,
    labels: pd.Series | None = None,
    groups: Sequence[object] | None = None,
    n_splits: int = 5,
    seed: int = 0,
) -> CVResult:
    """Session-level cross-validation: out-of-fold predictions for every labelled row.

    ``make()`` builds a fresh, unfitted model (e.g. ``lambda: IncongruenceDetector(...)``); its
    ``classes`` fix the label set. ``labels`` default to the table's ``ann_incongruence``;
    ``groups`` to ``session_id``.
    """
    proto = make()
    task: Task = "binary" if tuple(proto.classes) == BINARY_LABELS else "type"
    y_all = table_labels(table, task) if labels is None else pd.Series(list(labels), index=table.index)
    keep = require_labels(y_all)
    sub = table.loc[keep].copy()
    y = y_all[keep]
    g = np.asarray(groups)[keep.to_numpy()] if groups is not None else _groups(sub)
    folds = session_splits(g, n_splits=n_splits, y=y.to_numpy(), seed=seed)
    cols = [f"p_{c}" for c in proto.classes]
    probs = pd.DataFrame(np.nan, index=sub.index, columns=cols)
    fold_of = np.full(len(sub), -1)
    for k, (tr, te) in enumerate(folds):
        model = make()
        model.fit(sub.iloc[tr], y.iloc[tr], groups=g[tr])
        probs.iloc[te] = model.predict_proba(sub.iloc[te])[cols].to_numpy()
        fold_of[te] = k
    pred = prediction_frame(sub, probs, proto.classes, proto.n_modalities(sub))
    pred.insert(2, "label", y.to_numpy())
    pred["fold"] = fold_of
    return CVResult(pred, evaluate(pred["label"], pred["pred"], labels=proto.classes), len(folds))
