"""Decoding media with PyAV (which ships its own FFmpeg): probing, audio, frames at chosen times.

Memory stays flat with media length: audio is decoded once to a raw float32 file on disk and read
back per turn; video frames are decoded in one forward pass and only the requested ones are
converted to RGB, seeking over long stretches that no turn needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from congruence.errors import MediaError


@dataclass(frozen=True)
class Frame:
    """A decoded video frame: time in seconds and an RGB uint8 image of shape (H, W, 3)."""

    time: float
    image: np.ndarray


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate``; ``offset`` is the media time of sample 0."""

    samples: np.ndarray
    sample_rate: int
    offset: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


VIDEO_EXTS = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}
AUDIO_EXTS = {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac"}
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds."""

    path: str
    duration: float
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None


def sniff_kind(path: Path, n: int = 4096) -> str | None:
    """What a file that FFmpeg cannot open holds instead, when its first bytes say so (else None).

    Text (UTF-8 or UTF-16 with a BOM, no NUL bytes) and a few common non-media signatures
    (PDF, ZIP, PNG, JPEG) are recognised.
    """
    with path.open("rb") as fh:
        head = fh.read(n)
    for magic, kind in (
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
    ):
        if head.startswith(magic):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return None
    return "text"


def _open(path: str | os.PathLike[str]):
    import av

    p = Path(path)
    if not p.exists():
        raise MediaError(f"Media file not found: {p}.", "Check the path.")
    if p.stat().st_size == 0:
        raise MediaError(f"Media file is empty: {p}.", "Re-export or re-copy the recording.")
    try:
        return av.open(str(p))
    except Exception as exc:  # PyAV raises several FFmpeg error classes
        kind = sniff_kind(p)
        if kind is not None:  # e.g. a transcript renamed .mp4: no re-muxing will help
            raise MediaError(
                f"{p.name} is not a media file: it holds {kind}.",
                "Pass the recording itself (mp4, mkv, webm, mov, wav, flac, mp3, m4a); "
                "a transcript goes to --transcript.",
            ) from exc
        raise MediaError(
            f"Cannot read {p.name} as audio or video ({type(exc).__name__}: {exc}).",
            "Check that the file is a complete mp4/mkv/webm/mov or wav/flac/mp3/m4a; a truncated "
            "download can often be re-muxed by a video tool (e.g. `ffmpeg -i in -c copy out.mp4`, "
            "if the ffmpeg program is installed: congruence itself does not need it).",
        ) from exc


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Duration and streams of a media file; raises :class:`MediaError` for unreadable files."""
    with _open(path) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        if v is None and a is None:
            raise MediaError(f"{Path(path).name} has no audio or video stream.", "Pass a recording.")
        duration = None
        if c.duration:
            duration = c.duration / 1_000_000
        else:
            for s in (v, a):
                if s is not None and s.duration and s.time_base:
                    duration = float(s.duration * s.time_base)
                    break
        if not duration:
            raise MediaError(
                f"{Path(path).name} reports no duration (the file may be truncated).",
                "Re-mux it, e.g. `ffmpeg -i in -c copy out.mkv`.",
            )
        return MediaInfo(
            path=str(path),
            duration=float(duration),
            has_video=v is not None,
            has_audio=a is not None,
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            fps=float(v.average_rate) if v is not None and v.average_rate else None,
        )


def decode_audio_to_file(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> float:
    """Decode the first audio stream to 16 kHz mono float32 raw samples in ``out``.

    Written to a temporary name and renamed, so a killed run never leaves a half file that looks
    complete. Returns the decoded duration in seconds.
    """
    import av

    out = Path(out)
    tmp = out.with_suffix(out.suffix + ".part")
    n = 0
    with _open(path) as c:
        if not c.streams.audio:
            raise MediaError(f"{Path(path).name} has no audio stream.", "Analyse without voice.")
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        with open(tmp, "wb") as fh:
            try:
                for frame in c.decode(stream):
                    for rf in resampler.resample(frame):
                        arr = rf.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                        fh.write(arr.tobytes())
                        n += arr.size
            except av.error.InvalidDataError:
                pass  # truncated tail: keep what decoded; the caller sees the shorter duration
            for rf in resampler.resample(None):
                arr = rf.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                fh.write(arr.tobytes())
                n += arr.size
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, out)
    return n / SAMPLE_RATE


class AudioFile:
    """Random access to a raw 16 kHz mono float32 file written by :func:`decode_audio_to_file`."""

    def __init__(self, path: str | os.PathLike[str], *, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.n_samples = self.path.stat().st_size // 4

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    def segment(self, start: float, end: float) -> Audio:
        """Samples between ``start`` and ``end`` seconds (clipped to the file)."""
        i0 = max(0, round(start * self.sample_rate))
        i1 = min(self.n_samples, round(end * self.sample_rate))
        if i1 <= i0:
            return Audio(np.zeros(0, np.float32), self.sample_rate, offset=start)
        data = np.fromfile(self.path, dtype=np.float32, count=i1 - i0, offset=4 * i0)
        return Audio(data, self.sample_rate, offset=i0 / self.sample_rate)

    def read_all(self) -> Audio:
        return self.segment(0.0, self.duration)


def _resize(img: np.ndarray, max_width: int | None) -> np.ndarray:
    if max_width is None or img.shape[1] <= max_width:
        return img
    import cv2

    h = round(img.shape[0] * max_width / img.shape[1])
    return cv2.resize(img, (max_width, h), interpolation=cv2.INTER_AREA)


def iter_frames(
    path: str | os.PathLike[str],
    times: Sequence[float],
    *,
    max_width: int | None = 960,
    seek_gap: float = 4.0,
) -> Iterator[Frame]:
    """Yield one RGB frame per requested time (sorted ascending), in one forward pass.

    Each yielded frame is the first decoded frame at or after the requested time (the one on
    screen at that moment). Over gaps longer than ``seek_gap`` seconds the decoder seeks to the
    keyframe before the next time instead of decoding everything in between. A truncated file
    yields the frames it has and stops.
    """
    import av

    want = sorted(float(t) for t in times)
    if not want:
        return
    with _open(path) as c:
        if not c.streams.video:
            return
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding dominates the floor
        i = 0
        last_time: float | None = None
        while i < len(want):
            if last_time is None or want[i] - last_time > seek_gap:
                target = max(0.0, want[i] - 0.5)
                c.seek(int(target * av.time_base), any_frame=False)  # keyframe at/before target
            jumped = False
            try:
                for frame in c.decode(stream):
                    t = frame.time if frame.time is not None else 0.0
                    last_time = t
                    if t + 1e-3 < want[i]:
                        continue
                    yield Frame(time=t, image=_resize(frame.to_ndarray(format="rgb24"), max_width))
                    while i < len(want) and want[i] <= t + 1e-3:
                        i += 1  # several requested times can fall on one frame
                    if i >= len(want):
                        return
                    if want[i] - t > seek_gap:
                        jumped = True
                        break  # seek ahead instead of decoding the gap
            except av.error.InvalidDataError:
                return  # truncated file: keep what we have
            if not jumped:
                return  # end of stream
