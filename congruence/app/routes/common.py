"""What every router shares: the caller's login and role, bounded ids, pages and error replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import IntegrityError

from congruence.app import importing, store
from congruence.app.config import AppConfig
from congruence.app.db import Database
from congruence.app.models import User
from congruence.app.schemas import MAX_INT
from congruence.app.security import tokens_match
from congruence.app.throttle import LoginThrottle
from congruence.errors import CongruenceError

HERE = FsPath(__file__).resolve().parents[1]
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
SESSION_COOKIE = "congruence_session"
LOGIN_CSRF_COOKIE = "congruence_login_csrf"
DEVICE_COOKIE = "congruence_device"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Refresh ``last_seen_at`` at most this often (a write per request would slow every save).
TOUCH_EVERY = timedelta(seconds=30)

#: Ids in paths and queries: non-negative and within BIGINT (out of range: 422, never a 500).
Id = Annotated[int, Path(ge=0, le=MAX_INT)]
OptionalId = Annotated[int | None, Query(ge=0, le=MAX_INT)]
#: ``session`` or ``disagreement``; anything else falls back to the instance's default order.
Order = Annotated[str | None, Query(max_length=20)]


class NotAuthenticated(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class CsrfFailed(Exception):
    pass


@dataclass
class AppState:
    db: Database
    config: AppConfig
    throttle: LoginThrottle
    device_secret: str


def state(request: Request) -> AppState:
    s = request.app.state
    return AppState(s.db, s.config, s.login_throttle, s.device_secret)


Ctx = Annotated[AppState, Depends(state)]


@dataclass
class Auth:
    user: User
    login_id: int
    csrf: str


def auth(request: Request, st: Ctx) -> Auth:
    """The logged-in caller; checks the CSRF token of state-changing requests."""
    token = request.cookies.get(SESSION_COOKIE)
    now = store.now_utc()
    with st.db.read() as s:
        login, reason = store.find_login(s, token, config=st.config, now=now)
        if login is None:
            raise NotAuthenticated(reason)
        result = Auth(user=login.user, login_id=login.id, csrf=login.csrf_token)
        stale = now - login.last_seen_at > TOUCH_EVERY
    if stale:
        with st.db.write() as s:
            store.touch_login(s, result.login_id, now)
    if request.method not in SAFE_METHODS and not tokens_match(result.csrf, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed()
    return result


def _role(*roles: str) -> Any:
    def dep(a: Annotated[Auth, Depends(auth)]) -> Auth:
        if a.user.role not in roles:
            raise store.Forbidden(
                f"This needs the role {' or '.join(roles)}; you are {a.user.role}.",
                "Log in with another account.",
            )
        return a

    return Depends(dep)


AnyUser = Annotated[Auth, Depends(auth)]
Admin = Annotated[Auth, _role("admin")]
Rater = Annotated[Auth, _role("annotator", "expert")]
Expert = Annotated[Auth, _role("expert")]


def status_of(exc: CongruenceError) -> int:
    for cls, code in (
        (store.NotFound, 404),
        (store.Forbidden, 403),
        (store.Conflict, 409),
        (store.AuthFailed, 401),
        (store.LockedOut, 429),
        (importing.UploadTooLarge, 413),
    ):
        if isinstance(exc, cls):
            return code
    return 400


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or (
        request.url.path == "/login" and "json" in (request.headers.get("content-type") or "")
    )


def error_page(request: Request, status: int, problem: str, fix: str = "", **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": problem, "fix": fix, **extra}, status_code=status)
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {"status": status, "problem": problem, "fix": fix, "me": None},
        status_code=status,
    )


def page(request: Request, name: str, a: Auth | None, *, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    me = {"username": a.user.username, "role": a.user.role} if a else None
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"me": me, "csrf": a.csrf if a else "", **ctx},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def order_of(st: AppState, requested: str | None) -> str:
    if requested in ("session", "disagreement"):
        return requested
    with st.db.read() as s:
        return store.effective_settings(s, st.config)["queue_order"]


#: The page of a role whose work does not depend on its queue (experts: see :func:`home_of`).
FIRST_PAGE = {"admin": "/admin", "annotator": "/annotate"}


def home_of(st: AppState, user: User) -> str:
    """Where ``/`` sends a user: admins to the admin page, annotators to their queue, experts to
    their validation reviews while any is unfinished, else to the rating queue."""
    if user.role in FIRST_PAGE:
        return FIRST_PAGE[user.role]
    with st.db.read() as s:
        reviews = store.annotation_queue(s, user, kind="review", order="session")
    return "/annotate" if any(q["status"] != "done" for q in reviews) else "/rate"


def once_more_on_race(work: Any) -> Any:
    """Run a save; if a concurrent first save of the same record won a unique index (PostgreSQL),
    run it again: the second run sees the winner and answers with a replay or a 409 conflict."""
    try:
        return work()
    except IntegrityError:
        return work()


def safe_next(target: str) -> str:
    """Only same-site paths after login (an open redirect would help phishing)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return "/"
    return target


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
