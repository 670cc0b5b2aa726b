"""Passwords, login tokens and CSRF tokens.

- Passwords: argon2id (argon2-cffi) with the RFC 9106 low-memory parameters (t = 3,
  m = 64 MiB, p = 4); hashes are upgraded on the next login when the parameters change.
- Login sessions: a 256-bit random token in an HttpOnly, SameSite=Lax cookie; the database keeps
  only its SHA-256, so a copy of the database does not let anyone log in.
- CSRF: a per-session synchroniser token (a second random value, kept server-side) that every
  state-changing request must echo in the ``X-CSRF-Token`` header or a ``csrf_token`` form field;
  the login form, before any session exists, uses a double-submit cookie.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from congruence.errors import CongruenceError

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@functools.cache
def hasher(profile: str = "rfc9106-low-memory") -> PasswordHasher:
    """The argon2id hasher of a parameter profile (``cheapest`` only for tests)."""
    params = {"rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}[profile]
    return PasswordHasher.from_parameters(params)


def hash_password(password: str, *, profile: str = "rfc9106-low-memory") -> str:
    return hasher(profile).hash(password)


def verify_password(stored_hash: str, password: str, *, profile: str = "rfc9106-low-memory") -> bool:
    """True when ``password`` matches; a malformed stored hash counts as a mismatch."""
    try:
        return hasher(profile).verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, *, profile: str = "rfc9106-low-memory") -> bool:
    try:
        return hasher(profile).check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@functools.cache
def dummy_hash(profile: str = "rfc9106-low-memory") -> str:
    """A hash to verify against for unknown user names, so they take as long as wrong passwords."""
    return hash_password(secrets.token_urlsafe(16), profile=profile)


def check_username(name: str) -> str:
    if not USERNAME_RE.fullmatch(name or ""):
        raise CongruenceError(
            f"'{name}' is not a valid user name.",
            "Use 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit.",
        )
    return name


def check_password(password: str, *, min_length: int) -> str:
    if len(password) < min_length:
        raise CongruenceError(
            f"The password is shorter than {min_length} characters.", "Choose a longer password."
        )
    if len(password) > 1024:
        raise CongruenceError("The password is longer than 1024 characters.", "Choose a shorter password.")
    return password


def new_token() -> str:
    """A URL-safe random token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 hex of a login token (what the database stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
