"""Turns of a session: from a transcript, or from ASR + speaker diarization; then roles."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from congruence.config import AnalysisConfig
from congruence.errors import CongruenceError
from congruence.ingest import media as media_mod
from congruence.ingest.transcripts import UNKNOWN_SPEAKER, read_transcript
from congruence.ingest.turns import assign_roles, check_times, merge_consecutive, parse_roles
from congruence.io import text_digest, write_json
from congruence.schema import Role, Turn, Word

Progress = Callable[[str, int, int], None]


def turns_from_transcript(
    path: str, duration: float | None, config: AnalysisConfig
) -> tuple[list[Turn], list[str]]:
    """Turns of a transcript file, checked against the media duration (``None``: no media)."""
    turns, warnings = read_transcript(path)
    turns, more = check_times(turns, duration)
    return merge_consecutive(turns, max_gap=config.merge_max_gap), warnings + more


def turns_from_asr(
    audio_path: Path, work: Path, media_key: str, config: AnalysisConfig, progress: Progress
) -> tuple[list[Turn], list[str]]:
    """Turns from Whisper ASR (word timestamps) and resemblyzer diarization, cached per media."""
    from congruence.ingest.asr import transcribe
    from congruence.ingest.diarize import Diarizer

    n, most = config.num_speakers, config.max_speakers
    cache = work / f"asr-{text_digest(media_key, config.asr_model, n, most)}.json"
    if cache.exists():
        turns = [
            Turn(**{**t, "words": [Word(**w) for w in t["words"]]}) for t in json.loads(cache.read_text())
        ]
    else:
        audio = media_mod.AudioFile(audio_path).read_all()
        progress("transcribing (ASR)", 0, 1)  # one bar per stage, each ending at its total (was "ASR 0/2")
        segments = transcribe(audio, model=config.asr_model)
        progress("transcribing (ASR)", 1, 1)
        progress("diarizing speakers", 0, 1)
        turns = Diarizer(num_speakers=n, max_speakers=most).diarize(audio, segments) if segments else []
        progress("diarizing speakers", 1, 1)
        write_json(cache, [asdict(t) for t in turns])
    turns = merge_consecutive([t for t in turns if t.text.strip()], max_gap=config.merge_max_gap)
    if not turns:
        raise CongruenceError(
            "No speech was recognised in the recording, so there are no turns to analyse.",
            "Check the audio track, or pass a transcript with --transcript.",
        )
    return turns, ["Turns come from ASR and speaker diarization (Whisper tiny.en level errors); check them."]


def with_roles(
    turns: list[Turn], roles: str | dict[str, str] | None
) -> tuple[list[Turn], dict[str, Role], str]:
    """Assign client / counsellor roles (``roles`` overrides); a transcript without speakers is an error."""
    override = parse_roles(roles)
    if all(t.speaker == UNKNOWN_SPEAKER for t in turns):
        raise CongruenceError(
            "The transcript names no speakers, so client and counsellor turns cannot be told apart.",
            "Add a speaker column (CSV/JSON), 'Name: text' cue prefixes (SRT/WebVTT), or analyse without "
            "a transcript to use speaker diarization.",
        )
    return assign_roles(turns, {k: Role(v) for k, v in override.items()})
