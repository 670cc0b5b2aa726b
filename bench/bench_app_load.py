"""Benchmark the annotation app under load: 20 raters autosaving concurrently for 60 s on loopback.

Starts the real server (`congruence serve`, its own process) on 127.0.0.1 and a free port with a
fresh database (SQLite in a temporary data dir, or --database-url), imports the demo session
(analysed once with `congruence demo` unless --session names an analysed folder) several times,
creates the raters with the production password hashing, then runs
:func:`congruence.app.loadtest.run_load` (each rater a thread with its own HTTP client) and checks
with :func:`~congruence.app.loadtest.verify` that no acknowledged save was lost or applied twice.
Three cases, each with its own raters and its own server process on the same database:

- ``quiet``: the raters alone;
- ``flood``: the raters while ``--flood`` threads send failing logins for unknown names as fast as
  the server answers (issue 12: a flood moved a rater's save from ~20 ms to 2.4-2.8 s);
- ``flood-unthrottled``: the same with the per-client login throttle raised out of reach
  (``--client-login-failures 1000000``), so every flood login costs a real argon2 verification -
  this isolates the effect of hashing outside the database lock.

The 1-minute load average is sampled before and after each case (other processes share the CPUs);
compare the cases of one run as ratios. Writes bench/results/app-YYYY-MM-DD.md (appends a section).

Usage: .venv/bin/python bench/bench_app_load.py [--raters 20] [--seconds 60] [--flood 8] [--session DIR]
                                                [--database-url postgresql://...] [--cases quiet,flood]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = {
    "quiet": ([], 0),
    "flood": ([], None),
    "flood-unthrottled": (["--client-login-failures", "1000000"], None),
}


def run_case(exe: Path, config: Any, args: Any, names: list[str], extra: list[str], flood: int) -> Any:
    from congruence.app.loadtest import run_load, wait_until_serving

    port = free_port()
    cmd = [str(exe), "serve", "--data-dir", str(config.data_dir), "--port", str(port), *extra]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    if not wait_until_serving(base, server):
        print(server.stderr.read().decode() if server.stderr else "", file=sys.stderr)
        raise SystemExit("the server did not start")
    load_before = os.getloadavg()[0]
    try:
        report = run_load(base, [(n, PASSWORD) for n in names], duration_s=args.seconds, flood=flood)
    finally:
        load_after = os.getloadavg()[0]
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    return report, (load_before, load_after)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raters", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--flood", type=int, default=8, help="threads of failing logins in the flood cases")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--imports", type=int, default=4, help="copies of the session (3 pairs each) to annotate")
    ap.add_argument(
        "--session", type=Path, help="an analysed-session folder (default: run `congruence demo`)"
    )
    ap.add_argument("--database-url", help="PostgreSQL URL of an empty database (default: SQLite)")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    if unknown := [c for c in cases if c not in CASES]:
        raise SystemExit(f"unknown cases {unknown}; choose from {', '.join(CASES)}")

    from congruence.app import importing, security, store
    from congruence.app.config import AppConfig
    from congruence.app.db import Database
    from congruence.app.loadtest import verify

    exe = Path(sys.executable).parent / "congruence"
    work = Path(tempfile.mkdtemp(prefix="congruence-bench-app-"))
    uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    try:
        session = args.session
        if session is None:
            session = work / "demo"
            subprocess.run(
                [str(exe), "demo", "--out", str(session)],
                check=True,
                capture_output=True,
                env={**os.environ, "CONGRUENCE_NO_PROGRESS": "1"},
            )
        config = AppConfig(data_dir=work / "data", database_url=args.database_url)
        db = Database(config=config)
        db.migrate()
        names = {c: [f"case{j}rater{i:02d}" for i in range(args.raters)] for j, c in enumerate(cases)}
        hashed = security.hash_password(PASSWORD)  # production parameters, one hash for every rater
        with db.write() as s:
            for c in cases:
                for n in names[c]:
                    store.create_user(s, n, PASSWORD, "annotator", config=config, password_hash=hashed)
            for k in range(args.imports):
                store.import_session(s, importing.read_analysed_session(session, session_id=f"bench-{k}"))
            store.assign(s, [n for c in cases for n in names[c]])
        n_pairs = 3 * args.imports
        for c in cases:
            extra, flood = CASES[c]
            report, loads = run_case(exe, config, args, names[c], extra, args.flood if flood is None else 0)
            problems = verify(db.engine, report)
            rows.append((c, report.summary(), problems, loads))
            print(c, report.summary(), problems, loads, report.errors[:5], flush=True)
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    backend = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    quiet_p95 = next((r[1]["p95_ms"] for r in rows if r[0] == "quiet"), math.nan)
    lines = [
        f"## {args.raters} raters x {args.seconds:g} s, {backend}: quiet and during a login flood",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}; "
        f"server `congruence serve` (one uvicorn process, production argon2id parameters) and the raters "
        f"(threads, one httpx client each) on the same machine, loopback. `uptime` at the start: "
        f"`{uptime_start}`.",
        f"Each rater saves its own annotations of {n_pairs} pairs in a loop (full form, new op_id per save; "
        f"every 10th save re-sent to check idempotency). Flood cases: {args.flood} threads sending failing "
        "logins for unknown user names, back to back, for the whole run.",
        "",
        "| case | saves | saves/s | p50 ms | p95 ms | p99 ms | max ms | p95 / quiet p95 | flood logins "
        "(HTTP status: count) | lost or duplicated writes | errors | load avg 1 min (before, after) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c, sm, problems, (lb, la) in rows:
        ratio = sm["p95_ms"] / quiet_p95 if quiet_p95 == quiet_p95 and quiet_p95 else math.nan
        flood_txt = ", ".join(f"{k}: {v}" for k, v in sm["flood_replies"].items()) or "-"
        lines.append(
            f"| {c} | {sm['saves']} | {sm['saves_per_s']} | {sm['p50_ms']} | {sm['p95_ms']} | "
            f"{sm['p99_ms']} | "
            f"{sm['max_ms']} | {ratio:.2f} | {flood_txt} | {'0' if not problems else '; '.join(problems)} | "
            f"{sm['errors']} | {lb:.2f}, {la:.2f} |"
        )
    lines.append("")
    out = ROOT / "bench" / "results" / f"app-{dt.date.today().isoformat()}.md"
    header = [""] if out.exists() else [f"# annotation app load benchmark {dt.date.today().isoformat()}", ""]
    with open(out, "a", encoding="utf-8") as fh:
        fh.write("\n".join(header + lines))
    print("\n".join(lines))
    print(f"-> {out}")
    return 1 if any(problems or sm["errors"] for _, sm, problems, _ in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
