"""Login throttling with exponential backoff, per client, per user name and per device cookie.

Following the OWASP Authentication Cheat Sheet ("Login Throttling", "Account Lockout") and its
"Slow Down Online Guessing Attacks with Device Cookies" page:

- a **user name** (known or not: both are counted the same way, so a refusal says nothing about
  whether the account exists) is throttled for browsers that do not hold that user's device
  cookie, after ``free`` failures, for ``base_s * 2**(n - free)`` seconds, at most ``cap_s``;
- a **client address** failing on any names is throttled the same way (one client guessing many
  names; its own threshold);
- a **device cookie** (a browser that logged in as that user before) is counted on its own, so an
  attacker hammering the user name cannot lock the user out of their own browser.

A refused attempt is not evaluated and not counted (hammering during a delay does not extend it);
counters are forgotten ``forget_s`` after the last failure. State is kept in the process (the app
runs as one process); the oldest entries are dropped beyond ``max_keys``, which bounds memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: A throttled thing: ("client", address), ("account", folded user name) or ("device", cookie).
Key = tuple[str, str]


@dataclass
class _Entry:
    failures: int = 0
    last: float = 0.0
    until: float = 0.0


def backoff_s(failures: int, *, free: int, base_s: float, cap_s: float) -> float:
    """Delay after ``failures`` consecutive failures: 0 below ``free``, else
    ``min(cap_s, base_s * 2**(failures - free))`` (exponential backoff, OWASP login throttling)."""
    if failures < free:
        return 0.0
    return min(cap_s, base_s * 2.0 ** min(failures - free, 64))


class LoginThrottle:
    def __init__(
        self,
        *,
        free: dict[str, int],
        base_s: float,
        cap_s: float,
        forget_s: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base_s, self.cap_s, self.forget_s = free, base_s, cap_s, forget_s
        self.max_keys = max_keys
        self.clock = clock
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, keys: Sequence[Key]) -> float:
        """Seconds until an attempt with these keys is evaluated (0: now)."""
        now = self.clock()
        with self._lock:
            return (
                max((e.until - now for k in keys if (e := self._entries.get(k))), default=0.0)
                if keys
                else 0.0
            )

    def failed(self, keys: Sequence[Key]) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                e = self._entries.pop(k, None)
                if e is None or now - e.last > self.forget_s:
                    e = _Entry()
                e.failures += 1
                e.last = now
                e.until = now + backoff_s(
                    e.failures, free=self.free[k[0]], base_s=self.base_s, cap_s=self.cap_s
                )
                self._entries[k] = e  # most recent last
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def succeeded(self, keys: Sequence[Key]) -> None:
        """A correct password clears its user name's and device's counters (not the client's: an
        attacker logging into their own account must not reset the count of their guesses)."""
        with self._lock:
            for k in keys:
                if k[0] != "client":
                    self._entries.pop(k, None)

    def forget_account(self, username: str) -> None:
        """An admin reset the password: the user name is no longer throttled."""
        with self._lock:
            self._entries.pop(("account", username.casefold()), None)


def retry_after(wait_s: float) -> int:
    """Whole seconds for a ``Retry-After`` header."""
    return max(1, math.ceil(wait_s))
