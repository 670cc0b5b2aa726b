"""Settings of the annotation web application (``congruence serve``).

Every setting has a default that works on one machine: the database is SQLite in the data
directory; a ``database_url`` (``postgresql+psycopg://user@host/db``) switches to PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from congruence.errors import CongruenceError

#: How model estimates are shown to raters. E-THER's raters annotated from frame and words alone;
#: showing a model's guess first anchors the rater, so the default is ``hidden`` (never sent to
#: the browser). ``on_request`` sends them only after the rater asks (and records that they did).
EstimatesMode = Literal["hidden", "on_request", "shown"]
ESTIMATES_MODES: tuple[str, ...] = ("hidden", "on_request", "shown")
QueueOrder = Literal["session", "disagreement"]
QUEUE_ORDERS: tuple[str, ...] = ("session", "disagreement")
PasswordProfile = Literal["rfc9106-low-memory", "cheapest"]


def default_data_dir() -> Path:
    """``$CONGRUENCE_DATA_DIR``, else ``$XDG_DATA_HOME/congruence`` (``~/.local/share/congruence``)."""
    root = os.environ.get("CONGRUENCE_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "congruence"
    )
    return Path(root)


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """Configuration of one application instance.

    Attributes:
        data_dir: folder of the SQLite database (``app.sqlite3``); created when missing.
        database_url: SQLAlchemy URL; ``None`` means SQLite in ``data_dir``.
        model_estimates: ``hidden`` (default), ``on_request`` or ``shown`` (see :data:`EstimatesMode`).
        queue_order: default order of an annotator's queue (``session`` or ``disagreement``).
        context_turns: turns of transcript shown before the client turn.
        session_idle_minutes: a login session ends after this long without a request.
        session_max_hours: ... and after this long in any case.
        max_upload_bytes: largest accepted upload (analysed-session zip, response file).
        max_json_bytes: largest accepted body of any other request.
        max_failed_logins: failed logins of one user name (or one device) before its backoff starts.
        max_failed_logins_per_client: failed logins from one client address (any names) before its
            backoff starts.
        login_backoff_seconds: the first delay; it doubles with each further failure
            (:mod:`congruence.app.throttle`), up to ``lockout_minutes``.
        lockout_minutes: the longest delay, and how long failures are remembered.
        password_profile: argon2id parameters; ``cheapest`` is for tests only.
        cookie_secure: send cookies only over HTTPS (set it behind a TLS proxy).
        min_password_length: shortest accepted password.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    model_estimates: EstimatesMode = "hidden"
    queue_order: QueueOrder = "session"
    context_turns: int = 3
    session_idle_minutes: float = 120.0
    session_max_hours: float = 12.0
    max_upload_bytes: int = 64 * 1024 * 1024
    max_json_bytes: int = 64 * 1024
    max_failed_logins: int = 10
    max_failed_logins_per_client: int = 10
    login_backoff_seconds: float = 30.0
    lockout_minutes: float = 15.0
    password_profile: PasswordProfile = "rfc9106-low-memory"
    cookie_secure: bool = False
    min_password_length: int = 8

    def __post_init__(self) -> None:
        if self.model_estimates not in ESTIMATES_MODES:
            raise CongruenceError(
                f"Unknown model_estimates mode '{self.model_estimates}'.",
                f"Choose one of: {', '.join(ESTIMATES_MODES)}.",
            )
        if self.queue_order not in QUEUE_ORDERS:
            raise CongruenceError(
                f"Unknown queue order '{self.queue_order}'.", f"Choose one of: {', '.join(QUEUE_ORDERS)}."
            )
        if self.max_upload_bytes <= 0 or self.max_json_bytes <= 0:
            raise CongruenceError("Upload limits must be positive.", "Pass a size in bytes above 0.")
        if (
            min(self.max_failed_logins, self.max_failed_logins_per_client) < 1
            or self.login_backoff_seconds < 0
        ):
            raise CongruenceError(
                "Login limits must be positive.", "Pass at least 1 failure and a delay >= 0."
            )
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())

    @property
    def url(self) -> str:
        """The database URL in use (SQLite in ``data_dir`` unless ``database_url`` is set)."""
        if self.database_url:
            url = self.database_url
            # a plain postgresql:// URL would pick psycopg2, which is not installed
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir / 'app.sqlite3'}"

    def with_(self, **changes: object) -> AppConfig:
        return replace(self, **changes)  # type: ignore[arg-type]
