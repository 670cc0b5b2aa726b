"""The FastAPI application: HTML pages for raters and admins, and the JSON API they use.

Security model (each point is exercised by ``tests/app/test_security.py``):

- every page and API route except ``/login`` and ``/static`` needs a login session cookie
  (HttpOnly, SameSite=Lax, ``Secure`` when configured); an expired session gets 401 (API) or a
  redirect to the login page (pages);
- every state-changing request (POST / PUT / PATCH / DELETE) must carry the session's CSRF token
  in ``X-CSRF-Token`` (403 otherwise); the login form uses a double-submit cookie;
- ids that are not the caller's get 404, exactly like ids that do not exist;
- media are served by integer id after an access check; no route takes a file path;
- request bodies are limited (``max_json_bytes``, uploads ``max_upload_bytes``: 413 beyond);
- malformed values get 422 naming the field; responses carry a strict Content-Security-Policy
  (no inline script), ``X-Frame-Options: DENY`` and ``nosniff``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from congruence.app import exporting, importing, store
from congruence.app.config import AppConfig
from congruence.app.db import Database
from congruence.app.models import User
from congruence.app.schemas import (
    CRITERIA_STATEMENTS,
    AnnotationIn,
    AssignIn,
    LoginIn,
    RatingIn,
    SampleIn,
    SettingsIn,
    UserIn,
    UserPatch,
)
from congruence.app.security import new_token, tokens_match
from congruence.errors import CongruenceError
from congruence.schema import ENGAGEMENT_RANGES

HERE = Path(__file__).parent
SESSION_COOKIE = "congruence_session"
LOGIN_CSRF_COOKIE = "congruence_login_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Refresh ``last_seen_at`` at most this often (a write per request would slow every save).
TOUCH_EVERY = timedelta(seconds=30)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class NotAuthenticated(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class CsrfFailed(Exception):
    pass


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Auth:
    user: User
    login_id: int
    csrf: str


def auth(request: Request) -> Auth:
    """The logged-in caller; checks the CSRF token of state-changing requests."""
    db: Database = request.app.state.db
    config: AppConfig = request.app.state.config
    token = request.cookies.get(SESSION_COOKIE)
    now = store.now_utc()
    with db.read() as s:
        login, reason = store.find_login(s, token, config=config, now=now)
        if login is None:
            raise NotAuthenticated(reason)
        result = Auth(user=login.user, login_id=login.id, csrf=login.csrf_token)
        stale = now - login.last_seen_at > TOUCH_EVERY
    if stale:
        with db.write() as s:
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


def _status_of(exc: CongruenceError) -> int:
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


def create_app(config: AppConfig | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the application; the database is migrated to the newest schema here."""
    config = config or AppConfig()
    db = database or Database(config=config)
    db.migrate()
    with db.write() as s:
        store.blind_secret(s)  # created once here, so the rating views stay read-only
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    app = FastAPI(
        title="congruence annotation",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        max_body_size=config.max_json_bytes,
    )
    app.state.config = config
    app.state.db = db
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # ------------------------------------------------------------------ errors
    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/") or (
            request.url.path == "/login" and "json" in (request.headers.get("content-type") or "")
        )

    def error_page(request: Request, status: int, problem: str, fix: str = "") -> Response:
        if wants_json(request):
            return JSONResponse({"detail": problem, "fix": fix}, status_code=status)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "problem": problem, "fix": fix, "me": None},
            status_code=status,
        )

    @app.exception_handler(CongruenceError)
    async def _congruence_error(request: Request, exc: CongruenceError) -> Response:
        status = _status_of(exc)
        if isinstance(exc, store.Conflict) and exc.current is not None:
            return JSONResponse(
                {"detail": exc.problem, "fix": exc.fix, "current": exc.current}, status_code=409
            )
        return error_page(request, status, exc.problem, exc.fix)

    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        problem = "Your session has expired." if exc.reason == "expired" else "You are not logged in."
        if wants_json(request):
            resp: Response = JSONResponse({"detail": problem, "fix": "Log in again."}, status_code=401)
        else:
            target = f"/login?next={quote(request.url.path)}" + (
                "&expired=1" if exc.reason == "expired" else ""
            )
            resp = RedirectResponse(target, status_code=303)
        if exc.reason in ("expired", "inactive"):
            resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return error_page(
            request, 403, "The CSRF token is missing or wrong.", "Reload the page and try again."
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        # two concurrent saves raced past the checks (PostgreSQL); the client retries the same op_id
        return error_page(request, 409, "A concurrent change clashed with this one.", "Retry the save.")

    def page(
        request: Request, name: str, a: Auth | None, *, status_code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        me = {"username": a.user.username, "role": a.user.role} if a else None
        return templates.TemplateResponse(
            request,
            name,
            {"me": me, "csrf": a.csrf if a else "", **ctx},
            status_code=status_code,
            headers={"Cache-Control": "no-store"},
        )

    def order_of(requested: str | None) -> str:
        if requested in ("session", "disagreement"):
            return requested
        with db.read() as s:
            return store.effective_settings(s, config)["queue_order"]

    # ------------------------------------------------------------------ login
    def _login_token(request: Request) -> tuple[str, bool]:
        existing = request.cookies.get(LOGIN_CSRF_COOKIE)
        if existing and 20 <= len(existing) <= 100:
            return existing, False
        return new_token(), True

    def _set_login_cookie(resp: Response, token: str) -> None:
        kw = {"httponly": True, "samesite": "strict", "secure": config.cookie_secure}
        for path in ("/login", "/api/login"):
            resp.set_cookie(LOGIN_CSRF_COOKIE, token, path=path, **kw)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/", expired: int = 0) -> Response:
        token, fresh = _login_token(request)
        resp = page(
            request, "login.html", None, login_csrf=token, next=_safe_next(next), expired=bool(expired)
        )
        if fresh:
            _set_login_cookie(resp, token)
        return resp

    @app.get("/api/login")
    def login_token(request: Request) -> Response:
        """For API clients: the login CSRF token (and its cookie) to send with POST /login."""
        token, fresh = _login_token(request)
        resp = JSONResponse({"csrf_token": token})
        if fresh:
            _set_login_cookie(resp, token)
        return resp

    @app.post("/login")
    async def login(request: Request) -> Response:
        ctype = request.headers.get("content-type") or ""
        raw = await request.body()
        is_json = "json" in ctype
        try:
            if is_json:
                data = json.loads(raw or b"{}")
                if not isinstance(data, dict):
                    raise ValueError
            else:
                data = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
            next_url = _safe_next(str(data.pop("next", "/")))
            body = LoginIn.model_validate(data)
        except (ValueError, UnicodeDecodeError, ValidationError):
            return error_page(request, 422, "The login form is malformed.", "Send username and password.")
        sent = body.csrf_token or request.headers.get(CSRF_HEADER)
        if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), sent):
            raise CsrfFailed()

        def work() -> tuple[str, str, str]:
            now = store.now_utc()
            with db.write() as s:
                try:
                    user = store.authenticate(s, body.username, body.password, config=config, now=now)
                except (store.AuthFailed, store.LockedOut) as exc:
                    failure: CongruenceError | None = exc
                else:
                    failure = None
                    token, login = store.create_login(s, user, config=config, now=now)
                    result = (token, login.csrf_token, user.role)
            # the failed-login counter must be committed, so the error is raised after the block
            if failure is not None:
                raise failure
            return result

        try:
            token, csrf, role_name = await run_in_threadpool(work)
        except (store.AuthFailed, store.LockedOut) as exc:
            if is_json:
                return JSONResponse({"detail": exc.problem, "fix": exc.fix}, status_code=_status_of(exc))
            return page(
                request,
                "login.html",
                None,
                login_csrf=request.cookies.get(LOGIN_CSRF_COOKIE),
                next=next_url,
                error=exc.problem,
                status_code=_status_of(exc),
            )
        resp: Response
        if is_json:
            resp = JSONResponse({"role": role_name, "csrf_token": csrf})
        else:
            resp = RedirectResponse(next_url if next_url != "/" else _home(role_name), status_code=303)
        resp.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=config.cookie_secure,
            path="/",
            max_age=int(config.session_max_hours * 3600),
        )
        return resp

    @app.post("/logout")
    def logout(request: Request, a: AnyUser) -> Response:
        with db.write() as s:
            store.delete_login(s, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/")
    def home(a: AnyUser) -> Response:
        target = _home(a.user.role)
        if a.user.role == "expert":
            with db.read() as s:
                reviews = store.annotation_queue(s, a.user, kind="review", order="session")
            if not any(q["status"] != "done" for q in reviews):
                target = "/rate"
        return RedirectResponse(target, status_code=303)

    # ------------------------------------------------------------------ pages
    @app.get("/annotate", response_class=HTMLResponse)
    def queue_page(request: Request, a: Rater, order: str | None = None) -> Response:
        kind = "annotate" if a.user.role == "annotator" else "review"
        o = order_of(order)
        with db.read() as s:
            items = store.annotation_queue(s, a.user, kind=kind, order=o)
        return page(request, "queue.html", a, items=items, order=o, kind=kind)

    @app.get("/annotate/{pair_id:int}", response_class=HTMLResponse)
    def annotate_page(request: Request, pair_id: int, a: Rater, order: str | None = None) -> Response:
        with db.read() as s:
            view = store.pair_view(s, a.user, pair_id, config=config, order=order_of(order))
        return page(request, "annotate.html", a, view=view, ranges=ENGAGEMENT_RANGES)

    @app.get("/rate", response_class=HTMLResponse)
    def rate_queue_page(request: Request, a: Expert) -> Response:
        with db.read() as s:
            items = store.rating_queue(s, a.user)
        return page(request, "rate_queue.html", a, items=items)

    @app.get("/rate/{pair_id:int}", response_class=HTMLResponse)
    def rate_page(request: Request, pair_id: int, a: Expert) -> Response:
        with db.read() as s:
            view = store.rating_view(s, a.user, pair_id, config=config)
        return page(request, "rate.html", a, view=view, statements=CRITERIA_STATEMENTS)

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request, a: Admin) -> Response:
        with db.read() as s:
            data = {
                "users": store.list_users(s),
                "sessions": store.list_sessions(s),
                "samples": store.validation_samples(s),
                "settings": store.effective_settings(s, config),
                "progress": store.progress(s),
            }
        return page(request, "admin.html", a, data=data)

    @app.get("/media/{media_id:int}")
    def media(media_id: int, a: AnyUser) -> Response:
        with db.read() as s:
            m = store.media_for(s, a.user, media_id)
            data, mime = m.data, m.mime
        return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})

    # ------------------------------------------------------------------ rater API
    @app.get("/api/me")
    def me(a: AnyUser) -> dict[str, Any]:
        return {"username": a.user.username, "role": a.user.role, "csrf_token": a.csrf}

    @app.get("/api/queue")
    def api_queue(a: Rater, order: str | None = None) -> list[dict[str, Any]]:
        kind = "annotate" if a.user.role == "annotator" else "review"
        with db.read() as s:
            return store.annotation_queue(s, a.user, kind=kind, order=order_of(order))

    @app.get("/api/pairs/{pair_id:int}")
    def api_pair(pair_id: int, a: Rater, order: str | None = None) -> dict[str, Any]:
        with db.read() as s:
            return store.pair_view(s, a.user, pair_id, config=config, order=order_of(order))

    @app.put("/api/pairs/{pair_id:int}/annotation")
    def api_save_annotation(pair_id: int, body: AnnotationIn, a: Rater) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with db.write() as s:
                shown = store.effective_settings(s, config)["model_estimates"] == "shown"
                return store.save_annotation(
                    s, a.user, pair_id, body, now=store.now_utc(), estimates_shown=shown
                )

        return _once_more_on_race(work)

    @app.post("/api/pairs/{pair_id:int}/estimates")
    def api_estimates(pair_id: int, a: Rater) -> list[dict[str, Any]]:
        with db.write() as s:
            return store.reveal_estimates(s, a.user, pair_id, config=config)

    @app.get("/api/rate")
    def api_rate_queue(a: Expert) -> list[dict[str, Any]]:
        with db.read() as s:
            return store.rating_queue(s, a.user)

    @app.get("/api/rate/{pair_id:int}")
    def api_rate(pair_id: int, a: Expert) -> dict[str, Any]:
        with db.read() as s:
            return store.rating_view(s, a.user, pair_id, config=config)

    @app.put("/api/responses/{public_id}/rating")
    def api_save_rating(public_id: str, body: RatingIn, a: Expert) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with db.write() as s:
                return store.save_rating(s, a.user, public_id[:64], body, now=store.now_utc())

        return _once_more_on_race(work)

    # ------------------------------------------------------------------ admin API
    @app.get("/api/admin/users")
    def api_users(a: Admin) -> list[dict[str, Any]]:
        with db.read() as s:
            return store.list_users(s)

    @app.post("/api/admin/users", status_code=201)
    def api_create_user(body: UserIn, a: Admin) -> dict[str, Any]:
        with db.write() as s:
            u = store.create_user(s, body.username, body.password, body.role, config=config)
            return {"username": u.username, "role": u.role, "active": u.active}

    @app.patch("/api/admin/users/{username}")
    def api_patch_user(username: str, body: UserPatch, a: Admin) -> dict[str, Any]:
        if username == a.user.username and body.active is False:
            raise store.Forbidden("You cannot deactivate your own account.", "Ask another admin.")
        with db.write() as s:
            u = store.update_user(s, username, config=config, active=body.active, password=body.password)
            return {"username": u.username, "role": u.role, "active": u.active}

    @app.get("/api/admin/progress")
    def api_progress(a: Admin) -> list[dict[str, Any]]:
        with db.read() as s:
            return store.progress(s)

    @app.get("/api/admin/sessions")
    def api_sessions(a: Admin) -> list[dict[str, Any]]:
        with db.read() as s:
            return store.list_sessions(s)

    @app.post("/api/admin/import/session", status_code=201, max_body_size=config.max_upload_bytes)
    async def api_import_session(
        request: Request, a: Admin, session_id: Annotated[str | None, Query(max_length=200)] = None
    ) -> dict[str, Any]:
        data = await request.body()

        def work() -> dict[str, Any]:
            with importing.unpacked_session_zip(data, max_bytes=config.max_upload_bytes) as folder:
                parsed = importing.read_analysed_session(folder, session_id=session_id or None)
            with db.write() as s:
                return store.import_session(s, parsed)

        return await run_in_threadpool(work)

    @app.post("/api/admin/import/responses", status_code=201, max_body_size=config.max_upload_bytes)
    async def api_import_responses(
        request: Request,
        a: Admin,
        filename: Annotated[str, Query(max_length=300)] = "responses.jsonl",
        system: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        data = await request.body()

        def work() -> dict[str, Any]:
            rows = importing.parse_responses(data, importing.response_format(filename), system=system or None)
            with db.write() as s:
                return store.import_responses(s, rows, source=Path(filename).name)

        return await run_in_threadpool(work)

    @app.post("/api/admin/assign")
    def api_assign(body: AssignIn, a: Admin) -> dict[str, Any]:
        with db.write() as s:
            return store.assign(
                s, body.usernames, session_ids=body.session_ids, kind=body.kind, mode=body.mode
            )

    @app.post("/api/admin/samples", status_code=201)
    def api_sample(body: SampleIn, a: Admin) -> dict[str, Any]:
        with db.write() as s:
            return store.create_validation_sample(
                s, share=body.share, seed=body.seed, experts=body.experts, created_by=a.user
            )

    @app.get("/api/admin/samples")
    def api_samples(a: Admin) -> list[dict[str, Any]]:
        with db.read() as s:
            return store.validation_samples(s)

    @app.get("/api/admin/agreement")
    def api_agreement(a: Admin, sample_id: int | None = None) -> dict[str, Any]:
        with db.read() as s:
            return store.agreement_report(s, sample_id=sample_id)

    @app.get("/api/admin/settings")
    def api_settings(a: Admin) -> dict[str, str]:
        with db.read() as s:
            return store.effective_settings(s, config)

    @app.put("/api/admin/settings")
    def api_put_settings(body: SettingsIn, a: Admin) -> dict[str, str]:
        with db.write() as s:
            for key, value in body.model_dump(exclude_none=True).items():
                store.set_setting(s, key, value)
            return store.effective_settings(s, config)

    @app.get("/api/admin/export/annotations")
    def api_export_annotations(
        a: Admin,
        format: str = "csv",
        mode: str = "final",
    ) -> Response:
        if format not in exporting.FORMATS or mode not in ("final", "all"):
            raise CongruenceError(
                "Unknown export format or mode.", "format: csv, parquet, json; mode: final, all."
            )
        with db.read() as s:
            df = exporting.annotations_table(s, mode=mode)  # type: ignore[arg-type]
        data, media_type = exporting.to_bytes(df, format)
        return Response(data, media_type=media_type, headers=_attachment(f"annotations-{mode}.{format}"))

    @app.get("/api/admin/export/ratings")
    def api_export_ratings(a: Admin, format: str = "csv") -> Response:
        if format not in ("csv", "json"):
            raise CongruenceError("Ratings export as csv or json.", "Pass format=csv or format=json.")
        with db.read() as s:
            df = exporting.ratings_table(s)
        data, media_type = exporting.to_bytes(df, format)
        return Response(data, media_type=media_type, headers=_attachment(f"ratings.{format}"))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(x) for x in e.get("loc", ()) if x != "body"), "problem": e.get("msg")}
            for e in exc.errors()
        ]
        problem = "; ".join(f"{e['field']}: {e['problem']}" for e in errors) or "The request is malformed."
        if wants_json(request):
            return JSONResponse(
                {"detail": problem, "errors": errors, "fix": "Correct the values."}, status_code=422
            )
        return error_page(request, 422, problem, "Correct the values.")

    return app


def _once_more_on_race(work: Any) -> Any:
    """Run a save; if a concurrent first save of the same record won a unique index (PostgreSQL),
    run it again: the second run sees the winner and answers with a replay or a 409 conflict."""
    try:
        return work()
    except IntegrityError:
        return work()


def _home(role: str) -> str:
    return {"admin": "/admin", "annotator": "/annotate", "expert": "/"}.get(role, "/login")


def _safe_next(target: str) -> str:
    """Only same-site paths after login (an open redirect would help phishing)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return "/"
    return target


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
