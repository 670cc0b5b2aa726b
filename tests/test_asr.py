"""ASR (faster-whisper tiny.en) and voice activity (Silero VAD) on espeak-ng speech."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.ingest.asr import (
    AsrSegment,
    Transcriber,
    ensure_sample_rate,
    resolve_model_path,
    speech_regions,
    transcribe,
    words_of,
)
from congruence.ingest.media import Audio
from congruence.schema import Word

SENTENCE = "The weather was lovely this morning, so I walked my dog to the river."
KEY_WORDS = {"weather", "lovely", "morning", "walked", "dog", "river"}


def _audio(path, *, pad_s: float = 0.0, offset: float = 0.0) -> Audio:
    y, sr = sf.read(path, dtype="float32")
    pad = np.zeros(int(pad_s * sr), np.float32)
    return Audio(np.concatenate([pad, y, pad]), sr, offset)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


@pytest.fixture(scope="module")
def sentence(speak) -> Audio:
    return _audio(speak(SENTENCE, speed=150), pad_s=1.0)


@pytest.mark.slow
def test_transcribe_finds_key_words_with_increasing_timestamps(sentence):
    segments = transcribe(sentence)
    assert segments and all(isinstance(s, AsrSegment) for s in segments)
    words = words_of(segments)
    assert all(isinstance(w, Word) for w in words)
    found = {_norm(w.text) for w in words}
    # tiny.en-level errors: one key word may be misheard (this espeak build's "The weather" came
    # back as "But when"), never more
    assert len(KEY_WORDS & found) >= len(KEY_WORDS) - 1, found
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(w.start <= w.end for w in words)
    # the speech starts after the 1 s of leading silence and ends before the trailing one
    assert 0.5 <= words[0].start <= 1.6  # Whisper word times are good to a few hundred ms
    assert words[-1].end <= sentence.duration - 0.5
    # the key words span the sentence: more than 1.5 s of speech from the first to the last
    key_times = [w.start for w in words if _norm(w.text) in KEY_WORDS]
    assert key_times[-1] - key_times[0] > 1.5
    assert all(0.0 <= w.probability <= 1.0 for w in words)


@pytest.mark.slow
def test_times_are_media_times(sentence):
    shifted = Audio(sentence.samples, sentence.sample_rate, offset=100.0)
    a, b = words_of(transcribe(sentence)), words_of(transcribe(shifted))
    assert [w.text for w in a] == [w.text for w in b]
    assert b[0].start == pytest.approx(a[0].start + 100.0, abs=0.02)


@pytest.mark.slow
def test_silence_transcribes_to_nothing():
    assert transcribe(Audio(np.zeros(3 * 16000, np.float32), 16000)) == []
    assert transcribe(Audio(np.zeros(0, np.float32), 16000)) == []


@pytest.mark.slow
def test_speech_regions_cover_the_speech_only(sentence, speak):
    regions = speech_regions(sentence)
    assert regions
    assert 0.7 <= regions[0][0] <= 1.3  # 1 s of silence before the speech
    assert sentence.duration - 1.3 <= regions[-1][1] <= sentence.duration - 0.7
    # two utterances 1.5 s apart are two regions; shifted by the audio's offset
    y1 = _audio(speak("Good morning."))
    y2 = _audio(speak("See you later."))
    gap = np.zeros(int(1.5 * y1.sample_rate), np.float32)
    both = Audio(np.concatenate([y1.samples, gap, y2.samples]), y1.sample_rate, offset=5.0)
    regions = speech_regions(both)
    assert len(regions) == 2
    assert regions[0][0] >= 5.0
    assert regions[1][0] - regions[0][1] > 1.0
    assert speech_regions(Audio(np.zeros(16000, np.float32), 16000)) == []


def test_unknown_model_names_and_folders_are_clear_errors(tmp_path):
    assert (resolve_model_path("tiny.en") + "/model.bin").endswith("model.bin")
    with pytest.raises(ModelUnavailableError, match="folder"):
        resolve_model_path("large-v3")
    with pytest.raises(ModelUnavailableError, match=r"model\.bin"):
        resolve_model_path(tmp_path)


def test_a_local_ctranslate2_folder_is_accepted(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"")
    assert resolve_model_path(tmp_path) == str(tmp_path)
    t = Transcriber(model=tmp_path)
    assert t.language is None  # a multilingual model detects the language
    assert Transcriber().language == "en"


def test_ensure_sample_rate_resamples_and_rejects_bad_audio():
    a = ensure_sample_rate(Audio(np.zeros(44100, np.float32), 44100, offset=2.0))
    assert a.sample_rate == 16000 and len(a.samples) == 16000 and a.offset == 2.0
    with pytest.raises(CongruenceError, match="mono"):
        ensure_sample_rate(Audio(np.zeros((10, 2), np.float32), 16000))
    with pytest.raises(CongruenceError, match="NaN"):
        ensure_sample_rate(Audio(np.array([0.0, np.nan], np.float32), 16000))
