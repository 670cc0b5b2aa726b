"""Helpers of the app tests: users, logins, a zip of an analysed session, a live server."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from congruence.app import store

PASSWORD = "correct horse battery"
USERS = {"admin": "admin", "ann1": "annotator", "ann2": "annotator", "exp1": "expert", "exp2": "expert"}


def add_users(app: FastAPI, users: dict[str, str] | None = None) -> None:
    with app.state.db.write() as s:
        for name, role in (users or USERS).items():
            store.create_user(s, name, PASSWORD, role, config=app.state.config)


def client(app: FastAPI, username: str | None = None, password: str = PASSWORD) -> TestClient:
    """A TestClient, logged in as ``username`` (with its CSRF header set) when given."""
    c = TestClient(app, follow_redirects=False)
    if username:
        login(c, username, password)
    return c


def login(c: Any, username: str, password: str = PASSWORD) -> Any:
    token = c.get("/api/login").json()["csrf_token"]
    r = c.post("/login", json={"username": username, "password": password, "csrf_token": token})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return r


def zip_folder(folder: Path, *, prefix: str = "session/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(folder)
            if f.is_file() and rel.parts[0] not in (".cache", "session"):
                z.write(f, prefix + str(rel))
    return buf.getvalue()


def op() -> str:
    return uuid.uuid4().hex


def save(c: TestClient, pair_id: int, base_version: int, **values: Any) -> Any:
    return c.put(
        f"/api/pairs/{pair_id}/annotation", json={"op_id": op(), "base_version": base_version, **values}
    )


FULL = {"incongruence": "minimizing", "engagement": 0.55, "valence": -0.4, "arousal": 0.3, "dominance": -0.1}


@contextlib.contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port in a background thread."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
