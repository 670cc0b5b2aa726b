"""The per-turn work: one loop over client turns for every modality.

Each modality is a :class:`ModalityJob`: ``inputs`` yields one :class:`TurnInput` per turn (the
turn's words, audio segment or decoded frames; or the reason it cannot be measured) and
``process`` turns a batch of inputs into column values. :class:`ModalityJobs` runs the same loop
for text, voice and face, storing each turn's result as it finishes, so a killed run resumes.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from congruence.config import AnalysisConfig
from congruence.ingest import media as media_mod
from congruence.ingest.media import Frame
from congruence.io import JsonlStore, write_atomic
from congruence.perception.base import Features
from congruence.registry import create
from congruence.schema import Turn
from congruence.table import MISSING_MEDIA_STATUS, MODALITIES, missing_values

Progress = Callable[[str, int, int], None]


def frame_times(turn: Turn, config: AnalysisConfig) -> list[float]:
    """Sample times of one client turn: the key frame plus ``sample_fps`` across the turn.

    Capped at ``max_frames_per_turn`` evenly spread samples so long monologues cost a bounded
    amount of work and memory.
    """
    assert turn.start is not None and turn.end is not None
    start, end = turn.start, max(turn.end, turn.start)
    n = max(1, min(config.max_frames_per_turn, math.ceil((end - start) * config.sample_fps)))
    times = list(np.linspace(start, end, n, endpoint=False) + (end - start) / (2 * n))
    key = min(end, start + config.key_frame_offset)
    return sorted({round(float(t), 3) for t in [*times, key]})


def key_frame_time(turn: Turn, config: AnalysisConfig) -> float:
    """E-THER's key frame: ``key_frame_offset`` s after the client starts speaking."""
    assert turn.start is not None and turn.end is not None
    return min(turn.end, turn.start + config.key_frame_offset)


class Analyzers:
    """The three modality analyzers, created lazily so a text-only run loads no vision model."""

    def __init__(self, config: AnalysisConfig) -> None:
        self.config = config
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, modality: str) -> Any:
        with self._lock:
            if modality not in self._made:
                cfg = getattr(self.config, modality)
                self._made[modality] = create(f"{modality}.analyzer", cfg.name, **cfg.options)
            return self._made[modality]

    def enabled(self) -> list[str]:
        return [m for m in MODALITIES if getattr(self.config, m).enabled]


def flatten(feats: Features) -> dict[str, Any]:
    return feats.row()


def route_frames(frames: Iterator[Frame], turns: Sequence[Turn]) -> Iterator[tuple[Turn, list[Frame]]]:
    """Group one forward pass of frames into the turns (sorted by start) they fall in."""
    pending: Frame | None = None
    for turn in turns:
        got: list[Frame] = []
        while True:
            f = pending if pending is not None else next(frames, None)
            pending = None
            if f is None:
                break
            if f.time > turn.end + 1e-3:  # type: ignore[operator]
                pending = f
                break
            if f.time >= turn.start - 1e-3:  # type: ignore[operator]
                got.append(f)
        yield turn, got


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterator[Frame], *, maxsize: int) -> Iterator[Frame]:
    """Iterate ``items`` in a background thread, at most ``maxsize`` items ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()
    end = object()

    def put(x: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in items:
                if not put(x):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(_Raised(exc))

    worker = threading.Thread(target=work, name="congruence-decode", daemon=True)
    worker.start()
    try:
        while (x := q.get()) is not end:
            if isinstance(x, _Raised):
                raise x.exc
            yield x
    finally:
        stop.set()


# ------------------------------------------------------------------------------ the jobs


@dataclass
class TurnInput:
    """What one modality gets of one turn: ``data`` (words, audio, frames), or ``missing``, the
    status of a turn that cannot be measured (the analyzer is then not called)."""

    turn: Turn
    data: Any = None
    key_time: float | None = None
    missing: str | None = None


class ModalityJob(Protocol):
    """One modality's per-turn work (the process-turn interface of text, voice and face)."""

    modality: str
    batch_size: int

    def inputs(self, turns: list[Turn]) -> Iterator[TurnInput]:
        """One input per turn, in the order they can be produced (face: by start time)."""
        ...

    def process(self, batch: list[TurnInput]) -> list[dict[str, Any]]:
        """Column values of each input of ``batch``."""
        ...


@dataclass
class TextJob:
    analyzers: Analyzers
    modality: str = "text"
    batch_size: int = 64  # batched encoders are fast; results are still stored per batch

    def inputs(self, turns: list[Turn]) -> Iterator[TurnInput]:
        return (TurnInput(t, t.text) for t in turns)

    def process(self, batch: list[TurnInput]) -> list[dict[str, Any]]:
        an = self.analyzers.get("text")
        many = getattr(an, "analyze_many", None)
        texts = [x.data for x in batch]
        return [flatten(f) for f in (many(texts) if many else [an.analyze_turn(t) for t in texts])]


@dataclass
class VoiceJob:
    analyzers: Analyzers
    audio_file: media_mod.AudioFile | None
    modality: str = "voice"
    batch_size: int = 1

    def inputs(self, turns: list[Turn]) -> Iterator[TurnInput]:
        for t in turns:
            if self.audio_file is None:
                yield TurnInput(t, missing=MISSING_MEDIA_STATUS["voice"])
            elif t.start is None or t.end is None:
                yield TurnInput(t, None)  # the analyzer says no_audio for an untimed turn
            else:
                yield TurnInput(t, self.audio_file.segment(t.start, t.end))

    def process(self, batch: list[TurnInput]) -> list[dict[str, Any]]:
        an = self.analyzers.get("voice")
        return [flatten(an.analyze_turn(x.data, text=x.turn.text)) for x in batch]


@dataclass
class FaceJob:
    analyzers: Analyzers
    config: AnalysisConfig
    media: Path | None
    has_video: bool
    frames_dir: Path
    modality: str = "face"
    batch_size: int = 1

    def inputs(self, turns: list[Turn]) -> Iterator[TurnInput]:
        timed = sorted(
            (t for t in turns if t.start is not None and t.end is not None), key=lambda t: t.start or 0.0
        )
        for t in turns:
            if not self.has_video:
                yield TurnInput(t, missing=MISSING_MEDIA_STATUS["face"])
            elif t not in timed:
                yield TurnInput(t, missing="no_times")
        if not timed or not self.has_video or self.media is None:
            return
        times = [x for t in timed for x in frame_times(t, self.config)]
        frames: Iterator[Frame] = media_mod.iter_frames(
            self.media, times, max_width=self.config.max_frame_width
        )
        if self.config.parallel:  # decode ahead in a thread; bounded so memory stays flat
            frames = prefetch(frames, maxsize=self.config.max_frames_per_turn + 1)
        # one turn's frames at a time: memory does not grow with the session
        for t, got in route_frames(frames, timed):
            yield TurnInput(t, got, key_time=key_frame_time(t, self.config))

    def process(self, batch: list[TurnInput]) -> list[dict[str, Any]]:
        an = self.analyzers.get("face")
        out = []
        for x in batch:
            feats = an.analyze_turn(x.data, x.key_time)
            values = flatten(feats)
            crop = feats.artifacts.get("key_crop")
            if crop is not None:
                values["face_key_crop_file"] = save_crop(
                    crop, self.frames_dir / f"turn{x.turn.index:04d}.png"
                )
            out.append(values)
        return out


def save_crop(crop: np.ndarray, path: Path) -> str:
    """Write a key-frame crop as PNG (atomically); returns its path relative to the analysis folder."""
    from PIL import Image

    def write(fh: Any) -> None:
        Image.fromarray(np.asarray(crop, dtype=np.uint8)).save(fh, format="PNG")

    write_atomic(path, write, binary=True)
    return f"frames/{path.name}"


@dataclass
class ModalityJobs:
    """Runs every modality's job over the client turns that still need it, storing as it goes.

    With ``parallel`` text and voice run in worker threads while the face runs in the calling
    thread (and frames decode in another): model loading overlaps analysis, and the native
    libraries (openSMILE, Praat, TFLite, FFmpeg, torch) do most of their work outside the GIL. The
    first exception (or Ctrl-C) stops every job at its next turn; finished turns stay stored.
    """

    jobs: dict[str, ModalityJob]
    store: JsonlStore
    unit_key: Callable[[Turn, str], str]
    progress: Progress
    totals: dict[str, tuple[int, int]]
    columns: Callable[[str], dict[str, Any]]
    parallel: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, todo: dict[str, list[Turn]]) -> None:
        for m, (done, total) in self.totals.items():
            self.progress(m, done, total)
        work = [(m, turns) for m, turns in todo.items() if turns]
        if not self.parallel:
            for m, turns in work:
                self._loop(self.jobs[m], turns)
            return
        main = [(m, t) for m, t in work if m == "face"]
        rest = [(m, t) for m, t in work if m != "face"]
        with ThreadPoolExecutor(max_workers=max(1, len(rest))) as pool:
            futures = [pool.submit(self._loop, self.jobs[m], turns) for m, turns in rest]
            try:
                for m, turns in main:
                    self._loop(self.jobs[m], turns)
                for f in as_completed(futures):
                    f.result()
            except BaseException:
                self._stop.set()
                raise

    def _loop(self, job: ModalityJob, turns: list[Turn]) -> None:
        """The one loop: inputs -> (missing values | batched ``process``) -> store."""
        batch: list[TurnInput] = []
        for item in job.inputs(turns):
            if self._stop.is_set():
                return
            if item.missing is not None:
                self._put(
                    job.modality,
                    item.turn,
                    missing_values(job.modality, item.missing, self.columns(job.modality)),
                )
                continue
            batch.append(item)
            if len(batch) >= job.batch_size:
                self._flush(job, batch)
                batch = []
        if batch and not self._stop.is_set():
            self._flush(job, batch)

    def _flush(self, job: ModalityJob, batch: list[TurnInput]) -> None:
        for item, values in zip(batch, job.process(batch), strict=True):
            self._put(job.modality, item.turn, values)

    def _put(self, modality: str, turn: Turn, values: dict[str, Any]) -> None:
        with self._lock:
            self.store.put(self.unit_key(turn, modality), {"turn_index": turn.index, **values})
            done, total = self.totals[modality]
            self.totals[modality] = (done + 1, total)
        self.progress(modality, done + 1, total)
