"""Logging in: throttling, one password verification per attempt, and no hashing under a lock.

:func:`log_in` is the whole decision, independent of HTTP:

1. the attempt's throttle keys (:mod:`congruence.app.throttle`): the device cookie when the browser
   holds one for this user name, else the client address and the user name; a throttled attempt
   gets :class:`~congruence.app.store.LockedOut` with the same message whether the name exists or not,
   and is neither evaluated nor counted;
2. the stored hash is read in a read-only transaction;
3. argon2 verifies the password **outside any transaction or lock** - against the user's hash, or
   against a dummy hash for an unknown or inactive name, so both cost exactly one verification;
4. only then a short write transaction creates the login session (and stores an upgraded hash,
   computed before it).

argon2 is slow by design (~0.3 s, 64 MiB). It runs on a small pool of its own (half the cores),
whose threads have a lower scheduling priority (``nice`` +10, Linux): a login flood then uses
what CPU the saves leave over instead of queueing them behind the database write lock or
competing with them on equal terms.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from congruence.app import security, store
from congruence.app.config import AppConfig
from congruence.app.db import Database
from congruence.app.throttle import Key, LoginThrottle, retry_after

#: Concurrent argon2 computations: half the cores, at least one.
HASH_WORKERS = max(1, (os.cpu_count() or 2) // 2)
HASH_NICE = 10

THROTTLED = "Too many failed logins from this browser or for this user name."
T = TypeVar("T")


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # Linux: nice is per thread; elsewhere
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)  # only the pool bounds it


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def hashing(work: Callable[[], T]) -> T:
    """Run password hashing or verification on the low-priority hashing pool and wait for it."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(HASH_WORKERS, "argon2", initializer=_lower_priority)
    return _POOL.submit(work).result()


def make_throttle(config: AppConfig) -> LoginThrottle:
    cap = config.lockout_minutes * 60
    return LoginThrottle(
        free={
            "account": config.max_failed_logins,
            "device": config.max_failed_logins,
            "client": config.max_failed_logins_per_client,
        },
        base_s=config.login_backoff_seconds,
        cap_s=cap,
        forget_s=cap,
    )


@dataclass(frozen=True)
class LoggedIn:
    token: str
    csrf_token: str
    role: str
    device_cookie: str


def throttle_keys(username: str, client: str, *, trusted: bool, device: str | None) -> list[Key]:
    if trusted and device:
        return [("device", device)]
    return [("client", client), ("account", username.casefold())]


def log_in(
    db: Database,
    config: AppConfig,
    throttle: LoginThrottle,
    device_secret: str,
    *,
    username: str,
    password: str,
    client: str,
    device: str | None,
    now: datetime,
) -> LoggedIn:
    """A new login session for a correct name and password; raises ``store.AuthFailed`` (wrong name
    or password: one message for both) or ``store.LockedOut`` (throttled, with ``retry_after_s``)."""
    trusted = security.device_cookie_valid(device_secret, username, device)
    keys = throttle_keys(username, client, trusted=trusted, device=device)
    wait = throttle.wait_s(keys)
    if wait > 0:
        raise store.LockedOut(
            THROTTLED,
            f"Wait {retry_after(wait)} s, or ask an admin to reset the password.",
            retry_after_s=retry_after(wait),
        )
    if db.write_in_progress():  # a programming error: hashing must never hold the write lock
        raise RuntimeError("log_in called inside a write transaction")
    with db.read() as s:
        found = store.credentials(s, username)
    profile = config.password_profile
    stored = found[1] if found else security.dummy_hash(profile)

    def check() -> tuple[bool, str | None]:
        ok = security.verify_password(stored, password, profile=profile) and found is not None
        rehash = ok and security.needs_rehash(stored, profile=profile)
        return ok, security.hash_password(password, profile=profile) if rehash else None

    ok, new_hash = hashing(check)
    if not ok or found is None:
        throttle.failed(keys)
        raise store.AuthFailed("Wrong user name or password.", "Check both and try again.")
    with db.write() as s:
        token, login, role = store.start_login(s, found[0], config=config, now=now, new_hash=new_hash)
        csrf = login.csrf_token
    throttle.succeeded(keys)
    return LoggedIn(token, csrf, role, security.device_cookie(device_secret, username))


def hash_new_password(password: str, *, config: AppConfig, username: str | None = None) -> str:
    """Policy check and hash for a new or changed password, on the hashing pool, outside any lock."""
    return hashing(lambda: store.new_password_hash(password, config=config, username=username))
