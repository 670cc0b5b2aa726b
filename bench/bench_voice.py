"""Real-time factor of the voice pipeline on a ~60 s espeak-ng conversation.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_voice.py [--repeats 3] [--out bench/results]

Real-time factor (RTF) = processing seconds / audio seconds (lower is faster; 0.05 means 20x faster
than real time). Model loading is timed separately and not counted in the RTF. Each stage runs
``--repeats`` times and the best time is reported (the machine may be shared). Writes
``bench/results/voice-YYYY-MM-DD.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from congruence.ingest.media import Audio  # noqa: E402

LINES = [
    ("en-us", 35, 150, "Thank you for coming in today. How have things been since we last spoke?"),
    ("en-us+f3", 70, 165, "Honestly it has been a difficult couple of weeks, with work and with my family."),
    ("en-us", 35, 150, "That sounds like a lot to carry. What has been the hardest part for you?"),
    ("en-us+f3", 70, 170, "I think it is the feeling that I never have any time for myself anymore."),
    ("en-us", 35, 150, "You feel stretched thin, as if everyone else comes first. Is that right?"),
    ("en-us+f3", 70, 175, "Yes, exactly. And when I finally sit down in the evening I am just exhausted."),
    ("en-us", 35, 145, "What would it look like to have a little bit of that time back?"),
    ("en-us+f3", 70, 160, "Maybe a walk in the morning before everyone wakes up. I used to love that."),
    ("en-us", 35, 150, "It sounds like those walks meant something important to you."),
    ("en-us+f3", 70, 165, "They did. I felt calmer, and I was kinder to the people around me."),
]


def conversation(target_s: float = 60.0) -> Audio:
    """~60 s of alternating espeak-ng voices with 0.6 s pauses, at 16 kHz."""
    import soundfile as sf
    import soxr

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    chunks: list[np.ndarray] = []
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        while total < target_s:
            voice, pitch, speed, text = LINES[i % len(LINES)]
            path = Path(tmp) / f"{i}.wav"
            cmd = [exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text]
            subprocess.run(cmd, check=True, capture_output=True)
            y, sr = sf.read(path, dtype="float32")
            y = soxr.resample(y, sr, 16000).astype(np.float32)
            chunks += [y, np.zeros(int(0.6 * 16000), np.float32)]
            total += len(y) / 16000 + 0.6
            i += 1
    return Audio(np.concatenate(chunks), 16000)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    from congruence.ingest.asr import Transcriber, speech_regions
    from congruence.ingest.diarize import Diarizer
    from congruence.perception.voice.analyzer import VoiceAnalyzer
    from congruence.perception.voice.egemaps import EgemapsExtractor
    from congruence.perception.voice.prosody import measure_prosody

    audio = conversation()
    dur = audio.duration
    rows: list[tuple[str, float, str]] = []  # (stage, seconds, note) over the whole recording

    rows.append(
        (
            "prosody (Praat: pitch x2, intensity, jitter/shimmer, HNR, rate)",
            best_of(lambda: measure_prosody(audio.samples, 16000), args.repeats),
            "",
        )
    )
    eg = EgemapsExtractor()
    t0 = time.perf_counter()
    eg.feature_names()
    eg_load = time.perf_counter() - t0
    rows.append(
        (
            "eGeMAPSv02 functionals (openSMILE)",
            best_of(lambda: eg.extract(audio.samples, 16000), args.repeats),
            f"setup {eg_load:.2f} s",
        )
    )
    rows.append(("voice activity (Silero VAD)", best_of(lambda: speech_regions(audio), args.repeats), ""))

    tr = Transcriber()
    t0 = time.perf_counter()
    tr._load()
    asr_load = time.perf_counter() - t0
    segments = tr.transcribe(audio)
    n_words = sum(len(s.words) for s in segments)
    rows.append(
        (
            f"ASR faster-whisper tiny.en int8, beam {tr.beam_size}, {tr.cpu_threads} threads, words",
            best_of(lambda: tr.transcribe(audio), args.repeats),
            f"load {asr_load:.2f} s; {n_words} words",
        )
    )
    tr1 = Transcriber(beam_size=1)
    tr1._whisper = tr._whisper  # same model, greedy decoding
    rows.append(("ASR as above, greedy (beam 1)", best_of(lambda: tr1.transcribe(audio), args.repeats), ""))

    di = Diarizer()
    t0 = time.perf_counter()
    di._load()
    di_load = time.perf_counter() - t0
    di.diarize(audio, segments)  # warm-up (librosa's first mel call)
    turns = di.diarize(audio, segments)
    rows.append(
        (
            "diarization (VAD + resemblyzer windows + clustering + word assignment)",
            best_of(lambda: di.diarize(audio, segments), args.repeats),
            f"load {di_load:.2f} s; {len({t.speaker for t in turns})} speakers, {len(turns)} turns",
        )
    )

    va = VoiceAnalyzer()
    # per-turn analysis as the pipeline runs it: each diarized turn's audio
    clips = [
        Audio(audio.samples[int(t.start * 16000) : int(t.end * 16000)], 16000, t.start)
        for t in turns
        if t.start is not None and t.end is not None
    ]
    turn_s = sum(c.duration for c in clips)
    va.analyze_turn(clips[0])  # warm-up
    t = best_of(lambda: [va.analyze_turn(c) for c in clips], args.repeats)
    rows.append(
        (
            f"VoiceAnalyzer.analyze_turn over {len(clips)} turns (VAD + prosody + eGeMAPS + proxy)",
            t,
            f"{turn_s:.1f} s of turn audio: RTF per turn-audio second {t / turn_s:.3f}",
        )
    )

    today = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"voice-{today}.md"
    load = os.getloadavg()
    lines = [
        f"# Voice pipeline real-time factor, {today}",
        "",
        f"Audio: {dur:.1f} s espeak-ng conversation (2 voices, 16 kHz). RTF = processing s / audio s,",
        f"best of {args.repeats}; model loading excluded (given in notes).",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load[0]:.2f} / {load[1]:.2f} at the end "
        "(a shared machine: other jobs may slow the numbers).",
        "Command: `.venv/bin/python bench/bench_voice.py`",
        "",
        "| stage | seconds | RTF | notes |",
        "|---|---:|---:|---|",
    ]
    for name, secs, note in rows:
        lines.append(f"| {name} | {secs:.2f} | {secs / dur:.3f} | {note} |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    print(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
