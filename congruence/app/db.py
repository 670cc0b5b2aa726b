"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with ``synchronous=FULL`` (an acknowledged save survives a power cut) and
write transactions that start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
writes can fail with "database is locked" without waiting, which would turn concurrent autosaves
into errors. Writes within one process also queue on a lock so they wait in order instead of
polling the busy timeout.

The SQLite file holds password hashes and annotations: its folder is created 0700 and the file
(with its ``-wal`` / ``-shm`` files, which SQLite creates with the file's mode) 0600.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from congruence.app.config import AppConfig
from congruence.errors import CongruenceError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _private_sqlite_file(folder: Path) -> None:
    """Create the data folder 0700 and ``app.sqlite3`` 0600 before SQLite opens it."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    path = folder / "app.sqlite3"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for f in (path, folder / "app.sqlite3-wal", folder / "app.sqlite3-shm"):
        if f.exists() and f.stat().st_mode & 0o077:
            os.chmod(f, 0o600)  # a database created by an older version


class Database:
    """Engine plus session factories; ``migrate()`` brings the schema to the newest revision."""

    def __init__(self, *, config: AppConfig) -> None:
        self.url = config.url
        if self.url.startswith("sqlite"):
            _private_sqlite_file(config.data_dir)
            self.engine = _sqlite_engine(self.url)
        else:
            try:
                self.engine = sa.create_engine(self.url, pool_size=10, max_overflow=30, pool_pre_ping=True)
            except ModuleNotFoundError as exc:
                raise CongruenceError(
                    f"The database driver '{exc.name}' for {self.url.split('://')[0]} is not installed.",
                    "Install it, e.g. `pip install 'psycopg[binary]'` for PostgreSQL.",
                ) from None
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine,
            expire_on_commit=False,
            execution_options={"sqlite_immediate": True} if self.is_sqlite else {},
        )
        self._write_lock = threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        self._writing = threading.local()

    def migrate(self) -> None:
        """Apply the Alembic migrations up to ``head`` (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.OperationalError as exc:
            raise CongruenceError(
                f"Cannot open the database at {self.engine.url.render_as_string(hide_password=True)}: "
                f"{exc.orig}",
                "Check the --database-url (server running, user and database exist) or the data directory.",
            ) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as s:
            yield s

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._write_lock, self._writer() as s, s.begin():
            self._writing.depth = getattr(self._writing, "depth", 0) + 1
            try:
                yield s
            finally:
                self._writing.depth -= 1

    def write_in_progress(self) -> bool:
        """Whether this thread is inside :meth:`write` (slow work such as password hashing must not be)."""
        return getattr(self._writing, "depth", 0) > 0

    def write_locked(self) -> bool:
        """Whether any thread holds the SQLite write lock now (always False on PostgreSQL)."""
        lock = self._write_lock
        return isinstance(lock, type(threading.Lock())) and lock.locked()

    def dispose(self) -> None:
        self.engine.dispose()
