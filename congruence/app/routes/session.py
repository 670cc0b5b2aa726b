"""Logging in and out, and where ``/`` leads (see :mod:`congruence.app.auth` for the login decision)."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from congruence.app import auth as login_logic
from congruence.app import store
from congruence.app.routes.common import (
    CSRF_HEADER,
    DEVICE_COOKIE,
    FIRST_PAGE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AnyUser,
    CsrfFailed,
    Ctx,
    error_page,
    home_of,
    page,
    safe_next,
    status_of,
)
from congruence.app.schemas import LoginIn
from congruence.app.security import new_token, tokens_match

router = APIRouter()

#: How long a browser stays recognised as one a user logged in from (device cookie).
DEVICE_COOKIE_DAYS = 365


def _login_token(request: Request) -> tuple[str, bool]:
    existing = request.cookies.get(LOGIN_CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing, False
    return new_token(), True


def _set_login_cookie(resp: Response, token: str, secure: bool) -> None:
    for path in ("/login", "/api/login"):
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, path=path, httponly=True, samesite="strict", secure=secure)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    st: Ctx,
    next: Annotated[str, Query(max_length=2000)] = "/",
    expired: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    token, fresh = _login_token(request)
    resp = page(request, "login.html", None, login_csrf=token, next=safe_next(next), expired=bool(expired))
    if fresh:
        _set_login_cookie(resp, token, st.config.cookie_secure)
    return resp


@router.get("/api/login")
def login_token(request: Request, st: Ctx) -> Response:
    """For API clients: the login CSRF token (and its cookie) to send with POST /login."""
    token, fresh = _login_token(request)
    resp = JSONResponse({"csrf_token": token})
    if fresh:
        _set_login_cookie(resp, token, st.config.cookie_secure)
    return resp


def _form(raw: bytes, is_json: bool) -> dict[str, object]:
    if is_json:
        data = json.loads(raw or b"{}")
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}


@router.post("/login")
async def login(request: Request, st: Ctx) -> Response:
    ctype = request.headers.get("content-type") or ""
    is_json = "json" in ctype
    try:
        data = _form(await request.body(), is_json)
        next_url = safe_next(str(data.pop("next", "/")))
        body = LoginIn.model_validate(data)
    except (ValueError, RecursionError, UnicodeDecodeError, ValidationError):
        return error_page(request, 422, "The login form is malformed.", "Send username and password.")
    sent = body.csrf_token or request.headers.get(CSRF_HEADER)
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), sent):
        raise CsrfFailed()
    try:
        done = await run_in_threadpool(
            login_logic.log_in,
            st.db,
            st.config,
            st.throttle,
            st.device_secret,
            username=body.username,
            password=body.password,
            client=request.client.host if request.client else "unknown",
            device=request.cookies.get(DEVICE_COOKIE),
            now=store.now_utc(),
        )
    except (store.AuthFailed, store.LockedOut) as exc:
        wait = getattr(exc, "retry_after_s", 0)
        headers = {"Retry-After": str(wait)} if wait else {}
        if is_json:
            extra = {"retry_after_s": wait} if wait else {}
            return JSONResponse(
                {"detail": exc.problem, "fix": exc.fix, **extra}, status_code=status_of(exc), headers=headers
            )
        failed = page(
            request,
            "login.html",
            None,
            login_csrf=request.cookies.get(LOGIN_CSRF_COOKIE),
            next=next_url,
            error=exc.problem,
            status_code=status_of(exc),
        )
        failed.headers.update(headers)
        return failed
    resp: Response
    if is_json:
        resp = JSONResponse({"role": done.role, "csrf_token": done.csrf_token})
    else:
        first = FIRST_PAGE.get(done.role, "/")  # experts: "/" decides between reviews and ratings
        resp = RedirectResponse(next_url if next_url != "/" else first, status_code=303)
    secure = st.config.cookie_secure
    max_age = int(st.config.session_max_hours * 3600)
    resp.set_cookie(
        SESSION_COOKIE, done.token, httponly=True, samesite="lax", secure=secure, path="/", max_age=max_age
    )
    resp.set_cookie(
        DEVICE_COOKIE,
        done.device_cookie,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/login",
        max_age=DEVICE_COOKIE_DAYS * 86400,
    )
    return resp


@router.post("/logout")
def logout(request: Request, a: AnyUser, st: Ctx) -> Response:
    with st.db.write() as s:
        store.delete_login(s, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/")
def home(a: AnyUser, st: Ctx) -> Response:
    return RedirectResponse(home_of(st, a.user), status_code=303)
