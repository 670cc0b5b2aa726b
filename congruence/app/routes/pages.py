"""The HTML pages of raters and admins, and media by id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from congruence.app import store
from congruence.app.routes.common import Admin, AnyUser, Ctx, Expert, Id, Order, Rater, order_of, page
from congruence.app.schemas import CRITERIA_STATEMENTS
from congruence.schema import ENGAGEMENT_RANGES

router = APIRouter()


@router.get("/annotate", response_class=HTMLResponse)
def queue_page(request: Request, a: Rater, st: Ctx, order: Order = None) -> Response:
    kind = "annotate" if a.user.role == "annotator" else "review"
    o = order_of(st, order)
    with st.db.read() as s:
        items = store.annotation_queue(s, a.user, kind=kind, order=o)
    return page(request, "queue.html", a, items=items, order=o, kind=kind)


@router.get("/annotate/{pair_id:int}", response_class=HTMLResponse)
def annotate_page(request: Request, pair_id: Id, a: Rater, st: Ctx, order: Order = None) -> Response:
    with st.db.read() as s:
        view = store.pair_view(s, a.user, pair_id, config=st.config, order=order_of(st, order))
    return page(request, "annotate.html", a, view=view, ranges=ENGAGEMENT_RANGES)


@router.get("/rate", response_class=HTMLResponse)
def rate_queue_page(request: Request, a: Expert, st: Ctx) -> Response:
    with st.db.read() as s:
        items = store.rating_queue(s, a.user)
    return page(request, "rate_queue.html", a, items=items)


@router.get("/rate/{pair_id:int}", response_class=HTMLResponse)
def rate_page(request: Request, pair_id: Id, a: Expert, st: Ctx) -> Response:
    with st.db.read() as s:
        view = store.rating_view(s, a.user, pair_id, config=st.config)
    return page(request, "rate.html", a, view=view, statements=CRITERIA_STATEMENTS)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, a: Admin, st: Ctx) -> Response:
    with st.db.read() as s:
        data = {
            "users": store.list_users(s),
            "sessions": store.list_sessions(s),
            "samples": store.validation_samples(s),
            "settings": store.effective_settings(s, st.config),
            "progress": store.progress(s),
        }
    return page(request, "admin.html", a, data=data)


@router.get("/media/{media_id:int}")
def media(media_id: Id, a: AnyUser, st: Ctx) -> Response:
    with st.db.read() as s:
        m = store.media_for(s, a.user, media_id)
        data, mime = m.data, m.mime
    return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})
