"""The JSON API of annotators and experts: queues, pairs, autosave, estimates, ratings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from congruence.app import store
from congruence.app.routes.common import AnyUser, Ctx, Expert, Id, Order, Rater, once_more_on_race, order_of
from congruence.app.schemas import AnnotationIn, RatingIn

router = APIRouter()


@router.get("/api/me")
def me(a: AnyUser) -> dict[str, Any]:
    return {"username": a.user.username, "role": a.user.role, "csrf_token": a.csrf}


@router.get("/api/queue")
def api_queue(a: Rater, st: Ctx, order: Order = None) -> list[dict[str, Any]]:
    kind = "annotate" if a.user.role == "annotator" else "review"
    with st.db.read() as s:
        return store.annotation_queue(s, a.user, kind=kind, order=order_of(st, order))


@router.get("/api/pairs/{pair_id:int}")
def api_pair(pair_id: Id, a: Rater, st: Ctx, order: Order = None) -> dict[str, Any]:
    with st.db.read() as s:
        return store.pair_view(s, a.user, pair_id, config=st.config, order=order_of(st, order))


@router.put("/api/pairs/{pair_id:int}/annotation")
def api_save_annotation(pair_id: Id, body: AnnotationIn, a: Rater, st: Ctx) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with st.db.write() as s:
            shown = store.effective_settings(s, st.config)["model_estimates"] == "shown"
            return store.save_annotation(s, a.user, pair_id, body, now=store.now_utc(), estimates_shown=shown)

    return once_more_on_race(work)


@router.post("/api/pairs/{pair_id:int}/estimates")
def api_estimates(pair_id: Id, a: Rater, st: Ctx) -> list[dict[str, Any]]:
    with st.db.write() as s:
        return store.reveal_estimates(s, a.user, pair_id, config=st.config)


@router.get("/api/rate")
def api_rate_queue(a: Expert, st: Ctx) -> list[dict[str, Any]]:
    with st.db.read() as s:
        return store.rating_queue(s, a.user)


@router.get("/api/rate/{pair_id:int}")
def api_rate(pair_id: Id, a: Expert, st: Ctx) -> dict[str, Any]:
    with st.db.read() as s:
        return store.rating_view(s, a.user, pair_id, config=st.config)


@router.put("/api/responses/{public_id}/rating")
def api_save_rating(
    public_id: Annotated[str, Path(max_length=200)], body: RatingIn, a: Expert, st: Ctx
) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with st.db.write() as s:
            return store.save_rating(s, a.user, public_id[:64], body, now=store.now_utc())

    return once_more_on_race(work)
