"""E-THER incongruence labels of turns: read, normalise, attach to turn tables.

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
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.schema import IncongruenceType

#: E-THER's three labels, in the order used for probabilities and confusion matrices.
LABELS: tuple[str, ...] = tuple(str(t) for t in IncongruenceType)  # none, minimizing, contradiction
#: The binary task: any incongruence (minimizing or contradiction) versus none.
BINARY_LABELS: tuple[str, ...] = ("congruent", "incongruent")

Task = Literal["type", "binary"]


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


def require_labels(y: pd.Series) -> pd.Series:
    """Boolean mask of the labelled rows of ``y``; a :class:`CongruenceError` when there are none."""
    keep = y.notna()
    if not keep.any():
        raise CongruenceError(
            "No turn has a human incongruence label.", "Annotate turns, or pass a labels file (--labels)."
        )
    return keep


def rater_labels(table: pd.DataFrame, labels: pd.DataFrame, *, n: int = 2) -> list[pd.Series] | None:
    """The first ``n`` raters' labels aligned with ``table`` rows, or ``None`` with fewer raters.

    ``labels`` is :func:`read_labels`'s frame; a rater's duplicate rows for a turn keep the first.
    """
    names = list(dict.fromkeys(labels["rater"].tolist()))
    if len(names) < n:
        return None
    key = pd.MultiIndex.from_frame(
        table[["session_id", "turn_index"]].astype({"session_id": str, "turn_index": int})
    )
    out = []
    for name in names[:n]:
        one = labels[labels["rater"] == name].drop_duplicates(["session_id", "turn_index"])
        s = one.set_index(["session_id", "turn_index"])["incongruence"].reindex(key)
        out.append(pd.Series(s.to_numpy(), index=table.index, dtype=object))
    return out
