"""The FastAPI application: HTML pages for raters and admins, and the JSON API they use.

The routes live in :mod:`congruence.app.routes` (one router per audience); this module builds the
app: database, middleware, error replies. Security model (each point is exercised by
``tests/app/test_security.py`` and ``tests/app/test_hardening.py``):

- every page and API route except ``/login`` and ``/static`` needs a login session cookie
  (HttpOnly, SameSite=Lax, ``Secure`` when configured); an expired session gets 401 (API) or a
  redirect to the login page (pages);
- every state-changing request (POST / PUT / PATCH / DELETE) must carry the session's CSRF token
  in ``X-CSRF-Token`` (403 otherwise); the login form uses a double-submit cookie;
- logins are throttled per client, per user name and per device cookie with exponential backoff
  (:mod:`congruence.app.throttle`); argon2 runs outside any database lock (:mod:`congruence.app.auth`);
- ids that are not the caller's get 404, exactly like ids that do not exist; ids beyond BIGINT 422;
- media are served by integer id after an access check; no route takes a file path;
- request bodies are limited (``max_json_bytes``, uploads ``max_upload_bytes``: 413 beyond), and
  JSON nesting too (400);
- malformed values get 422 naming the field (strict types: no ``true`` for 1.0, no ``"0.5"``);
- every response, a 500 included, carries a strict Content-Security-Policy (no inline script),
  ``X-Frame-Options: DENY`` and ``nosniff`` (:mod:`congruence.app.middleware`).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError

from congruence.app import security, store
from congruence.app.auth import make_throttle
from congruence.app.config import AppConfig
from congruence.app.db import Database
from congruence.app.middleware import HardenedFastAPI, JsonGuard
from congruence.app.routes import ROUTERS
from congruence.app.routes.common import (
    HERE,
    SESSION_COOKIE,
    CsrfFailed,
    NotAuthenticated,
    error_page,
    status_of,
    wants_json,
)
from congruence.errors import CongruenceError


def create_app(config: AppConfig | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the application; the database is migrated to the newest schema here."""
    config = config or AppConfig()
    db = database or Database(config=config)
    db.migrate()
    with db.write() as s:
        store.blind_secret(s)  # created once here, so the rating views stay read-only
        device_secret = store.instance_secret(s, "device_secret")
    security.dummy_hash(config.password_profile)  # computed now, so the first unknown name costs no more

    app = HardenedFastAPI(
        title="congruence annotation",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        max_body_size=config.max_json_bytes,
    )
    app.state.config = config
    app.state.db = db
    app.state.login_throttle = make_throttle(config)
    app.state.device_secret = device_secret
    app.add_middleware(JsonGuard, max_bytes=config.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CongruenceError)
    async def _congruence_error(request: Request, exc: CongruenceError) -> Response:
        if isinstance(exc, store.Conflict) and exc.current is not None:
            return JSONResponse(
                {"detail": exc.problem, "fix": exc.fix, "current": exc.current}, status_code=409
            )
        return error_page(request, status_of(exc), exc.problem, exc.fix)

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
