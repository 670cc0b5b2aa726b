"""Evaluating incongruence models against human labels, with session-level cross-validation.

- :func:`evaluate`: accuracy, macro-F1, Cohen's kappa, the confusion matrix, the binary
  incongruent-vs-none scores, and whether the model predicted a single class for everything
  (:attr:`Evaluation.degenerate`);
- :func:`session_splits` (never splits a session across train and test),
  :func:`cross_validate` (out-of-fold predictions) and :func:`cv_estimate` (whether a
  cross-validated estimate is possible for a table, and the estimate);
- :func:`prediction_frame` / :func:`proba_to_labels`: predictions keyed like the turn table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.incongruence.labels import BINARY_LABELS, LABELS, Task, require_labels, table_labels
from congruence.table import is_missing


class Classifier(Protocol):
    """What :func:`cross_validate` needs from a model: fit on labelled rows, probabilities out."""

    classes: tuple[str, ...]

    def n_modalities(self, table: pd.DataFrame) -> np.ndarray: ...

    def fit(self, table: pd.DataFrame, labels: pd.Series | None = None, *, groups: Any = None) -> Any: ...

    def predict_proba(self, table: pd.DataFrame) -> pd.DataFrame: ...


def session_groups(table: pd.DataFrame) -> np.ndarray:
    """The ``session_id`` of each row (all one group without the column)."""
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
    # the classes macro-F1 averages over: those present in the labels or the predictions
    f1_labels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_unscored": self.n_unscored,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_f1_labels": list(self.f1_labels or self.labels),
            "kappa": self.kappa,
            "labels": list(self.labels),
            "confusion": self.confusion.to_numpy().tolist(),
            "per_class": self.per_class.reset_index().to_dict(orient="records"),
            "binary": self.binary,
            "degenerate": self.degenerate,
            "predicted_classes": self.predicted_classes,
        }

    @property
    def predicted_classes(self) -> list[str]:
        """The labels the model predicted at least once."""
        return [str(c) for c, n in self.confusion.sum(axis=0).items() if n > 0]

    @property
    def degenerate(self) -> bool:
        """The model predicted one class for every turn although the human labels have several.

        Its accuracy is then the share of that class, and kappa is 0 by construction: the
        model has learned nothing about the task (for example an under-trained network).
        """
        true_classes = int((self.confusion.sum(axis=1) > 0).sum())
        return self.n >= 2 and len(self.predicted_classes) == 1 and true_classes > 1

    def degenerate_warning(self, model: str = "the model") -> str:
        """A one-line warning when :attr:`degenerate`, else ``""``."""
        if not self.degenerate:
            return ""
        return (
            f"{model} predicts '{self.predicted_classes[0]}' for all {self.n} turns (kappa "
            f"{_fmt(self.kappa)}): it has learned nothing about the labels; its figures are not a result."
        )

    def to_markdown(self, *, title: str = "") -> str:
        lines = [f"### {title}", ""] if title else []
        if self.degenerate:
            lines += [f"**Warning: degenerate model.** {self.degenerate_warning()}", ""]
        lines += [
            f"n = {self.n} scored turns"
            + (f" ({self.n_unscored} without a prediction)" if self.n_unscored else ""),
            "",
            "| accuracy | macro-F1 | Cohen's kappa |",
            "|---:|---:|---:|",
            f"| {self.accuracy:.3f} | {self.macro_f1:.3f} | {_fmt(self.kappa)} |",
            "",
            "macro-F1 averages over the classes present in the labels or the predictions: "
            + ", ".join(self.f1_labels or self.labels)
            + (
                f" (absent: {', '.join(c for c in self.labels if c not in self.f1_labels)})."
                if self.f1_labels and len(self.f1_labels) < len(self.labels)
                else "."
            ),
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
    """Accuracy, macro-F1, Cohen's kappa (Cohen, 1960) and the confusion matrix.

    Macro-F1 is the unweighted mean of the per-class F1 over the classes of ``labels`` that occur
    in the labels or the predictions: a class absent from both has no defined F1 (0/0), and counting
    it as 0 would report e.g. macro-F1 0.667 for perfect predictions (issue 13).

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

    yt_all, yp_all = list(y_true), list(y_pred)
    if len(yt_all) != len(yp_all):
        raise CongruenceError("Labels and predictions differ in length.", "Align them by turn first.")
    pairs = [
        (str(t), str(p))
        for t, p in zip(yt_all, yp_all, strict=True)
        if not is_missing(t) and not is_missing(p)
    ]
    labels = tuple(labels)
    n_unscored = len(yt_all) - len(pairs)
    if not pairs:
        raise CongruenceError("No turn has both a label and a prediction.", "Check the labels and the table.")
    yt, yp = [t for t, _ in pairs], [p for _, p in pairs]
    unknown = sorted((set(yt) | set(yp)) - set(labels))
    if unknown:
        raise CongruenceError(f"Labels {unknown} are not among {list(labels)}.", "Use E-THER's labels.")
    present = [c for c in labels if c in set(yt) | set(yp)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision/kappa on degenerate data -> 0 / NaN
        kappa = cohens_kappa(yt, yp, labels=list(labels)).kappa
        p, r, f, s = precision_recall_fscore_support(yt, yp, labels=list(labels), zero_division=0)
        ev = Evaluation(
            n=len(yt),
            n_unscored=n_unscored,
            accuracy=float(accuracy_score(yt, yp)),
            macro_f1=float(f1_score(yt, yp, labels=present, average="macro", zero_division=0)),
            f1_labels=tuple(present),
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
    g = np.asarray(groups)[keep.to_numpy()] if groups is not None else session_groups(sub)
    folds = session_splits(g.tolist(), n_splits=n_splits, y=y.to_numpy(), seed=seed)
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


def cv_estimate(
    make: Callable[[], Classifier], table: pd.DataFrame, *, n_splits: int = 5, seed: int = 0
) -> tuple[CVResult | None, str]:
    """A session-level cross-validated estimate when the table allows one, else why not.

    ``n_splits = 0`` skips it; fewer than 2 labelled sessions cannot give one (every fold would
    test on a session its model saw). Returns ``(result, "")`` or ``(None, reason)``.
    """
    if n_splits == 0:
        return None, "cross-validation skipped (0 folds)"
    if n_splits < 2:
        raise CongruenceError(f"folds must be 0 or at least 2, got {n_splits}.", "Use --folds 5 (or 0).")
    proto = make()
    task: Task = "binary" if tuple(proto.classes) == BINARY_LABELS else "type"
    labelled = table_labels(table, task).notna().to_numpy()
    n_sessions = len(np.unique(session_groups(table)[labelled]))
    if n_sessions < 2:
        return None, f"{n_sessions} labelled session(s): no cross-validated estimate (needs 2)"
    return cross_validate(make, table, n_splits=n_splits, seed=seed), ""
