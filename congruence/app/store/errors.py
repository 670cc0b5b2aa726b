"""The errors of the data layer; the web layer maps each to an HTTP status."""

from __future__ import annotations

from typing import Any

from congruence.errors import CongruenceError


class NotFound(CongruenceError):
    """The thing does not exist or is not the caller's (indistinguishable on purpose)."""


class Forbidden(CongruenceError):
    """The caller's role may not do this."""


class Conflict(CongruenceError):
    """The save was made from an older version, or clashes with existing data."""

    def __init__(self, problem: str, fix: str = "", *, current: dict[str, Any] | None = None) -> None:
        super().__init__(problem, fix)
        self.current = current


class AuthFailed(CongruenceError):
    """Wrong user name or password (one message for both)."""


class LockedOut(CongruenceError):
    """Too many failed logins in a short time (from this client, or for this user name)."""

    def __init__(self, problem: str, fix: str = "", *, retry_after_s: int = 0) -> None:
        super().__init__(problem, fix)
        self.retry_after_s = retry_after_s
