"""Benchmark `congruence analyze`: real-time factor, decode-only floor and peak memory.

Builds long sessions by looping the demo session (real face video + speech) N times, then runs,
each in a fresh subprocess (so peak RSS is per run):
  - decode-only floor: decoding just the audio and the frames that analysis samples;
  - analyze with the transcript (cold cache);
  - analyze with ASR + diarization instead of the transcript (cold cache);
  - analyze with the transcript on a 20-minute session, for the memory growth ratio.
Writes bench/results/analyze-YYYY-MM-DD.md.

Usage: .venv/bin/python bench/bench_analyze.py [--minutes 5] [--long-minutes 20] [--skip-asr]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"


def loop_session(src_media: Path, src_csv: Path, minutes: float, out_dir: Path) -> tuple[Path, Path, float]:
    """Concatenate the session with itself until it lasts ``minutes`` (video copied, audio re-encoded)."""
    import av

    out_dir.mkdir(parents=True, exist_ok=True)
    media = out_dir / f"loop{minutes:g}min.mp4"
    transcript = out_dir / f"loop{minutes:g}min.csv"
    with av.open(str(src_media)) as c:
        dur = c.duration / 1e6
    n = math.ceil(minutes * 60 / dur)
    with open(src_csv) as fh:
        rows = list(csv.DictReader(fh))
    with open(transcript, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for k in range(n):
            for r in rows:
                w.writerow(
                    {
                        **r,
                        "Start Time": f"{float(r['Start Time']) + k * dur:.2f}",
                        "End Time": f"{float(r['End Time']) + k * dur:.2f}",
                    }
                )
    if media.exists():
        return media, transcript, n * dur
    with av.open(str(src_media)) as c:
        audio = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)]).astype(np.float32)
        sr = c.streams.audio[0].rate
    with av.open(str(media) + ".part.mp4", "w") as dst:
        with av.open(str(src_media)) as c0:
            vout = dst.add_stream_from_template(c0.streams.video[0])
        aout = dst.add_stream("aac", rate=sr)
        aout.layout = "mono"
        for k in range(n):
            with av.open(str(src_media)) as c:
                vin = c.streams.video[0]
                shift = round(k * dur / vin.time_base)
                for p in c.demux(vin):
                    if p.dts is None:
                        continue
                    p.pts += shift
                    p.dts += shift
                    p.stream = vout
                    dst.mux(p)
        full = np.tile(audio, n)
        for i in range(0, len(full), 1024):
            f = av.AudioFrame.from_ndarray(full[None, i : i + 1024], format="fltp", layout="mono")
            f.sample_rate, f.pts, f.time_base = sr, i, Fraction(1, sr)
            for p in aout.encode(f):
                dst.mux(p)
        for p in aout.encode(None):
            dst.mux(p)
    os.replace(str(media) + ".part.mp4", media)
    return media, transcript, n * dur


def run_child(code: str) -> tuple[float, float, dict]:
    """Run python code in a fresh process; return wall seconds, peak RSS MiB and its JSON output."""
    t0 = time.perf_counter()
    env = {**os.environ, "CONGRUENCE_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return wall, info["peak_rss_kib"] / 1024, info


DECODE = """
import json, time
from congruence.config import AnalysisConfig
from congruence.pipeline.jobs import frame_times
from congruence.pipeline.turns import turns_from_transcript as _turns_from_transcript
from congruence.ingest import media as m
from congruence.ingest.turns import assign_roles
cfg = AnalysisConfig()
info = m.probe({media!r})
turns, _ = _turns_from_transcript({transcript!r}, info.duration, cfg)
turns, _, _ = assign_roles(turns)
t0 = time.perf_counter()
m.decode_audio_to_file({media!r}, {raw!r})
times = [x for t in turns if t.role == "client" for x in frame_times(t, cfg)]
n = sum(1 for _ in m.iter_frames({media!r}, times, max_width=cfg.max_frame_width))
import resource
print(json.dumps({{"frames": n, "seconds": time.perf_counter() - t0,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""

ANALYZE = """
import json, time
from congruence.analyze import analyze
t0 = time.perf_counter()
r = analyze({media!r}, transcript={transcript}, out_dir={out!r})
s = r.stats
import resource
print(json.dumps({{"seconds": time.perf_counter() - t0, "client_turns": s["client_turns"],
                  "scoring_seconds": s["scoring_seconds"],
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--long-minutes", type=float, default=20.0)
    ap.add_argument("--skip-asr", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from congruence.examples import build_demo_session

    demo_media, demo_csv = build_demo_session(WORK / "demo")
    rows = []

    def bench(name: str, code: str, seconds_media: float) -> dict:
        wall, rss, info = run_child(code)
        row = {
            "run": name,
            "media_s": round(seconds_media, 1),
            "process_s": round(info["seconds"], 2),
            "wall_s": round(wall, 2),
            "rtf": round(info["seconds"] / seconds_media, 4),
            "rtf_wall": round(wall / seconds_media, 4),
            "peak_rss_mib": round(rss),
            "scoring_s": info.get("scoring_seconds"),
        }
        rows.append(row)
        print(row, flush=True)
        return row

    media, transcript, dur = loop_session(demo_media, demo_csv, args.minutes, WORK)
    floor = bench(
        "decode-only floor",
        DECODE.format(media=str(media), transcript=str(transcript), raw=str(WORK / "floor.f32")),
        dur,
    )
    for out in ("out_t", "out_asr", "out_long"):
        shutil.rmtree(WORK / out, ignore_errors=True)
    with_t = bench(
        "analyze, transcript",
        ANALYZE.format(media=str(media), transcript=repr(str(transcript)), out=str(WORK / "out_t")),
        dur,
    )
    asr = None
    if not args.skip_asr:
        asr = bench(
            "analyze, ASR",
            ANALYZE.format(media=str(media), transcript="None", out=str(WORK / "out_asr")),
            dur,
        )
    lmedia, ltranscript, ldur = loop_session(demo_media, demo_csv, args.long_minutes, WORK)
    lfloor = bench(
        f"decode-only floor, {args.long_minutes:g} min",
        DECODE.format(media=str(lmedia), transcript=str(ltranscript), raw=str(WORK / "floor.f32")),
        ldur,
    )
    long = bench(
        f"analyze, transcript, {args.long_minutes:g} min",
        ANALYZE.format(media=str(lmedia), transcript=repr(str(ltranscript)), out=str(WORK / "out_long")),
        ldur,
    )

    date = dt.date.today().isoformat()
    lines = [
        f"# analyze benchmark {date}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}.",
        f"Session: the demo session looped to {dur / 60:.1f} min and {ldur / 60:.1f} min "
        "(real face video, synthetic speech, transcript with 3 client turns per 19.7 s loop).",
        "process_s is measured inside the child (model loading included); wall_s adds interpreter start-up.",
        "",
        "| run | media s | process s | wall s | RTF | RTF (wall) | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        "| "
        + " | ".join(
            str(r[k]) for k in ("run", "media_s", "process_s", "wall_s", "rtf", "rtf_wall", "peak_rss_mib")
        )
        + " |"
        for r in rows
    ]
    # the marginal ratio (extra seconds per extra media second, long run against short run) leaves
    # out the fixed start-up (model loading), which a longer session amortises
    marginal = (long["process_s"] - with_t["process_s"]) / (lfloor["process_s"] - floor["process_s"])
    scoring = [r for r in rows if r["scoring_s"] is not None]
    lines += [
        "",
        f"- analyze with transcript / decode-only floor: {with_t['process_s'] / floor['process_s']:.2f}x "
        f"at {args.minutes:g} min, {long['process_s'] / lfloor['process_s']:.2f}x "
        f"at {args.long_minutes:g} min, "
        f"{marginal:.2f}x marginal (per extra media second, start-up excluded)",
    ]
    if asr:
        lines.append(f"- analyze with ASR / decode-only floor: {asr['process_s'] / floor['process_s']:.2f}x")
    lines += [
        f"- incongruence scoring and typing ({r['run']}): {r['scoring_s']:.3f} s = "
        f"{100 * r['scoring_s'] / r['process_s']:.3f}% of analyze"
        for r in scoring
    ]
    lines.append(
        f"- peak RSS {args.long_minutes:g} min / {args.minutes:g} min (transcript): "
        f"{long['peak_rss_mib'] / with_t['peak_rss_mib']:.2f}x"
    )
    path = ROOT / "bench" / "results" / f"analyze-{date}.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
