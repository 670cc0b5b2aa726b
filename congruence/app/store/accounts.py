"""Instance settings, user accounts and login sessions.

Password hashing (argon2, slow on purpose) never runs here inside a write transaction: the
web layer hashes and verifies first and passes the result in (:func:`credentials`,
:func:`start_login`, ``password_hash=``), so a flood of logins cannot hold the write lock.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app import security
from congruence.app.config import AppConfig
from congruence.app.models import (
    LoginSession,
    Setting,
    User,
)
from congruence.app.store.errors import AuthFailed, Conflict, NotFound
from congruence.errors import CongruenceError


def get_setting(s: Session, key: str, default: Any = None) -> Any:
    row = s.get(Setting, key)
    return default if row is None else row.value


def set_setting(s: Session, key: str, value: Any) -> None:
    row = s.get(Setting, key)
    if row is None:
        s.add(Setting(key=key, value=value))
    else:
        row.value = value


def instance_secret(s: Session, name: str) -> str:
    """A random secret of this instance, created on first use and kept in the settings."""
    value = get_setting(s, name)
    if value is None:
        value = secrets.token_hex(32)
        set_setting(s, name, value)
    return str(value)


def blind_secret(s: Session) -> str:
    """Instance secret that seeds the per-rater response order (created on first use)."""
    return instance_secret(s, "blind_secret")


def effective_settings(s: Session, config: AppConfig) -> dict[str, str]:
    """The configured modes, overridden by what an admin set in the running instance."""
    return {
        "model_estimates": get_setting(s, "model_estimates", config.model_estimates),
        "queue_order": get_setting(s, "queue_order", config.queue_order),
    }


# ------------------------------------------------------------------------------------------ users
def new_password_hash(password: str, *, config: AppConfig, username: str | None = None) -> str:
    """Check the password policy and hash (slow: call it outside any write transaction)."""
    security.check_password(password, min_length=config.min_password_length, username=username)
    return security.hash_password(password, profile=config.password_profile)


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    *,
    config: AppConfig,
    password_hash: str | None = None,
) -> User:
    """A new account; ``password_hash`` from :func:`new_password_hash` keeps the hashing out of ``s``."""
    security.check_username(username)
    security.check_password(password, min_length=config.min_password_length, username=username)
    if role not in ("admin", "annotator", "expert"):
        raise CongruenceError(f"Unknown role '{role}'.", "Use admin, annotator or expert.")
    if s.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"The user '{username}' exists already.", "Choose another name.")
    user = User(
        username=username,
        role=role,
        password_hash=password_hash or security.hash_password(password, profile=config.password_profile),
        active=True,
        failed_logins=0,
    )
    s.add(user)
    s.flush()
    return user


def user_by_name(s: Session, username: str) -> User:
    user = s.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user '{username}'.", "Check the name (see the Users list).")
    return user


def update_user(
    s: Session,
    username: str,
    *,
    config: AppConfig,
    active: bool | None = None,
    password: str | None = None,
    password_hash: str | None = None,
) -> User:
    """Activate / deactivate an account or set its password (which ends its logins)."""
    user = user_by_name(s, username)
    if active is not None:
        user.active = active
        if not active:
            s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
    if password is not None:
        security.check_password(password, min_length=config.min_password_length, username=username)
        user.password_hash = password_hash or security.hash_password(
            password, profile=config.password_profile
        )
        s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
        user.failed_logins = 0
    return user


def list_users(s: Session) -> list[dict[str, Any]]:
    rows = s.scalars(sa.select(User).order_by(User.username)).all()
    return [{"username": u.username, "role": u.role, "active": u.active} for u in rows]


def credentials(s: Session, username: str) -> tuple[int, str] | None:
    """``(user id, password hash)`` of an active account, else ``None`` (read-only: verify outside)."""
    row = s.execute(
        sa.select(User.id, User.password_hash).where(User.username == username, User.active.is_(True))
    ).first()
    return None if row is None else (row[0], row[1])


def start_login(
    s: Session, user_id: int, *, config: AppConfig, now: datetime, new_hash: str | None = None
) -> tuple[str, LoginSession, str]:
    """After a verified password: ``(cookie token, login, role)``; ``new_hash`` upgrades the stored hash.

    :class:`AuthFailed` if the account was deactivated between the check and now.
    """
    user = s.get(User, user_id)
    if user is None or not user.active:
        raise AuthFailed("Wrong user name or password.", "Check both and try again.")
    user.failed_logins = 0
    if new_hash is not None:
        user.password_hash = new_hash
    token, login = create_login(s, user, config=config, now=now)
    return token, login, user.role


def create_login(s: Session, user: User, *, config: AppConfig, now: datetime) -> tuple[str, LoginSession]:
    """A new login session; returns the cookie token (only its hash is stored)."""
    token = security.new_token()
    login = LoginSession(
        token_hash=security.token_hash(token),
        csrf_token=security.new_token(),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=config.session_max_hours),
    )
    s.add(login)
    # forget this user's expired logins on the way (keeps the table small without a cron job)
    s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at < now))
    s.flush()
    return token, login


def find_login(
    s: Session, token: str | None, *, config: AppConfig, now: datetime
) -> tuple[LoginSession | None, str]:
    """``(login, "ok")``, or ``(None, reason)`` with reason ``none`` / ``expired`` / ``inactive``."""
    if not token or len(token) > 100:
        return None, "none"
    login = s.scalar(sa.select(LoginSession).where(LoginSession.token_hash == security.token_hash(token)))
    if login is None:
        return None, "none"
    idle_limit = login.last_seen_at + timedelta(minutes=config.session_idle_minutes)
    if now >= login.expires_at or now >= idle_limit:
        return None, "expired"
    if not login.user.active:
        return None, "inactive"
    return login, "ok"


def touch_login(s: Session, login_id: int, now: datetime) -> None:
    s.execute(sa.update(LoginSession).where(LoginSession.id == login_id).values(last_seen_at=now))


def delete_login(s: Session, token: str | None) -> None:
    if token:
        s.execute(sa.delete(LoginSession).where(LoginSession.token_hash == security.token_hash(token)))
