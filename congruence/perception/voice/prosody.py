"""Prosody measurements with Praat (praat-parselmouth): pitch, intensity, voice quality, rate.

Praat is GPLv3 (parselmouth bundles it). Every value here is a signal *measurement*, not an
inference. Intensities are in dB relative to a full-scale sample of 1 Pa, so they depend on the
recording gain: compare them within one recording and one speaker, not across recordings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from congruence.table import as_number

# Praat "To Pitch" needs at least ~3 periods of the floor in its analysis window; two-pass limits
MIN_VOICED_FRAMES_FOR_SECOND_PASS = 20


@dataclass(frozen=True)
class PitchRange:
    """Pitch floor and ceiling in Hz used for a turn."""

    floor: float
    ceiling: float


def adaptive_pitch_range(f0_voiced: np.ndarray, *, floor: float, ceiling: float) -> PitchRange:
    """Speaker-adaptive pitch range of the second pass: ``[0.75 * Q1, 1.5 * Q3]`` of a first pass.

    De Looze & Hirst (2008), "Detecting changes in key and range for the automatic modelling and
    coding of intonation", Speech Prosody. A range fitted to the speaker stops Praat from jumping
    an octave up or down. The result is clamped to the user's ``[floor, ceiling]``; with too few
    voiced frames the user's range is returned unchanged.

    >>> adaptive_pitch_range(np.full(50, 120.0), floor=60, ceiling=600)
    PitchRange(floor=90.0, ceiling=180.0)
    """
    if len(f0_voiced) < MIN_VOICED_FRAMES_FOR_SECOND_PASS:
        return PitchRange(float(floor), float(ceiling))
    q1, q3 = np.percentile(f0_voiced, [25, 75])
    lo = max(float(floor), 0.75 * float(q1))
    hi = min(float(ceiling), 1.5 * float(q3))
    if hi <= lo * 1.5:  # degenerate range; keep the user's
        return PitchRange(float(floor), float(ceiling))
    return PitchRange(lo, hi)


def semitone_range(p05: float | None, p95: float | None) -> float | None:
    """Pitch range in semitones: ``12 * log2(p95 / p05)``; ``None`` if either is missing."""
    if p05 is None or p95 is None or p05 <= 0 or p95 <= 0:
        return None
    return 12.0 * math.log2(p95 / p05)


def syllable_nuclei(
    intensity_db: np.ndarray,
    voiced: np.ndarray,
    *,
    dt: float,
    silence_db: float = -25.0,
    min_dip_db: float = 2.0,
    min_pause_s: float = 0.3,
) -> tuple[int, float]:
    """Count syllable nuclei and phonation time from an intensity contour (de Jong & Wempe 2009).

    De Jong & Wempe (2009), "Praat script to detect syllable nuclei and measure speech rate
    automatically", Behavior Research Methods 41(2). Steps: threshold = 0.99-quantile of intensity
    + ``silence_db`` (not below the minimum); candidate nuclei are intensity peaks above the
    threshold; a peak counts when intensity dips by more than ``min_dip_db`` before the next peak,
    and when the frame is voiced. Phonation time = frames above the threshold, with pauses shorter
    than ``min_pause_s`` counted as sounding.

    ``intensity_db`` and ``voiced`` (bool) are sampled on the same frame grid of step ``dt``.
    Returns ``(n_nuclei, phonation_time_s)``.
    """
    x = np.asarray(intensity_db, dtype=float)
    v = np.asarray(voiced, dtype=bool)
    if len(x) < 3:
        return 0, 0.0
    threshold = max(float(np.quantile(x, 0.99)) + silence_db, float(x.min()))
    # local maxima (plateaus count once, at their left edge)
    peaks = [i for i in range(1, len(x) - 1) if x[i] > x[i - 1] and x[i] >= x[i + 1] and x[i] > threshold]
    count = 0
    for k, p in enumerate(peaks):
        nxt = peaks[k + 1] if k + 1 < len(peaks) else len(x)
        dip = float(x[p:nxt].min()) if nxt > p else float(x[p])
        # the last peak is followed by the decay to the end of the turn
        if x[p] - dip > min_dip_db and v[p]:
            count += 1
    sounding = x > threshold
    # fill pauses shorter than min_pause_s (they are part of phonation, de Jong & Wempe)
    max_gap = round(min_pause_s / dt)
    idx = np.flatnonzero(sounding)
    if len(idx):
        gaps = np.diff(idx)
        for a, g in zip(idx[:-1], gaps, strict=True):
            if 1 < g <= max_gap:
                sounding[a : a + g] = True
    return count, float(sounding.sum()) * dt


def measure_prosody(
    samples: np.ndarray,
    sample_rate: int,
    *,
    pitch_floor: float = 60.0,
    pitch_ceiling: float = 600.0,
    two_pass: bool = True,
) -> dict[str, float | None]:
    """Prosody of one turn (Praat via parselmouth); ``None`` for values Praat leaves undefined.

    Keys: ``voice_f0_median``, ``voice_f0_p05``, ``voice_f0_p95`` (Hz, percentiles of voiced
    frames so that stray octave errors do not set the extremes), ``voice_f0_range_st``,
    ``voice_intensity_mean`` (energy mean, dB), ``voice_intensity_max`` (dB), ``voice_jitter``
    (local), ``voice_shimmer`` (local), ``voice_hnr`` (dB, cross-correlation harmonicity),
    ``voice_voiced_frac`` (voiced pitch frames / all frames), ``voice_rate`` (syllable nuclei per
    second of phonation, de Jong & Wempe 2009), ``voice_duration`` (s).
    """
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=float(sample_rate))
    out: dict[str, float | None] = {"voice_duration": float(snd.duration)}

    pitch = snd.to_pitch(time_step=0.01, pitch_floor=pitch_floor, pitch_ceiling=pitch_ceiling)
    rng = PitchRange(pitch_floor, pitch_ceiling)
    if two_pass:
        f0 = pitch.selected_array["frequency"]
        rng = adaptive_pitch_range(f0[f0 > 0], floor=pitch_floor, ceiling=pitch_ceiling)
        if (rng.floor, rng.ceiling) != (pitch_floor, pitch_ceiling):
            pitch = snd.to_pitch(time_step=0.01, pitch_floor=rng.floor, pitch_ceiling=rng.ceiling)
    f0 = pitch.selected_array["frequency"]
    voiced_f0 = f0[f0 > 0]
    if len(voiced_f0):
        p05, p50, p95 = (float(q) for q in np.percentile(voiced_f0, [5, 50, 95]))
    else:
        p05 = p50 = p95 = None  # type: ignore[assignment]
    out.update(
        voice_f0_median=p50,
        voice_f0_p05=p05,
        voice_f0_p95=p95,
        voice_f0_range_st=semitone_range(p05, p95),
        voice_voiced_frac=float(len(voiced_f0) / len(f0)) if len(f0) else None,
    )

    intensity = snd.to_intensity(minimum_pitch=rng.floor, time_step=0.01)
    out["voice_intensity_mean"] = as_number(call(intensity, "Get mean", 0, 0, "energy"))
    out["voice_intensity_max"] = as_number(call(intensity, "Get maximum", 0, 0, "Parabolic"))

    if len(voiced_f0):
        points = call(snd, "To PointProcess (periodic, cc)", rng.floor, rng.ceiling)
        # Praat's standard voice-report arguments: period 0.1-20 ms, max period factor 1.3, amp 1.6
        out["voice_jitter"] = as_number(call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3))
        out["voice_shimmer"] = as_number(
            call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
        )
        harm = snd.to_harmonicity_cc(time_step=0.01, minimum_pitch=rng.floor)
        out["voice_hnr"] = as_number(call(harm, "Get mean", 0, 0))
    else:
        out.update(voice_jitter=None, voice_shimmer=None, voice_hnr=None)

    times = intensity.xs()
    values = intensity.values[0]
    # voicing of the nearest pitch frame at each intensity frame
    voiced_at = np.interp(times, pitch.xs(), (f0 > 0).astype(float)) > 0.5
    n_syll, phonation = syllable_nuclei(values, voiced_at, dt=float(intensity.time_step))
    out["voice_rate"] = n_syll / phonation if phonation > 0 else None
    return out
