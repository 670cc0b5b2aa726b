"""A learned incongruence detector: turn-table features in, the E-THER label out.

E-THER (docs/references.md#e-ther, section III-C) labels each client turn none / minimizing /
contradiction; SPEC capability 3 asks for a classifier trained on those labels when annotations
exist, evaluated with accuracy, macro-F1 and Cohen's kappa against the human labels. This module
holds :class:`IncongruenceDetector`: imputation (training median) + scaling + logistic
regression or gradient boosting, calibrated with sigmoid (Platt) scaling over session-level folds
(:class:`~sklearn.calibration.CalibratedClassifierCV`); ``modalities=("text",)`` etc. gives the
unimodal classifiers of the mixed-signals paper; save / load with joblib; and
:func:`read_tables` (many turn tables). The parts it builds on live beside it:

- :mod:`~congruence.incongruence.features`: the feature lists per modality and
  :func:`~congruence.incongruence.features.feature_frame`;
- :mod:`~congruence.incongruence.labels`: the labels file format, :func:`read_labels`,
  :func:`attach_labels`, :func:`table_labels`;
- :mod:`~congruence.incongruence.evaluation`: :func:`evaluate`, :func:`session_splits`,
  :func:`cross_validate`, :func:`cv_estimate`.

Their names can still be imported from this module.

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

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.incongruence.evaluation import (
    Classifier,
    CVResult,
    Evaluation,
    confusion_markdown,
    cross_validate,
    cv_estimate,
    evaluate,
    prediction_frame,
    proba_to_labels,
    session_groups,
    session_splits,
)
from congruence.incongruence.features import (
    BASE_COLUMNS,
    CORE_COLUMNS,
    EGEMAPS_PREFIX,
    FACE_COLUMNS,
    MODALITIES,
    PAPER_NAMES,
    TEXT_COLUMNS,
    TEXT_EMBEDDING,
    VOICE_COLUMNS,
    FeatureSpec,
    egemaps_columns,
    embedding_matrix,
    feature_frame,
    modality_present,
)
from congruence.incongruence.labels import (
    BINARY_LABELS,
    LABELS,
    Task,
    attach_labels,
    majority_labels,
    normalize_label,
    read_labels,
    require_labels,
    table_labels,
)
from congruence.provenance import Kind, Provenance
from congruence.version import __version__

# the names above moved to labels.py / features.py / evaluation.py; importing them from here
# keeps working
__all__ = [
    "BASE_COLUMNS", "BINARY_LABELS", "CORE_COLUMNS", "EGEMAPS_PREFIX", "FACE_COLUMNS", "FORMAT",
    "FORMAT_VERSION", "LABELS", "MODALITIES", "PAPER_NAMES",
    "TEXT_COLUMNS", "TEXT_EMBEDDING", "VOICE_COLUMNS", "CVResult", "Classifier", "Evaluation",
    "FeatureSpec", "IncongruenceDetector", "ModelName", "Task", "attach_labels", "confusion_markdown",
    "cross_validate", "cv_estimate", "egemaps_columns", "embedding_matrix", "evaluate", "feature_frame",
    "majority_labels", "modality_present", "normalize_label", "prediction_frame", "proba_to_labels",
    "read_labels", "read_tables", "require_labels", "session_groups", "session_splits", "table_labels",
]  # fmt: skip

FORMAT = "congruence.incongruence.detector"
FORMAT_VERSION = 1
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


# ------------------------------------------------------------------------------------- detector
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
        g = np.asarray(groups)[keep.to_numpy()] if groups is not None else session_groups(sub)
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
