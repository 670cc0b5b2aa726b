"""VoiceAnalyzer on synthetic speech from espeak-ng with controlled pitch, rate and loudness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from congruence import registry
from congruence.errors import CongruenceError
from congruence.ingest.media import Audio
from congruence.perception.voice import VoiceAnalyzer
from congruence.perception.voice.analyzer import PROSODY_COLUMNS, count_words, rms_dbfs
from congruence.provenance import Kind

TEXT = "I was thinking about what happened last week and it still bothers me when I remember it."


def _audio(path: Path, offset: float = 0.0) -> Audio:
    """A wav as the analyzers receive it: mono float32 at its own rate (the analyzer resamples)."""
    y, sr = sf.read(path, dtype="float32")
    return Audio(y, sr, offset)


@pytest.fixture(scope="module")
def analyzer() -> VoiceAnalyzer:
    return VoiceAnalyzer()


@pytest.fixture(scope="module")
def turns(speak, analyzer):
    """Speaker A (male voice) calm / neutral / aroused, speaker B (female voice) calm / neutral."""
    specs = {
        "A_calm": ("en-us", dict(speed=130, pitch=30, amplitude=40)),
        "A_neutral": ("en-us", dict(speed=160, pitch=45, amplitude=90)),
        "A_aroused": ("en-us", dict(speed=210, pitch=80, amplitude=190)),
        "B_calm": ("en-us+f3", dict(speed=140, pitch=55, amplitude=60)),
        "B_neutral": ("en-us+f3", dict(speed=165, pitch=65, amplitude=100)),
    }
    out = {}
    for name, (voice, kw) in specs.items():
        audio = _audio(speak(TEXT, voice=voice, **kw))
        out[name] = analyzer.analyze_turn(audio, text=TEXT).values
    return out


@pytest.mark.slow
def test_higher_pitch_gives_higher_f0(speak, analyzer):
    low = analyzer.analyze_turn(_audio(speak(TEXT, pitch=20))).values
    high = analyzer.analyze_turn(_audio(speak(TEXT, pitch=85))).values
    assert high["voice_f0_median"] > low["voice_f0_median"] * 1.2
    for v in (low, high):
        assert v["voice_status"] == "ok"
        assert 60 <= v["voice_f0_p05"] <= v["voice_f0_median"] <= v["voice_f0_p95"] <= 600
        assert v["voice_f0_range_st"] == pytest.approx(12 * np.log2(v["voice_f0_p95"] / v["voice_f0_p05"]))


@pytest.mark.slow
def test_faster_speech_has_higher_syllable_rate(speak, analyzer):
    slow = analyzer.analyze_turn(_audio(speak(TEXT, speed=110))).values
    fast = analyzer.analyze_turn(_audio(speak(TEXT, speed=230))).values
    assert fast["voice_duration"] < slow["voice_duration"]
    assert fast["voice_rate"] > slow["voice_rate"] * 1.3
    # a plausible syllable rate for speech (the sentence has 24 syllables)
    assert 2.0 < slow["voice_rate"] < fast["voice_rate"] < 12.0


@pytest.mark.slow
def test_louder_speech_has_higher_intensity_and_loudness(turns):
    calm, aroused = turns["A_calm"], turns["A_aroused"]
    assert aroused["voice_intensity_mean"] > calm["voice_intensity_mean"] + 6  # 40 -> 190 amplitude
    assert aroused["voice_intensity_max"] > calm["voice_intensity_max"]
    loud = "voice_egemaps_loudness_sma3_amean"
    assert aroused[loud] > calm[loud]


@pytest.mark.slow
def test_prosody_and_egemaps_columns_are_filled_for_speech(turns, analyzer):
    v = turns["A_neutral"]
    egemaps = [c for c in v if c.startswith("voice_egemaps_")]
    assert len(egemaps) == 88
    assert all(np.isfinite(v[c]) for c in egemaps)
    for c in PROSODY_COLUMNS:
        assert isinstance(v[c], float) and np.isfinite(v[c]), c
    assert 0 < v["voice_jitter"] < 0.2 and 0 < v["voice_shimmer"] < 0.5
    assert 0 < v["voice_voiced_frac"] <= 1
    assert v["voice_words_per_s"] == pytest.approx(count_words(TEXT) / v["voice_duration"])
    assert count_words(TEXT) == 17
    assert set(v) == set(analyzer.columns())


@pytest.mark.slow
def test_louder_faster_higher_turn_is_more_aroused_after_speaker_normalisation(turns, analyzer):
    table = pd.DataFrame([dict(v, speaker=name[0], turn=name) for name, v in turns.items()]).set_index("turn")
    out = analyzer.finalize(table)
    a = out["voice_arousal"].astype(float)
    assert a["A_aroused"] > a["A_neutral"] > a["A_calm"]
    assert a["B_neutral"] > a["B_calm"]
    # the female voice's calm turn is high-pitched, but not aroused relative to its speaker
    assert a["A_aroused"] > a["B_calm"]
    assert a["B_calm"] < 0
    assert ((a >= -1) & (a <= 1)).all()
    # raw index stays as computed per turn; only the mapped arousal is normalised
    assert (out["voice_arousal_raw"] == table["voice_arousal_raw"]).all()


@pytest.mark.slow
def test_single_turn_session_keeps_raw_arousal(turns, analyzer):
    v = turns["A_neutral"]
    out = analyzer.finalize(pd.DataFrame([dict(v, speaker="A")]))
    assert out["voice_arousal"].iloc[0] == pytest.approx(np.tanh(v["voice_arousal_raw"]))
    assert out["voice_arousal"].iloc[0] == pytest.approx(v["voice_arousal"])


def _assert_all_none(values: dict, keep: tuple[str, ...] = ("voice_status", "voice_duration")) -> None:
    assert all(values[c] is None for c in values if c not in keep)


def test_missing_audio_is_no_audio(analyzer):
    v = analyzer.analyze_turn(None, text="hello there").values
    assert v["voice_status"] == "no_audio"
    assert v["voice_duration"] is None
    _assert_all_none(v)


@pytest.mark.slow
def test_silence_and_background_noise_are_silence(analyzer):
    sr = 16000
    digital = analyzer.analyze_turn(Audio(np.zeros(2 * sr, np.float32), sr)).values
    assert digital["voice_status"] == "silence"
    assert digital["voice_duration"] == pytest.approx(2.0)
    _assert_all_none(digital)
    # audible hiss (-40 dBFS) passes the RMS floor but VAD finds no speech in it
    hiss = (np.random.default_rng(0).standard_normal(2 * sr) * 0.01).astype(np.float32)
    assert rms_dbfs(hiss) > analyzer.silence_floor_dbfs
    v = analyzer.analyze_turn(Audio(hiss, sr)).values
    assert v["voice_status"] == "silence"
    _assert_all_none(v)


def test_very_short_audio_is_too_short(speak, analyzer):
    audio = _audio(speak("yes"))
    clip = Audio(audio.samples[: int(0.2 * audio.sample_rate)], audio.sample_rate)
    v = analyzer.analyze_turn(clip).values
    assert v["voice_status"] == "too_short"
    _assert_all_none(v)
    assert analyzer.analyze_turn(Audio(np.zeros(0, np.float32), 16000)).values["voice_status"] == "too_short"


def test_finalize_leaves_turns_without_voice_as_none(turns, analyzer):
    rows = [dict(turns["A_calm"], speaker="A"), dict(turns["A_aroused"], speaker="A")]
    rows.append(dict(analyzer.analyze_turn(None).values, speaker="A"))
    out = analyzer.finalize(pd.DataFrame(rows))
    assert pd.isna(out["voice_arousal"].iloc[2])  # missing, not a fake 0
    assert out["voice_status"].iloc[2] == "no_audio"
    assert out["voice_arousal"].iloc[1] > out["voice_arousal"].iloc[0]


def test_stereo_audio_is_a_clear_error(analyzer):
    with pytest.raises(CongruenceError, match="mono"):
        analyzer.analyze_turn(Audio(np.zeros((16000, 2), np.float32), 16000))


def test_resampled_input_gives_the_same_pitch(speak, analyzer):
    import soxr

    audio = _audio(speak(TEXT, pitch=50))  # espeak writes 22.05 kHz
    at16 = Audio(soxr.resample(audio.samples, audio.sample_rate, 16000).astype(np.float32), 16000)
    a = analyzer.analyze_turn(audio).values
    b = analyzer.analyze_turn(at16).values
    assert a["voice_f0_median"] == pytest.approx(b["voice_f0_median"], rel=0.02)


def test_columns_have_provenance_and_config_is_a_cache_key(analyzer):
    cols = analyzer.columns()
    for c in PROSODY_COLUMNS:
        assert cols[c].kind is Kind.MEASUREMENT
    assert cols["voice_egemaps_loudness_sma3_amean"].kind is Kind.MEASUREMENT
    assert "non-commercial" in cols["voice_egemaps_loudness_sma3_amean"].note
    assert cols["voice_arousal"].kind is Kind.PROXY
    assert cols["voice_arousal_raw"].kind is Kind.PROXY
    assert cols["voice_valence"].kind is Kind.PROXY and "weak" in cols["voice_valence"].note
    cfg = analyzer.config()
    assert cfg["ser_ser"] == "proxy"
    assert VoiceAnalyzer(pitch_floor=75.0).config() != cfg
    assert registry.create("voice.analyzer", "default").config() == cfg


def test_constructor_takes_keywords_only():
    with pytest.raises(TypeError):
        VoiceAnalyzer(60.0)  # type: ignore[misc]


def _praat_reference(samples: np.ndarray, sr: int, floor: float = 60.0, ceiling: float = 600.0) -> dict:
    """F0 quantiles, jitter and shimmer computed with Praat's own commands, the oracle for the analyzer.

    Praat's two-pass recipe (De Looze & Hirst 2008): a first pitch pass in [floor, ceiling], then
    [0.75 * Q1, 1.5 * Q3] of its voiced frames; the F0 quantiles by Praat's "Get quantile".
    """
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=float(sr))
    first = call(snd, "To Pitch", 0.01, floor, ceiling).selected_array["frequency"]
    # Q1 / Q3 of the voiced frames with linear interpolation: shimmer moves by ~1 % with the range
    # when Praat's own quantile rule is used here instead
    q1, q3 = np.percentile(first[first > 0], [25, 75])
    lo, hi = max(floor, 0.75 * q1), min(ceiling, 1.5 * q3)
    pitch = call(snd, "To Pitch", 0.01, lo, hi)
    points = call(snd, "To PointProcess (periodic, cc)", lo, hi)
    return {
        "voice_f0_p05": call(pitch, "Get quantile", 0, 0, 0.05, "Hertz"),
        "voice_f0_median": call(pitch, "Get quantile", 0, 0, 0.50, "Hertz"),
        "voice_f0_p95": call(pitch, "Get quantile", 0, 0, 0.95, "Hertz"),
        "voice_jitter": call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3),
        "voice_shimmer": call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "pitch"), [("en-us", 30), ("en-us", 80), ("en-us+f3", 55)], ids=["low", "high", "female"]
)
def test_f0_jitter_shimmer_agree_with_praat_within_one_percent(speak, analyzer, tmp_path, voice, pitch):
    import subprocess

    wav = speak(TEXT, voice=voice, pitch=pitch)
    at16k = tmp_path / "16k.wav"  # resampled by sox, so both sides get the same 16 kHz samples
    subprocess.run(["sox", str(wav), "-r", "16000", str(at16k)], check=True)
    y, sr = sf.read(at16k, dtype="float32")
    got = analyzer.analyze_turn(Audio(y, sr), text=TEXT).values
    ref = _praat_reference(y, sr)
    for key, want in ref.items():
        assert got[key] == pytest.approx(want, rel=0.01), key
