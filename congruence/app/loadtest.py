"""A bounded load test of concurrent autosaves: no save may be lost or applied twice.

Used by ``bench/bench_app_load.py`` (20 raters for 60 s, reports latency) and by
``tests/app/test_load.py`` (a shorter run that checks only correctness). Each rater is a thread
with its own HTTP client that logs in, then saves annotations of its assigned pairs in a loop
until the deadline, exactly like the browser's autosave: a fresh ``op_id`` per save, the last
acknowledged version as ``base_version``, and a retry with the *same* ``op_id`` after a network
error. Every tenth save is deliberately sent twice to exercise the server's idempotency.

:func:`verify` then compares the database with what the clients were told:

- every acknowledged ``op_id`` is in the revision log exactly once (nothing lost, nothing doubled),
  and the log holds no save that no client was told about;
- each annotation's ``version`` equals the number of saves acknowledged for it, and its values
  equal the last acknowledged save.

``flood=N`` adds N threads that send failing logins (unknown user names, wrong passwords) as fast
as the server answers, from the moment the raters start until the deadline: the login-flood case
of issue 12 (a rater's save latency must not suffer from password hashing).

Loopback only: :func:`run_load` refuses a base URL that is not 127.0.0.1 / ::1 / localhost.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa

MAX_SAVES_PER_RATER = 100_000  # a hard bound on the loop, whatever the clock does
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class Ack:
    rater: str
    pair_id: int
    op_id: str
    version: int
    values: dict[str, Any]
    latency_s: float


@dataclass
class LoadReport:
    raters: int
    duration_s: float
    acks: list[Ack] = field(default_factory=list)
    replays_checked: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    #: HTTP status -> count of the flood's failing logins.
    flood_replies: dict[int, int] = field(default_factory=dict)

    @property
    def saves(self) -> int:
        return len(self.acks)

    def latency_percentile(self, q: float) -> float:
        """Latency quantile (nearest rank) in seconds of acknowledged saves."""
        xs = sorted(a.latency_s for a in self.acks)
        if not xs:
            return math.nan
        return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]

    def summary(self) -> dict[str, Any]:
        return {
            "raters": self.raters,
            "duration_s": round(self.duration_s, 2),
            "saves": self.saves,
            "saves_per_s": round(self.saves / self.duration_s, 1) if self.duration_s else None,
            "p50_ms": round(1000 * self.latency_percentile(0.50), 1),
            "p95_ms": round(1000 * self.latency_percentile(0.95), 1),
            "p99_ms": round(1000 * self.latency_percentile(0.99), 1),
            "max_ms": round(1000 * max((a.latency_s for a in self.acks), default=math.nan), 1),
            "replays_checked": self.replays_checked,
            "conflicts": self.conflicts,
            "errors": len(self.errors),
            "flood_logins": sum(self.flood_replies.values()),
            "flood_replies": dict(sorted(self.flood_replies.items())),
        }


def _values(rng: random.Random) -> dict[str, Any]:
    return {
        "incongruence": rng.choice(["none", "minimizing", "contradiction", None]),
        "engagement": round(rng.random(), 3),
        "valence": round(rng.uniform(-1, 1), 3),
        "arousal": round(rng.uniform(-1, 1), 3),
        "dominance": rng.choice([None, round(rng.uniform(-1, 1), 3)]),
    }


def _rater(
    base_url: str,
    username: str,
    password: str,
    deadline_box: list[float],
    seed: int,
    report: LoadReport,
    lock: threading.Lock,
    start: threading.Barrier,
) -> None:
    import httpx

    rng = random.Random(seed)
    acks: list[Ack] = []
    errors: list[str] = []
    replays = conflicts = 0
    with httpx.Client(base_url=base_url, timeout=30.0) as c:
        token = c.get("/api/login").json()["csrf_token"]
        r = c.post("/login", json={"username": username, "password": password, "csrf_token": token})
        r.raise_for_status()
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        pairs = [q["pair_id"] for q in c.get("/api/queue").json()]
        versions = {p: c.get(f"/api/pairs/{p}").json()["annotation"]["version"] for p in pairs}
        start.wait()
        deadline = deadline_box[0]  # set by run_load once every rater is ready
        i = 0
        while time.monotonic() < deadline and i < MAX_SAVES_PER_RATER and pairs:
            pair = pairs[i % len(pairs)]
            body = {"op_id": uuid.uuid4().hex, "base_version": versions[pair], **_values(rng)}
            t0 = time.perf_counter()
            resp = None
            for _attempt in range(5):  # retry the same op_id: the server must not apply it twice
                try:
                    resp = c.put(f"/api/pairs/{pair}/annotation", json=body)
                    break
                except httpx.TransportError as exc:
                    errors.append(f"{username}: {exc!r}")
                    time.sleep(0.05)
            latency = time.perf_counter() - t0
            i += 1
            if resp is None:
                continue
            if resp.status_code == 200:
                data = resp.json()
                versions[pair] = data["version"]
                values = {k: body[k] for k in body if k not in ("op_id", "base_version")}
                acks.append(Ack(username, pair, body["op_id"], data["version"], values, latency))
                if i % 10 == 0:  # a client retry after a lost response: must be answered, not re-applied
                    again = c.put(f"/api/pairs/{pair}/annotation", json=body)
                    if again.status_code != 200 or not again.json().get("replayed"):
                        errors.append(
                            f"{username}: replay of {body['op_id']} gave {again.status_code} {again.text}"
                        )
                    replays += 1
            elif resp.status_code == 409:
                conflicts += 1
                versions[pair] = resp.json()["current"]["version"]
            else:
                errors.append(f"{username}: HTTP {resp.status_code} {resp.text[:200]}")
    with lock:
        report.acks.extend(acks)
        report.errors.extend(errors)
        report.replays_checked += replays
        report.conflicts += conflicts


def _flooder(
    base_url: str, k: int, deadline_box: list[float], report: LoadReport, lock: threading.Lock
) -> None:
    import httpx

    replies: dict[int, int] = defaultdict(int)
    with httpx.Client(base_url=base_url, timeout=30.0) as c:
        token = c.get("/api/login").json()["csrf_token"]
        n = 0
        while time.monotonic() < deadline_box[0] and n < MAX_SAVES_PER_RATER:
            body = {"username": f"flood{k}-{n}", "password": "not the password", "csrf_token": token}
            try:
                replies[c.post("/login", json=body).status_code] += 1
            except httpx.TransportError:
                replies[0] += 1
            n += 1
    with lock:
        for status, count in replies.items():
            report.flood_replies[status] = report.flood_replies.get(status, 0) + count


def run_load(
    base_url: str,
    raters: list[tuple[str, str]],
    *,
    duration_s: float,
    seed: int = 0,
    join_timeout_s: float = 120,
    flood: int = 0,
) -> LoadReport:
    """Run the raters concurrently for ``duration_s`` against a server on loopback
    (with ``flood`` threads of failing logins meanwhile)."""
    host = urlparse(base_url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load test runs on loopback only, not {host!r}")
    report = LoadReport(raters=len(raters), duration_s=duration_s)
    lock = threading.Lock()
    deadline_box: list[float] = [math.inf]
    started: list[float] = []

    def open_gate() -> None:  # runs once, when every rater has logged in, before any is released
        started.append(time.monotonic())
        deadline_box[0] = started[0] + duration_s

    start = threading.Barrier(len(raters) + 1, action=open_gate)
    threads = []

    def target(i: int, user: str, pw: str) -> None:
        try:
            _rater(base_url, user, pw, deadline_box, seed + i, report, lock, start)
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:  # a crashed rater is a failed run, reported, never hidden
            with lock:
                report.errors.append(f"{user}: crashed: {exc!r}")
            start.abort()

    for i, (u, p) in enumerate(raters):
        t = threading.Thread(target=target, args=(i, u, p), daemon=True)
        t.start()
        threads.append(t)
    try:
        start.wait(timeout=join_timeout_s)
    except threading.BrokenBarrierError:
        report.errors.append("not every rater could log in and load its queue")
    flooders = []
    for k in range(flood if started else 0):  # the raters are logged in: the flood starts with them
        t = threading.Thread(target=_flooder, args=(base_url, k, deadline_box, report, lock), daemon=True)
        t.start()
        flooders.append(t)
    t0 = started[0] if started else time.monotonic()
    for t in threads:
        t.join(timeout=max(1.0, t0 + duration_s - time.monotonic() + join_timeout_s))
    report.duration_s = time.monotonic() - t0  # the raters' time; a flood login in flight may finish later
    for t in flooders:
        t.join(timeout=join_timeout_s)
    if any(t.is_alive() for t in threads + flooders):
        report.errors.append("some raters did not finish within the join timeout")
    return report


def verify(engine: sa.Engine, report: LoadReport) -> list[str]:
    """Problems found comparing the database with the acknowledged saves (empty list: all good)."""
    from congruence.app.models import Annotation, AnnotationRevision, User

    problems: list[str] = []
    acked = {a.op_id: a for a in report.acks}
    if len(acked) != len(report.acks):
        problems.append("a client was acknowledged twice for one op_id")
    users = sorted({a.rater for a in report.acks})
    from sqlalchemy.orm import Session

    with Session(engine) as c:
        rows = c.execute(
            sa.select(AnnotationRevision.op_id, Annotation.pair_id, User.username, AnnotationRevision.version)
            .join(Annotation, AnnotationRevision.annotation_id == Annotation.id)
            .join(User, Annotation.user_id == User.id)
            .where(User.username.in_(users))
        ).all()
        current = c.execute(
            sa.select(Annotation, User.username)
            .join(User, Annotation.user_id == User.id)
            .where(User.username.in_(users))
        ).all()
    logged = [r[0] for r in rows]
    if len(logged) != len(set(logged)):
        problems.append(f"{len(logged) - len(set(logged))} duplicated revisions")
    lost = set(acked) - set(logged)
    if lost:
        problems.append(f"{len(lost)} acknowledged saves are not in the database (lost writes)")
    phantom = set(logged) - set(acked)
    if phantom:
        problems.append(f"{len(phantom)} saves in the database were never acknowledged")
    by_key: dict[tuple[str, int], list[Ack]] = defaultdict(list)
    for a in report.acks:
        by_key[(a.rater, a.pair_id)].append(a)
    for row in current:
        ann, user = row[0], row[1]
        acks = sorted(by_key.get((user, ann.pair_id), []), key=lambda a: a.version)
        if not acks:
            continue
        if ann.version != len(acks) + min(a.version for a in acks) - 1:
            problems.append(
                f"{user}/pair {ann.pair_id}: version {ann.version} after {len(acks)} acknowledged saves"
            )
        last = acks[-1].values
        stored = {k: getattr(ann, k) for k in last}
        if stored != last:
            problems.append(f"{user}/pair {ann.pair_id}: stored {stored} != last acknowledged {last}")
    return problems


def wait_until_serving(base: str, proc: Any, *, timeout: float = 60.0) -> bool:
    """Poll ``base/login`` until the server in ``proc`` (a ``subprocess.Popen``) answers 200.

    False when the process exits first or ``timeout`` seconds pass.
    """
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/login", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
