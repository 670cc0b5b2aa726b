"""Annotation queues, the pair page and its autosave, and media access (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app.config import AppConfig
from congruence.app.disagreement import queue_key
from congruence.app.models import (
    AnalysedSession,
    Annotation,
    AnnotationRevision,
    Assignment,
    Media,
    Pair,
    SessionTurn,
    User,
)
from congruence.app.schemas import ANNOTATION_FIELDS, AnnotationIn
from congruence.app.store.accounts import effective_settings
from congruence.app.store.errors import Conflict, Forbidden, NotFound


def _status(values: Sequence[Any]) -> str:
    n = sum(v is not None for v in values)
    return "todo" if n == 0 else ("done" if n == len(values) else "partial")


def annotation_queue(s: Session, user: User, *, kind: str, order: str) -> list[dict[str, Any]]:
    """The caller's assigned pairs with their status, in session order or disagreement first."""
    rows = s.execute(
        sa.select(Pair, Annotation)
        .join(
            Assignment,
            (Assignment.pair_id == Pair.id) & (Assignment.user_id == user.id) & (Assignment.kind == kind),
        )
        .join(Annotation, (Annotation.pair_id == Pair.id) & (Annotation.user_id == user.id), isouter=True)
        .join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
        .order_by(AnalysedSession.session_id, Pair.turn_index)
    ).all()
    items = []
    for pos, (pair, ann) in enumerate(rows):
        values = [getattr(ann, f) if ann else None for f in ANNOTATION_FIELDS]
        items.append(
            {
                "pair_id": pair.id,
                "session_id": pair.session.session_id,
                "turn_index": pair.turn_index,
                "text": pair.client_text[:140],
                "status": _status(values),
                "disagreement": pair.disagreement if order == "disagreement" else None,
                "_key": queue_key(pair.disagreement, pair.disagreement_total, pos)
                if order == "disagreement"
                else pos,
            }
        )
    items.sort(key=lambda it: cast(float, it["_key"]))
    for it in items:
        del it["_key"]
    return items


def _may(s: Session, user: User, pair_id: int, kinds: Sequence[str]) -> bool:
    return (
        s.scalar(
            sa.select(Assignment.id)
            .where(Assignment.pair_id == pair_id, Assignment.user_id == user.id, Assignment.kind.in_(kinds))
            .limit(1)
        )
        is not None
    )


def _pair_for(s: Session, user: User, pair_id: int, kinds: Sequence[str]) -> Pair:
    pair = s.get(Pair, pair_id)
    if pair is None or (user.role != "admin" and not _may(s, user, pair_id, kinds)):
        raise NotFound(f"No pair {pair_id} in your assignments.", "Open pairs from your queue.")
    return pair


def _kinds_for(user: User) -> tuple[str, ...]:
    return {"annotator": ("annotate",), "expert": ("review",), "admin": ()}[user.role]


def context(s: Session, pair: Pair, *, turns_before: int) -> list[dict[str, Any]]:
    """Transcript around a pair: ``turns_before`` turns, the client turn, and the turn after it."""
    rows = s.scalars(
        sa.select(SessionTurn)
        .where(
            SessionTurn.session_ref == pair.session_ref,
            SessionTurn.turn_index >= pair.turn_index - turns_before,
            SessionTurn.turn_index <= pair.turn_index + 1,
        )
        .order_by(SessionTurn.turn_index)
    ).all()
    return [
        {
            "turn_index": t.turn_index,
            "speaker": t.speaker,
            "role": t.role,
            "text": t.text,
            "start": t.start,
            "end": t.end,
            "current": t.turn_index == pair.turn_index,
        }
        for t in rows
    ]


def annotation_dict(ann: Annotation | None) -> dict[str, Any]:
    if ann is None:
        return {**dict.fromkeys(ANNOTATION_FIELDS), "version": 0, "updated_at": None, "estimates_seen": False}
    return {
        **{f: getattr(ann, f) for f in ANNOTATION_FIELDS},
        "version": ann.version,
        "updated_at": ann.updated_at.isoformat(),
        "estimates_seen": ann.estimates_seen,
    }


def _neighbours(queue: list[dict[str, Any]], pair_id: int) -> tuple[int | None, int | None]:
    ids = [q["pair_id"] for q in queue]
    if pair_id not in ids:
        return None, None
    i = ids.index(pair_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def pair_view(s: Session, user: User, pair_id: int, *, config: AppConfig, order: str) -> dict[str, Any]:
    """Everything the annotation page shows; estimates only when the mode says so."""
    kinds = _kinds_for(user)
    if not kinds:
        raise Forbidden("Admins do not annotate.", "Log in as an annotator or expert.")
    pair = _pair_for(s, user, pair_id, kinds)
    ann = s.scalar(sa.select(Annotation).where(Annotation.pair_id == pair.id, Annotation.user_id == user.id))
    mode = effective_settings(s, config)["model_estimates"]
    queue = annotation_queue(s, user, kind=kinds[0], order=order)
    prev_id, next_id = _neighbours(queue, pair.id)
    return {
        "pair_id": pair.id,
        "session_id": pair.session.session_id,
        "turn_index": pair.turn_index,
        "client_text": pair.client_text,
        "counsellor_text": pair.counsellor_text,
        "frame_url": f"/media/{pair.frame_media_id}" if pair.frame_media_id else None,
        "context": context(s, pair, turns_before=config.context_turns),
        "annotation": annotation_dict(ann),
        "estimates_mode": mode,
        "estimates": pair.estimates.get("items", []) if mode == "shown" else None,
        "prev_id": prev_id,
        "next_id": next_id,
        "position": [q["pair_id"] for q in queue].index(pair.id) + 1 if queue else None,
        "total": len(queue),
        "order": order,
    }


def reveal_estimates(s: Session, user: User, pair_id: int, *, config: AppConfig) -> list[dict[str, Any]]:
    """The model estimates of a pair in ``on_request`` mode; records that the rater saw them."""
    pair = _pair_for(s, user, pair_id, _kinds_for(user) or ("annotate",))
    mode = effective_settings(s, config)["model_estimates"]
    if mode == "hidden":
        raise Forbidden("Model estimates are hidden in this instance.", "An admin can change the setting.")
    ann = s.scalar(sa.select(Annotation).where(Annotation.pair_id == pair.id, Annotation.user_id == user.id))
    if ann is None:
        ann = Annotation(pair_id=pair.id, user_id=user.id, version=0, estimates_seen=True)
        s.add(ann)
    else:
        ann.estimates_seen = True
    s.flush()
    return pair.estimates.get("items", [])


def save_annotation(
    s: Session, user: User, pair_id: int, body: AnnotationIn, *, now: datetime, estimates_shown: bool = False
) -> dict[str, Any]:
    """Apply one autosave of a pair's annotation form (see the module docstring).

    ``estimates_shown``: the page showed model estimates (mode ``shown``); recorded on the annotation.
    """
    kinds = _kinds_for(user)
    if not kinds:
        raise Forbidden("Admins do not annotate.", "Log in as an annotator or expert.")
    pair = _pair_for(s, user, pair_id, kinds)
    # the annotation first, then the log: under READ COMMITTED a save of this op_id committed in
    # between is then seen in the log (and answered as a replay), never half-seen as a conflict
    ann = s.scalar(sa.select(Annotation).where(Annotation.pair_id == pair.id, Annotation.user_id == user.id))
    done = s.scalar(sa.select(AnnotationRevision).where(AnnotationRevision.op_id == body.op_id))
    if done is not None:
        ann = s.get(Annotation, done.annotation_id, populate_existing=True)  # as committed now
        if ann is None or ann.pair_id != pair.id or ann.user_id != user.id:
            raise Conflict("This op_id was used for another save.", "Generate a new op_id for each save.")
        return {"annotation": annotation_dict(ann), "replayed": True, "version": done.version}
    current = ann.version if ann is not None else 0
    if body.base_version != current:
        raise Conflict(
            f"The annotation changed since version {body.base_version} (now {current}).",
            "Reload the pair; your newer edits were not applied.",
            current=annotation_dict(ann),
        )
    values = {
        f: (getattr(body, f).value if f == "incongruence" and getattr(body, f) else getattr(body, f))
        for f in ANNOTATION_FIELDS
    }
    if ann is None:
        ann = Annotation(pair_id=pair.id, user_id=user.id, version=0, estimates_seen=False, created_at=now)
        s.add(ann)
        s.flush()
    # conditional update: on PostgreSQL a concurrent save of the same version updates 0 rows
    res: sa.CursorResult[Any] = s.execute(  # type: ignore[assignment]  # an UPDATE gives a CursorResult
        sa.update(Annotation)
        .where(Annotation.id == ann.id, Annotation.version == current)
        .values(
            **values,
            version=current + 1,
            updated_at=now,
            **({"estimates_seen": True} if estimates_shown else {}),
        )
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raced = s.scalar(sa.select(AnnotationRevision).where(AnnotationRevision.op_id == body.op_id))
        if raced is not None and raced.annotation_id == ann.id:  # this very save, applied by a twin request
            s.refresh(ann)
            return {"annotation": annotation_dict(ann), "replayed": True, "version": raced.version}
        raise Conflict("The annotation was saved concurrently.", "Reload the pair.")
    s.add(
        AnnotationRevision(
            annotation_id=ann.id, op_id=body.op_id, version=current + 1, values=values, saved_at=now
        )
    )
    s.flush()
    s.refresh(ann)
    return {"annotation": annotation_dict(ann), "replayed": False, "version": current + 1}


def media_for(s: Session, user: User, media_id: int) -> Media:
    """Media bytes by id, only when they belong to a pair the caller may see."""
    if user.role != "admin":
        kinds = {"annotator": ("annotate",), "expert": ("review", "rate")}[user.role]
        allowed = s.scalar(
            sa.select(Pair.id)
            .join(Assignment, Assignment.pair_id == Pair.id)
            .where(Pair.frame_media_id == media_id, Assignment.user_id == user.id, Assignment.kind.in_(kinds))
            .limit(1)
        )
        if allowed is None:
            raise NotFound(f"No media {media_id} for you.", "Open media from your queue.")
    media = s.get(Media, media_id)
    if media is None:
        raise NotFound(f"No media {media_id} for you.", "Open media from your queue.")
    return media
