"""Blinded rating of generated responses by experts, with idempotent, versioned saves."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app.config import AppConfig
from congruence.app.models import (
    AnalysedSession,
    Assignment,
    Pair,
    Rating,
    RatingRevision,
    Response,
    User,
)
from congruence.app.schemas import CRITERIA, RatingIn
from congruence.app.store.accounts import blind_secret
from congruence.app.store.annotations import _may, _neighbours, _pair_for, context
from congruence.app.store.errors import Conflict, Forbidden, NotFound


def rating_queue(s: Session, user: User) -> list[dict[str, Any]]:
    rows = (
        s.execute(
            sa.select(Pair)
            .join(
                Assignment,
                (Assignment.pair_id == Pair.id)
                & (Assignment.user_id == user.id)
                & (Assignment.kind == "rate"),
            )
            .join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
            .order_by(AnalysedSession.session_id, Pair.turn_index)
        )
        .scalars()
        .all()
    )
    out = []
    for pair in rows:
        n_resp = s.scalar(sa.select(sa.func.count(Response.id)).where(Response.pair_id == pair.id)) or 0
        n_done = (
            s.scalar(
                sa.select(sa.func.count(Rating.id))
                .join(Response, Rating.response_id == Response.id)
                .where(
                    Response.pair_id == pair.id,
                    Rating.user_id == user.id,
                    *(getattr(Rating, c).is_not(None) for c in CRITERIA),
                )
            )
            or 0
        )
        status = "todo" if n_done == 0 else ("done" if n_done == n_resp else "partial")
        out.append(
            {
                "pair_id": pair.id,
                "session_id": pair.session.session_id,
                "turn_index": pair.turn_index,
                "text": pair.client_text[:140],
                "responses": n_resp,
                "status": status,
            }
        )
    return out


# ------------------------------------------------------------------------------------------ pairs


def blind_order(secret: str, user_id: int, public_ids: Sequence[str]) -> list[str]:
    """The per-rater random order of a pair's responses: sorted by ``HMAC(secret, user:id)``.

    Stable for one rater (a reload shows the same order), different between raters and pairs,
    and unpredictable without the instance secret.
    """

    def key(pid: str) -> str:
        return hmac.new(secret.encode(), f"{user_id}:{pid}".encode(), hashlib.sha256).hexdigest()

    return sorted(public_ids, key=key)


def rating_dict(r: Rating | None) -> dict[str, Any]:
    if r is None:
        return {**dict.fromkeys(CRITERIA), "version": 0}
    return {**{c: getattr(r, c) for c in CRITERIA}, "version": r.version}


def rating_view(s: Session, user: User, pair_id: int, *, config: AppConfig) -> dict[str, Any]:
    """The rating page: context and the responses, blinded (no system) and in the rater's order."""
    if user.role != "expert":
        raise Forbidden("Only experts rate responses.", "Log in as an expert.")
    pair = _pair_for(s, user, pair_id, ("rate",))
    responses = {r.public_id: r for r in s.scalars(sa.select(Response).where(Response.pair_id == pair.id))}
    mine = {
        r.response_id: r
        for r in s.scalars(
            sa.select(Rating).where(
                Rating.user_id == user.id, Rating.response_id.in_([x.id for x in responses.values()])
            )
        )
    }
    order = blind_order(blind_secret(s), user.id, list(responses))
    queue = rating_queue(s, user)
    prev_id, next_id = _neighbours(queue, pair.id)
    return {
        "pair_id": pair.id,
        "session_id": pair.session.session_id,
        "turn_index": pair.turn_index,
        "frame_url": f"/media/{pair.frame_media_id}" if pair.frame_media_id else None,
        "context": context(s, pair, turns_before=config.context_turns),
        "responses": [
            {
                "response_id": pid,
                "label": f"Response {chr(ord('A') + i)}" if i < 26 else f"Response {i + 1}",
                "technique": responses[pid].technique,
                "text": responses[pid].text,
                "rating": rating_dict(mine.get(responses[pid].id)),
            }
            for i, pid in enumerate(order)
        ],
        "prev_id": prev_id,
        "next_id": next_id,
        "position": [q["pair_id"] for q in queue].index(pair.id) + 1 if queue else None,
        "total": len(queue),
    }


def save_rating(s: Session, user: User, public_id: str, body: RatingIn, *, now: datetime) -> dict[str, Any]:
    if user.role != "expert":
        raise Forbidden("Only experts rate responses.", "Log in as an expert.")
    resp = s.scalar(sa.select(Response).where(Response.public_id == public_id))
    if resp is None or not _may(s, user, resp.pair_id, ("rate",)):
        raise NotFound("No such response in your assignments.", "Open responses from your rating queue.")
    rating = s.scalar(sa.select(Rating).where(Rating.response_id == resp.id, Rating.user_id == user.id))
    done = s.scalar(sa.select(RatingRevision).where(RatingRevision.op_id == body.op_id))  # after: see above
    if done is not None:
        rating = s.get(Rating, done.rating_id, populate_existing=True)
        if rating is None or rating.response_id != resp.id or rating.user_id != user.id:
            raise Conflict("This op_id was used for another save.", "Generate a new op_id for each save.")
        return {"rating": rating_dict(rating), "replayed": True, "version": done.version}
    current = rating.version if rating is not None else 0
    if body.base_version != current:
        raise Conflict(
            f"The rating changed since version {body.base_version} (now {current}).",
            "Reload the page.",
            current=rating_dict(rating),
        )
    values = {c: getattr(body, c) for c in CRITERIA}
    if rating is None:
        rating = Rating(response_id=resp.id, user_id=user.id, version=0, created_at=now)
        s.add(rating)
        s.flush()
    res: sa.CursorResult[Any] = s.execute(  # type: ignore[assignment]  # an UPDATE gives a CursorResult
        sa.update(Rating)
        .where(Rating.id == rating.id, Rating.version == current)
        .values(**values, version=current + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raced = s.scalar(sa.select(RatingRevision).where(RatingRevision.op_id == body.op_id))
        if raced is not None and raced.rating_id == rating.id:
            s.refresh(rating)
            return {"rating": rating_dict(rating), "replayed": True, "version": raced.version}
        raise Conflict("The rating was saved concurrently.", "Reload the page.")
    s.add(
        RatingRevision(
            rating_id=rating.id, op_id=body.op_id, version=current + 1, values=values, saved_at=now
        )
    )
    s.flush()
    s.refresh(rating)
    return {"rating": rating_dict(rating), "replayed": False, "version": current + 1}
