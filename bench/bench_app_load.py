"""Benchmark the annotation app under load: 20 raters autosaving concurrently for 60 s on loopback.

Starts the real server (`congruence serve`, its own process) on 127.0.0.1 and a free port with a
fresh database (SQLite in a temporary data dir, or --database-url), imports the demo session
(analysed once with `congruence demo` unless --session names an analysed folder) several times,
creates the raters with the production password hashing, then runs
:func:`congruence.app.loadtest.run_load` (each rater a thread with its own HTTP client) and checks
with :func:`~congruence.app.loadtest.verify` that no acknowledged save was lost or applied twice.
Writes bench/results/app-YYYY-MM-DD.md (appends a section when it exists).

Usage: .venv/bin/python bench/bench_app_load.py [--raters 20] [--seconds 60] [--session DIR]
                                                [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raters", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--imports", type=int, default=4, help="copies of the session (3 pairs each) to annotate")
    ap.add_argument(
        "--session", type=Path, help="an analysed-session folder (default: run `congruence demo`)"
    )
    ap.add_argument("--database-url", help="PostgreSQL URL of an empty database (default: SQLite)")
    args = ap.parse_args()

    from congruence.app import importing, store
    from congruence.app.config import AppConfig
    from congruence.app.db import Database
    from congruence.app.loadtest import run_load, verify, wait_until_serving

    exe = Path(sys.executable).parent / "congruence"
    work = Path(tempfile.mkdtemp(prefix="congruence-bench-app-"))
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
        names = [f"rater{i:02d}" for i in range(args.raters)]
        with db.write() as s:
            for n in names:
                store.create_user(s, n, PASSWORD, "annotator", config=config)
            for k in range(args.imports):
                store.import_session(s, importing.read_analysed_session(session, session_id=f"bench-{k}"))
            store.assign(s, names)
        n_pairs = 3 * args.imports

        port = free_port()
        cmd = [str(exe), "serve", "--data-dir", str(config.data_dir), "--port", str(port)]
        if args.database_url:
            cmd += ["--database-url", args.database_url]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        if not wait_until_serving(base, server):
            print(server.stderr.read().decode() if server.stderr else "", file=sys.stderr)
            raise SystemExit("the server did not start")
        try:
            report = run_load(base, [(n, PASSWORD) for n in names], duration_s=args.seconds)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        problems = verify(db.engine, report)
        summary = report.summary()
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    backend = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=FULL)"
    lines = [
        f"## {args.raters} raters x {args.seconds:g} s, {backend}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}; "
        f"server `congruence serve` (one uvicorn process) and the raters (threads, one httpx client each) "
        f"on the same machine, loopback.",
        f"Each rater saves its own annotations of {n_pairs} pairs in a loop (full form, new op_id per save; "
        "every 10th save re-sent to check idempotency).",
        "",
        "| raters | seconds | saves | saves/s | p50 ms | p95 ms | p99 ms | max ms | replays | conflicts "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| {raters} | {duration_s} | {saves} | {saves_per_s} | {p50_ms} | {p95_ms} | {p99_ms} | {max_ms} | "
        "{replays_checked} | {conflicts} | {errors} |".format(**summary),
        "",
        f"Lost or duplicated writes: {'none' if not problems else '; '.join(problems)}.",
        "",
    ]
    out = ROOT / "bench" / "results" / f"app-{dt.date.today().isoformat()}.md"
    header = [""] if out.exists() else [f"# annotation app load benchmark {dt.date.today().isoformat()}", ""]
    with open(out, "a", encoding="utf-8") as fh:
        fh.write("\n".join(header + lines))
    print("\n".join(lines))
    print(f"-> {out}")
    return 1 if problems or report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
