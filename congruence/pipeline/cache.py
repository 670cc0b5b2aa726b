"""What makes a re-run cheap: content keys of the media and of every per-turn result.

Per-turn results live in an append-only :class:`~congruence.io.JsonlStore` keyed by the media's
content hash, the turn (times and words) and the modality's configuration, so a re-run skips
finished turns and a run killed halfway resumes where it stopped. Decoded audio is cached per
media content too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from congruence.config import AnalysisConfig
from congruence.ingest import media as media_mod
from congruence.io import file_digest, text_digest
from congruence.schema import Turn
from congruence.version import __version__

Progress = Callable[[str, int, int], None]

CACHE_DIR = ".cache"
STORE_FILE = "turns.jsonl"


@dataclass(frozen=True)
class Source:
    """The media of a session, probed, hashed and with its audio decoded (or none: text only)."""

    path: Path | None
    info: media_mod.MediaInfo | None
    key: str
    audio: media_mod.AudioFile | None

    @property
    def has_video(self) -> bool:
        return self.info is not None and self.info.has_video

    @property
    def duration(self) -> float | None:
        return self.info.duration if self.info is not None else None


def open_source(media: Path | None, transcript: Path | None, work: Path, progress: Progress) -> Source:
    """Probe and hash ``media`` and decode its audio once into ``work``; without media the key is
    the transcript's content (text-only analysis)."""
    if media is None:
        assert transcript is not None
        return Source(None, None, text_digest("transcript-only", file_digest(transcript)), None)
    info = media_mod.probe(media)
    progress("hashing media", 0, 1)
    key = file_digest(media)
    progress("hashing media", 1, 1)
    audio_path = work / f"audio-{key}.f32"
    if info.has_audio and not audio_path.exists():
        progress("decoding audio", 0, 1)
        media_mod.decode_audio_to_file(media, audio_path)
        progress("decoding audio", 1, 1)
    return Source(media, info, key, media_mod.AudioFile(audio_path) if info.has_audio else None)


def unit_keys(config: AnalysisConfig, modalities: list[str], media_key: str) -> Callable[[Turn, str], str]:
    """Cache key of one modality's result for one turn: media content, turn, that modality's config.

    Per modality, so changing the voice settings recomputes voice only. ``parallel`` changes speed,
    not results, and is not part of any key.
    """
    sampling = (
        config.sample_fps,
        config.max_frames_per_turn,
        config.key_frame_offset,
        config.max_frame_width,
    )
    settings = config.to_dict()
    cfg = {m: text_digest(__version__, settings[m], sampling if m == "face" else None) for m in modalities}

    def key(turn: Turn, modality: str) -> str:
        return text_digest(media_key, modality, cfg[modality], turn.start, turn.end, turn.text)

    return key
