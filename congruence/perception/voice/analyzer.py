"""The default voice analyzer: prosody, eGeMAPS and a speech-emotion estimate per turn.

Columns (see :meth:`VoiceAnalyzer.columns` for every column's provenance):

- measurements (Praat): ``voice_f0_median``, ``voice_f0_p05``, ``voice_f0_p95``,
  ``voice_f0_range_st``, ``voice_intensity_mean``, ``voice_intensity_max``, ``voice_jitter``,
  ``voice_shimmer``, ``voice_hnr``, ``voice_voiced_frac``, ``voice_rate``, ``voice_duration``;
  ``voice_rate`` is always *acoustic* - syllable nuclei per second of phonation (de Jong & Wempe
  2009) - so that it is comparable between turns with and without a transcript;
  ``voice_words_per_s`` (words of the given text / turn duration) is a separate column, ``None``
  without text;
- measurements (openSMILE): ``voice_egemaps_<name>`` for the 88 eGeMAPSv02 functionals
  (non-commercial licence);
- proxy: ``voice_arousal_raw``, the raw arousal index of
  :func:`~congruence.perception.voice.arousal.raw_arousal_index` (unbounded, ~z units);
- from the ``voice.ser`` estimator: ``voice_arousal``, ``voice_valence``, ``voice_dominance`` in
  [-1, 1] or ``None``; with the default ``"proxy"`` estimator arousal is speaker-normalised in
  :meth:`VoiceAnalyzer.finalize` and valence / dominance are ``None``;
- ``voice_status``: ``"ok"``, ``"no_audio"`` (audio is ``None``), ``"too_short"`` (under
  ``min_duration_s``), ``"silence"`` (RMS below ``silence_floor_dbfs`` or no speech found by VAD).
  Any status other than ``"ok"`` leaves every value ``None`` (``voice_duration`` keeps the measured
  length where there is audio).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from congruence.ingest.asr import SAMPLE_RATE, ensure_sample_rate, speech_regions
from congruence.ingest.media import Audio
from congruence.perception.base import Features, Value
from congruence.perception.voice.arousal import AROUSAL_INPUTS, raw_arousal_index
from congruence.perception.voice.egemaps import EGEMAPS_ESTIMATOR, LICENCE_NOTE, EgemapsExtractor
from congruence.perception.voice.prosody import measure_prosody
from congruence.perception.voice.ser import SER_COLUMNS, SpeechEmotionEstimator
from congruence.provenance import Kind, Provenance
from congruence.registry import create

VERSION = "1"
PRAAT = "praat-parselmouth"
PROSODY_COLUMNS: dict[str, str] = {
    "voice_f0_median": "median F0 of voiced frames (Hz), two-pass speaker-adaptive pitch range",
    "voice_f0_p05": "5th percentile of F0 (Hz)",
    "voice_f0_p95": "95th percentile of F0 (Hz)",
    "voice_f0_range_st": "12*log2(p95/p05), semitones",
    "voice_intensity_mean": "energy-averaged intensity (dB re 1 Pa full scale; gain dependent)",
    "voice_intensity_max": "maximum intensity (dB; gain dependent)",
    "voice_jitter": "local jitter (fraction)",
    "voice_shimmer": "local shimmer (fraction)",
    "voice_hnr": "mean harmonics-to-noise ratio (dB)",
    "voice_voiced_frac": "voiced pitch frames / all frames",
    "voice_rate": "syllable nuclei per second of phonation (de Jong & Wempe 2009), acoustic",
    "voice_duration": "turn audio duration (s)",
}
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level in dB full scale: ``20 * log10(sqrt(mean(x^2)))``; -inf for digital silence."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(x * x)))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def count_words(text: str) -> int:
    """Number of words (letter/digit runs, with inner apostrophes) in ``text``."""
    return len(_WORD.findall(text or ""))


class VoiceAnalyzer:
    """Per-turn voice features: prosody (Praat), eGeMAPS (openSMILE) and a speech-emotion estimate.

    Audio is resampled to 16 kHz before analysis so that features do not depend on the input rate.
    Models and extractors load on first use and are cached on the instance.

    Args:
        pitch_floor, pitch_ceiling: outer pitch search range in Hz; ``two_pass_pitch`` narrows it
            to the speaker's range (De Looze & Hirst 2008) to avoid octave jumps.
        egemaps: compute the 88 eGeMAPSv02 functionals (needed by most arousal inputs).
        vad: run Silero VAD to tell silence from speech (besides the RMS floor).
        silence_floor_dbfs: turns quieter than this RMS level are ``"silence"``.
        min_duration_s: turns shorter than this are ``"too_short"``.
        ser, ser_options: the ``voice.ser`` estimator name and its keyword arguments (e.g.
            ``ser="wav2vec2", ser_options={"model_path": ...}``).
    """

    name = "voice"

    def __init__(
        self,
        *,
        pitch_floor: float = 60.0,
        pitch_ceiling: float = 600.0,
        two_pass_pitch: bool = True,
        egemaps: bool = True,
        vad: bool = True,
        silence_floor_dbfs: float = -55.0,
        min_duration_s: float = 0.3,
        ser: str = "proxy",
        ser_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.pitch_floor = pitch_floor
        self.pitch_ceiling = pitch_ceiling
        self.two_pass_pitch = two_pass_pitch
        self.egemaps = egemaps
        self.vad = vad
        self.silence_floor_dbfs = silence_floor_dbfs
        self.min_duration_s = min_duration_s
        self.ser_name = ser
        self.ser_options = dict(ser_options or {})
        # constructing an estimator loads nothing; its model loads on the first predict
        self.ser: SpeechEmotionEstimator = create("voice.ser", ser, **self.ser_options)
        self._egemaps = EgemapsExtractor()
        self._columns: dict[str, Provenance] | None = None

    def config(self) -> dict[str, Any]:
        return {
            "analyzer": f"voice.default/{VERSION}",
            "sample_rate": SAMPLE_RATE,
            "pitch_floor": self.pitch_floor,
            "pitch_ceiling": self.pitch_ceiling,
            "two_pass_pitch": self.two_pass_pitch,
            "egemaps": self.egemaps,
            "vad": self.vad,
            "silence_floor_dbfs": self.silence_floor_dbfs,
            "min_duration_s": self.min_duration_s,
            "arousal_inputs": [(i.column, i.weight, i.ref_mean, i.ref_sd) for i in AROUSAL_INPUTS],
            **{f"ser_{k}": v for k, v in self.ser.config().items()},
        }

    def columns(self) -> dict[str, Provenance]:
        if self._columns is None:
            self._columns = self._make_columns()
        return dict(self._columns)

    def _make_columns(self) -> dict[str, Provenance]:
        cols: dict[str, Provenance] = {
            name: Provenance(PRAAT, Kind.MEASUREMENT, note) for name, note in PROSODY_COLUMNS.items()
        }
        cols["voice_words_per_s"] = Provenance(
            "text-word-count", Kind.MEASUREMENT, "words in the turn's text / turn duration; None without text"
        )
        if self.egemaps:
            for c in self._egemaps.column_names():
                cols[c] = Provenance(EGEMAPS_ESTIMATOR, Kind.MEASUREMENT, LICENCE_NOTE)
        cols["voice_arousal_raw"] = Provenance(
            "voice-arousal-proxy",
            Kind.PROXY,
            "weighted mean of z-scores (fixed reference values) of pitch, loudness, syllable rate, "
            "spectral flux and alpha ratio; unbounded; see congruence.perception.voice.arousal",
        )
        cols.update(self.ser.columns())
        cols["voice_status"] = Provenance(
            "voice-analyzer", Kind.MEASUREMENT, "ok | silence | no_audio | too_short"
        )
        return cols

    def _empty(self, status: str, duration: float | None) -> Features:
        values: dict[str, Value] = dict.fromkeys(self.columns())
        values["voice_status"] = status
        values["voice_duration"] = duration
        return Features(values=values, provenance=self.columns())

    def status(self, audio: Audio | None) -> str:
        """``"ok"``, ``"no_audio"``, ``"too_short"`` or ``"silence"`` for a turn's (16 kHz) audio."""
        if audio is None:
            return "no_audio"
        if audio.duration < self.min_duration_s:
            return "too_short"
        if rms_dbfs(audio.samples) < self.silence_floor_dbfs:
            return "silence"
        if self.vad and not speech_regions(audio):
            return "silence"
        return "ok"

    def analyze_turn(self, audio: Audio | None, text: str = "") -> Features:
        """Features of one turn; never raises for missing, short or silent audio (see ``voice_status``)."""
        a = ensure_sample_rate(audio) if audio is not None else None
        status = self.status(a)
        if a is None or status != "ok":
            return self._empty(status, None if a is None else a.duration)

        values: dict[str, Value] = dict.fromkeys(self.columns())
        values.update(
            measure_prosody(
                a.samples,
                a.sample_rate,
                pitch_floor=self.pitch_floor,
                pitch_ceiling=self.pitch_ceiling,
                two_pass=self.two_pass_pitch,
            )
        )
        n_words = count_words(text)
        values["voice_words_per_s"] = n_words / a.duration if n_words else None
        if self.egemaps:
            values.update(self._egemaps.extract(a.samples, a.sample_rate))
        values["voice_arousal_raw"] = raw_arousal_index(values)
        values.update(self.ser.predict(a, values))
        values["voice_status"] = "ok"
        return Features(values=values, provenance=self.columns())

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        """Session step: the estimator's normalisation (speaker z-scores for the proxy)."""
        return self.ser.finalize(table)


__all__ = ["SER_COLUMNS", "VoiceAnalyzer", "count_words", "rms_dbfs"]
