"""Passwords, login tokens and CSRF tokens.

- Passwords: argon2id (argon2-cffi) with the RFC 9106 low-memory parameters (t = 3,
  m = 64 MiB, p = 4); hashes are upgraded on the next login when the parameters change.
- Login sessions: a 256-bit random token in an HttpOnly, SameSite=Lax cookie; the database keeps
  only its SHA-256, so a copy of the database does not let anyone log in.
- Password policy (NIST SP 800-63B 3.1.1.2, OWASP Authentication Cheat Sheet): at least
  ``min_length`` characters and not one of the 1,000 commonest breached passwords
  (``congruence/data/common-passwords.txt``, from SecLists, MIT), not such a password with digits
  or symbols appended, and not containing the user name; the refusal says which rule failed.
- Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): after a login a
  browser holds ``nonce.HMAC(secret, user, nonce)``; a lockout of a user name applies only to
  browsers without that user's cookie, so an attacker cannot lock the user out of their own browser.
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
from pathlib import Path

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


COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "common-passwords.txt"
_PASSPHRASE_HINT = "Choose a longer passphrase, e.g. four unrelated words."


@functools.cache
def common_passwords() -> frozenset[str]:
    """The packaged blocklist, lower-cased (lines starting with '#' are its header)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x for x in lines if x and not x.startswith("#"))


def password_problem(password: str, *, min_length: int, username: str | None = None) -> str | None:
    """Why ``password`` is refused, or ``None`` when it is acceptable."""
    if len(password) < min_length:
        return f"The password is shorter than {min_length} characters."
    if len(password) > 1024:
        return "The password is longer than 1024 characters."
    folded = password.casefold()
    if folded in common_passwords():
        return "The password is one of the 1,000 most common passwords."
    base = folded.rstrip("0123456789!@#$%^&*()-_=+.,;:?~ ")
    if base != folded and base in common_passwords():
        return f"The password is a common password ('{base}') with digits or symbols appended."
    if username and len(username) >= 3 and username.casefold() in folded:
        return "The password contains the user name."
    if len(set(folded)) <= 2:
        return "The password repeats one or two characters."
    return None


def check_password(password: str, *, min_length: int, username: str | None = None) -> str:
    problem = password_problem(password, min_length=min_length, username=username)
    if problem is not None:
        fix = "Choose a shorter password." if len(password) > 1024 else _PASSPHRASE_HINT
        raise CongruenceError(problem, fix)
    return password


def device_cookie(secret: str, username: str) -> str:
    """A new device cookie proving that this browser logged in as ``username``."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_device_mac(secret, username, nonce)}"


def device_cookie_valid(secret: str, username: str, cookie: str | None) -> bool:
    if not cookie or len(cookie) > 200 or "." not in cookie:
        return False
    nonce, mac = cookie.split(".", 1)
    return hmac.compare_digest(mac.encode(), _device_mac(secret, username, nonce).encode())


def _device_mac(secret: str, username: str, nonce: str) -> str:
    msg = f"{username.casefold()}\0{nonce}".encode("utf-8", "replace")
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


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
