"""ASGI middleware: security headers on every response, and a nesting limit on JSON bodies.

:class:`SecurityHeaders` must wrap Starlette's error handling (``ServerErrorMiddleware``), or a 500
goes out without them: :class:`HardenedFastAPI` puts it outside the whole middleware stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
#: Deepest JSON nesting accepted (the API's bodies are two levels deep).
MAX_JSON_DEPTH = 32
#: Routes whose body is a file (read as bytes, never parsed as JSON by the framework).
RAW_BODY_PREFIXES = ("/api/admin/import/",)

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth(raw: bytes, *, stop_at: int = MAX_JSON_DEPTH) -> int:
    """Deepest bracket nesting of a JSON text (strings skipped); stops counting past ``stop_at``."""
    if raw.count(b"[") + raw.count(b"{") <= stop_at:
        return raw.count(b"[") + raw.count(b"{")  # an upper bound, cheap and enough
    depth = deepest = 0
    for m in _TOKENS.finditer(raw):
        tok = m.group()
        if tok in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_at:
                break
        elif tok in (b"]", b"}"):
            depth -= 1
    return deepest


class SecurityHeaders:
    """Adds the security headers to every HTTP response the wrapped app sends."""

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


class JsonGuard:
    """Refuses (400) a JSON body nested deeper than :data:`MAX_JSON_DEPTH` before any route parses it.

    Python's JSON parser recurses, so a body of 30,000 ``[`` ends in ``RecursionError``; every body
    the framework may parse as JSON (a JSON content type, or none) is buffered, up to
    ``max_bytes`` (413 beyond), checked, and replayed to the app.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        ctype = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"").lower()
        if (ctype and b"json" not in ctype) or scope["path"].startswith(RAW_BODY_PREFIXES):
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, "The request body is too large.", "Send a smaller body.")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if json_depth(raw) > MAX_JSON_DEPTH:
            await _refuse(
                send,
                400,
                f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
                "Send the documented request body.",
            )
            return
        await self.app(scope, _replay(raw, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body first, then the real channel (which reports a disconnect)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(send: Send, status: int, problem: str, fix: str) -> None:
    body = json.dumps({"detail": problem, "fix": fix}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HardenedFastAPI(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside Starlette's ``ServerErrorMiddleware``."""

    def build_middleware_stack(self) -> Any:
        return SecurityHeaders(super().build_middleware_stack())
