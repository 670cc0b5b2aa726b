"""Fixtures of the app tests: a real analysed session, app instances, a throwaway PostgreSQL."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from congruence.app.config import AppConfig
from congruence.app.web import create_app

from .helpers import zip_folder


@pytest.fixture(scope="session")
def analysed_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo session (real face video, synthetic speech) through the real `analyze` pipeline."""
    from congruence.analyze import analyze
    from congruence.examples import build_demo_session

    root = tmp_path_factory.mktemp("analysed")
    media, transcript = build_demo_session(root / "session")
    analyze(media, transcript=transcript, out_dir=root, session_id="demo")
    return root


@pytest.fixture(scope="session")
def session_zip(analysed_session: Path) -> bytes:
    return zip_folder(analysed_session)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Factory: an app on a fresh SQLite database (or ``database_url=``), cheap password hashing."""
    apps = []

    def make(**overrides: object) -> object:
        config = AppConfig(data_dir=tmp_path / f"data{len(apps)}", password_profile="cheapest", **overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.db.dispose()


# ------------------------------------------------------------------------------- PostgreSQL
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the tests: ``$CONGRUENCE_TEST_POSTGRES_URL`` (an admin URL of a running
    server, e.g. from CI), else a throwaway cluster (initdb + pg_ctl on 127.0.0.1, a free port, a
    temporary folder) started as the ``postgres`` user when the tests run as root.

    Yields a server URL without a database name.
    """
    url = os.environ.get("CONGRUENCE_TEST_POSTGRES_URL")
    if url:
        yield url.rstrip("/")
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: `apt-get install postgresql`")
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            pytest.skip("running as root and there is no 'postgres' user to run the test server")
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="congruence-pg-"))
    if run_as:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    cmd = [initdb, "-D", str(data), "-U", "congruence", "--auth=trust", "-E", "UTF8", "--no-sync"]
    subprocess.run(run_as + cmd, check=True, capture_output=True)
    opts = f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    start = [pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start"]
    proc = subprocess.run(run_as + start, capture_output=True, text=True)
    if proc.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {proc.stderr}\n{log}")
    try:
        yield f"postgresql+psycopg://congruence@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped afterwards)."""
    import sqlalchemy as sa

    name = f"congruence_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server}/{name}"
    finally:
        with admin.connect() as c, contextlib.suppress(Exception):
            c.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()
