"""Exports: annotations as a turn-keyed table (the dataset format), ratings as CSV / JSON.

**Annotations** are keyed by ``session_id`` + ``turn_index`` - the key of ``turns.parquet`` - with
the turn table's annotation columns ``ann_incongruence``, ``ann_engagement``, ``ann_valence``,
``ann_arousal``, ``ann_dominance``, ``ann_rater`` (:func:`apply_annotations` fills a turn table
with them), plus ``pair_index`` and provenance columns: ``ann_source`` (``expert`` /
``annotator`` / ``consensus``), ``ann_estimates_seen`` (the rater saw model estimates first) and
``ann_updated_at``. Two shapes:

- ``final`` (the dataset): one row per pair whose incongruence type is annotated (``ann_complete``
  says whether the other four fields are filled too). An expert's validation review wins (E-THER's
  expert validated the raters); else the one annotator's annotation; else, with several annotators,
  a consensus - the majority type (ties: the earliest annotation's type among the tied) and the
  median of each number given, ``ann_rater`` listing them;
- ``all``: every annotation with at least one field, one row per (pair, rater), with
  ``ann_rater_role`` and ``ann_complete``.

Every ``ann_`` value is a human judgement (Kind: measurement of a rater), never a model output.
VAD lie in [-1, 1] and engagement in [0, 1] (see :mod:`congruence.app.schemas`).

**Ratings**: one row per (response, rater) with ``session_id``, ``turn_index``, ``system``
(unblinded here, for analysis), ``technique``, ``response``, ``rater`` and the Likert columns
``applicability``, ``empathy``, ``comprehensiveness`` (1-5).
"""

from __future__ import annotations

import io
import json
import statistics
from collections import Counter
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app.models import AnalysedSession, Annotation, Pair, Rating, Response, User
from congruence.app.schemas import ANNOTATION_FIELDS, CRITERIA
from congruence.errors import CongruenceError

ANN_COLUMNS: tuple[str, ...] = (
    "ann_incongruence",
    "ann_engagement",
    "ann_valence",
    "ann_arousal",
    "ann_dominance",
    "ann_rater",
)
FINAL_COLUMNS: tuple[str, ...] = (
    "session_id",
    "turn_index",
    "pair_index",
    *ANN_COLUMNS,
    "ann_source",
    "ann_complete",
    "ann_estimates_seen",
    "ann_updated_at",
)
ALL_COLUMNS: tuple[str, ...] = (
    *FINAL_COLUMNS[:-4],
    "ann_rater_role",
    "ann_complete",
    "ann_estimates_seen",
    "ann_updated_at",
    "ann_version",
)
RATING_COLUMNS: tuple[str, ...] = (
    "session_id",
    "turn_index",
    "response_id",
    "system",
    "technique",
    "response",
    "rater",
    *CRITERIA,
    "updated_at",
)
FORMATS = ("csv", "parquet", "json")


def _annotation_rows(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(
        sa.select(
            Annotation, User.username, User.role, AnalysedSession.session_id, Pair.turn_index, Pair.pair_index
        )
        .join(User, Annotation.user_id == User.id)
        .join(Pair, Annotation.pair_id == Pair.id)
        .join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
        .order_by(AnalysedSession.session_id, Pair.turn_index, Annotation.created_at, Annotation.id)
    ).all()
    out = []
    for ann, name, role, sid, turn, pidx in rows:
        values = {f: getattr(ann, f) for f in ANNOTATION_FIELDS}
        if all(v is None for v in values.values()):
            continue
        out.append(
            {
                "session_id": sid,
                "turn_index": turn,
                "pair_index": pidx,
                **{f"ann_{k}": v for k, v in values.items()},
                "ann_rater": name,
                "ann_rater_role": role,
                "ann_complete": all(v is not None for v in values.values()),
                "ann_estimates_seen": bool(ann.estimates_seen),
                "ann_updated_at": ann.updated_at.isoformat(),
                "ann_version": ann.version,
            }
        )
    return out


def consensus(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Majority type (ties: earliest row's among the tied) and medians of the numbers of several raters.

    >>> vad = dict(ann_valence=0.0, ann_arousal=0.1, ann_dominance=0.0)
    >>> a = dict(ann_incongruence="none", ann_engagement=0.2, ann_rater="a", **vad)
    >>> b = dict(ann_incongruence="minimizing", ann_engagement=0.4, ann_rater="b", **vad)
    >>> c = consensus([a, b])
    >>> c["ann_incongruence"], c["ann_engagement"], c["ann_rater"]
    ('none', 0.30000000000000004, 'consensus(a,b)')
    """
    counts = Counter(r["ann_incongruence"] for r in rows)
    top = max(counts.values())
    label = next(r["ann_incongruence"] for r in rows if counts[r["ann_incongruence"]] == top)
    out = {"ann_incongruence": label}
    for f in ("engagement", "valence", "arousal", "dominance"):
        given = [r[f"ann_{f}"] for r in rows if r[f"ann_{f}"] is not None]
        out[f"ann_{f}"] = float(statistics.median(given)) if given else None
    out["ann_rater"] = "consensus(" + ",".join(r["ann_rater"] for r in rows) + ")"
    return out


def annotations_table(s: Session, *, mode: Literal["final", "all"] = "final") -> pd.DataFrame:
    """The annotation export (see the module docstring for the two shapes)."""
    rows = _annotation_rows(s)
    if mode == "all":
        return pd.DataFrame(rows, columns=list(ALL_COLUMNS))
    if mode != "final":
        raise CongruenceError(f"Unknown export mode '{mode}'.", "Use final or all.")
    by_pair: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r["ann_incongruence"] is not None:
            by_pair.setdefault((r["session_id"], r["turn_index"]), []).append(r)
    out = []
    for group in by_pair.values():
        experts = sorted((r for r in group if r["ann_rater_role"] == "expert"), key=lambda r: r["ann_rater"])
        raters = [r for r in group if r["ann_rater_role"] != "expert"]
        if experts:
            chosen, source = dict(experts[0]), "expert"
        elif len(raters) == 1:
            chosen, source = dict(raters[0]), "annotator"
        else:
            chosen = {**raters[0], **consensus(raters)}
            chosen["ann_estimates_seen"] = any(r["ann_estimates_seen"] for r in raters)
            chosen["ann_updated_at"] = max(r["ann_updated_at"] for r in raters)
            chosen["ann_complete"] = all(chosen[f"ann_{f}"] is not None for f in ANNOTATION_FIELDS)
            source = "consensus"
        chosen["ann_source"] = source
        out.append({c: chosen.get(c) for c in FINAL_COLUMNS})
    return pd.DataFrame(out, columns=list(FINAL_COLUMNS))


def apply_annotations(turns: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """A copy of a turn table with its ``ann_`` columns filled from an annotation export (``final``).

    Rows without an annotation keep ``None``; the join key is ``session_id`` + ``turn_index``.
    """
    if annotations.duplicated(["session_id", "turn_index"]).any():
        raise CongruenceError(
            "The annotation table has several rows for one turn.",
            "Use the 'final' export (one row per pair).",
        )
    out = turns.drop(columns=[c for c in ANN_COLUMNS if c in turns.columns]).copy()
    keyed = annotations[["session_id", "turn_index", *ANN_COLUMNS]].copy()
    keyed["turn_index"] = keyed["turn_index"].astype(out["turn_index"].dtype)
    keyed["session_id"] = keyed["session_id"].astype(str)
    merged = out.merge(keyed, on=["session_id", "turn_index"], how="left", validate="one_to_one")
    for c in ANN_COLUMNS:
        merged[c] = merged[c].astype(object).where(merged[c].notna(), None)
    return merged


def ratings_table(s: Session) -> pd.DataFrame:
    rows = s.execute(
        sa.select(
            AnalysedSession.session_id,
            Pair.turn_index,
            Response.public_id,
            Response.system,
            Response.technique,
            Response.text,
            User.username,
            Rating.applicability,
            Rating.empathy,
            Rating.comprehensiveness,
            Rating.updated_at,
        )
        .join(Response, Rating.response_id == Response.id)
        .join(Pair, Response.pair_id == Pair.id)
        .join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
        .join(User, Rating.user_id == User.id)
        .order_by(AnalysedSession.session_id, Pair.turn_index, Response.system, User.username)
    ).all()
    df = pd.DataFrame([list(r) for r in rows], columns=list(RATING_COLUMNS))
    for c in CRITERIA:
        df[c] = df[c].astype("Int64")
    df["updated_at"] = [t.isoformat() if t is not None else None for t in df["updated_at"]]
    return df


def to_bytes(df: pd.DataFrame, fmt: str) -> tuple[bytes, str]:
    """The table as file bytes and its media type (``csv``, ``parquet`` or ``json`` records)."""
    if fmt == "csv":
        return df.to_csv(index=False).encode("utf-8"), "text/csv; charset=utf-8"
    if fmt == "json":
        records = json.loads(df.to_json(orient="records", force_ascii=False))
        return json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8"), "application/json"
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue(), "application/vnd.apache.parquet"
    raise CongruenceError(f"Unknown export format '{fmt}'.", f"Use one of: {', '.join(FORMATS)}.")
