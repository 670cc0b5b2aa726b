"""Benchmark the pipeline refactor (issue 14): `analyze` of this checkout vs a snapshot of `main`,
and a text-only analysis (issue 10 item 3).

Each run is a fresh subprocess with a cold cache. The two checkouts alternate (A B A B ...) so
that a change in machine load hits both alike; the figure to read is the ratio of their medians.
Writes bench/results/pipeline-YYYY-MM-DD.md with the machine load (`uptime`) beside the figures.

Usage: .venv/bin/python bench/bench_pipeline.py [--minutes 2] [--reps 3] [--base main]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
sys.path.insert(0, str(ROOT / "bench"))

ANALYZE = """
import json, time
from congruence.analyze import analyze
t0 = time.perf_counter()
r = analyze({media}, transcript={transcript!r}, out_dir={out!r}, report=False)
import resource
print(json.dumps({{"seconds": time.perf_counter() - t0, "client_turns": r.stats["client_turns"],
                  "columns": r.table.shape[1], "warnings": r.warnings,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def snapshot(ref: str) -> Path:
    """The package as committed at ``ref`` (git archive), to run the baseline from."""
    dest = WORK / f"src-{ref}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    tar = dest / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(tar), ref, "congruence"], check=True)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    tar.unlink()
    return dest


def run(src: Path, code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "CONGRUENCE_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["wall"] = time.perf_counter() - t0
    return info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--base", default="main")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench_analyze import loop_session

    from congruence.examples import build_demo_session

    demo_media, demo_csv = build_demo_session(WORK / "demo")
    media, transcript, dur = loop_session(demo_media, demo_csv, args.minutes, WORK)
    srcs = {args.base: snapshot(args.base), "this checkout": ROOT}
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    times: dict[str, list[float]] = {k: [] for k in srcs}
    for rep in range(args.reps):
        for name, src in srcs.items():
            out = WORK / f"pipe-{rep}-{name.replace(' ', '_')}"
            shutil.rmtree(out, ignore_errors=True)
            code = ANALYZE.format(media=repr(str(media)), transcript=str(transcript), out=str(out))
            info = run(src, code)
            times[name].append(info["seconds"])
            print(name, rep, round(info["seconds"], 2), "s", info["client_turns"], "turns", flush=True)
    text_only = []
    for rep in range(args.reps):
        out = WORK / f"text-{rep}"
        shutil.rmtree(out, ignore_errors=True)
        info = run(ROOT, ANALYZE.format(media="None", transcript=str(transcript), out=str(out)))
        text_only.append(info)
        print("text-only", rep, round(info["seconds"], 2), "s", flush=True)
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    med = {k: statistics.median(v) for k, v in times.items()}
    n_turns = text_only[0]["client_turns"]
    text_s = [i["seconds"] for i in text_only]
    t_med = statistics.median(text_s)
    date = dt.date.today().isoformat()
    lines = [
        f"# pipeline benchmark {date}",
        "",
        f"Command: `.venv/bin/python bench/bench_pipeline.py --minutes {args.minutes:g} --reps {args.reps} "
        f"--base {args.base}`",
        "",
        f"Machine load: before `{uptime_before}`; after `{uptime_after}` (2 cores shared with other jobs: "
        "absolute seconds are noisy, read the ratio measured in this one run).",
        "",
        f"Session: the demo looped to {dur:.0f} s ({n_turns} client turns), transcript given, cold cache,",
        "face + voice + text, no report; each run a fresh process; checkouts alternated.",
        "",
        "| run | analyze seconds (each rep) | median | RTF (median / media s) |",
        "|---|---|---|---|",
    ]
    for name, v in times.items():
        lines.append(
            f"| {name} | {', '.join(f'{x:.1f}' for x in v)} | {med[name]:.1f} | {med[name] / dur:.3f} |"
        )
    ratio = med["this checkout"] / med[args.base]
    lines += [
        "",
        f"Ratio this checkout / {args.base}: **{ratio:.2f}** (median over median).",
        "",
        "## Text-only analysis (`analyze(None, transcript=...)`)",
        "",
        f"Same transcript, no media: {', '.join(f'{x:.1f}' for x in text_s)} s "
        f"(median {t_med:.1f} s, {1000 * t_med / n_turns:.0f} ms per client turn, including model loading); "
        f"{text_only[0]['columns']} columns, face and voice empty.",
        "",
    ]
    path = ROOT / "bench" / "results" / f"pipeline-{date}.md"
    path.write_text("\n".join(lines))
    print(path)


if __name__ == "__main__":
    main()
