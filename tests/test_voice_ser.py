"""The wav2vec2 speech-emotion plug-in, on a tiny randomly initialised model of the same architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from congruence import registry
from congruence.errors import ModelUnavailableError
from congruence.ingest.media import Audio
from congruence.perception.voice import VoiceAnalyzer
from congruence.perception.voice.ser import SER_COLUMNS, Wav2Vec2SER, emotion_model_class, unit_to_signed
from congruence.provenance import Kind


def _tiny_model(path: Path, id2label: dict[int, str]):
    """Save an audEERING-architecture model with hidden_size 32, 2 layers and a small conv stack."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 4, 4),
        conv_kernel=(10, 8, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",  # as in wav2vec2-large-robust
        do_stable_layer_norm=True,
        num_labels=3,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        final_dropout=0.1,
    )
    model = emotion_model_class()(config).eval()
    # the random head gives outputs near 0: shift them into the model's [0, 1] range
    with torch.no_grad():
        model.classifier.out_proj.bias.copy_(torch.tensor([0.3, 0.5, 0.7]))
    model.save_pretrained(str(path))
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True).save_pretrained(
        str(path)
    )
    return model


@pytest.fixture(scope="module")
def speech(speak) -> Audio:
    import soxr

    y, sr = sf.read(speak("I feel calm and quite content today."), dtype="float32")
    return Audio(soxr.resample(y, sr, 16000).astype(np.float32), 16000)


def _expected(model, audio: Audio) -> np.ndarray:
    import torch

    x = audio.samples
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    with torch.inference_mode():
        return unit_to_signed(model(torch.from_numpy(x.astype(np.float32))[None])[1][0].numpy())


@pytest.mark.slow
def test_tiny_wav2vec2_loads_and_predicts_in_range(tmp_path, speech):
    labels = {0: "arousal", 1: "dominance", 2: "valence"}
    model = _tiny_model(tmp_path, labels)
    ser = registry.create("voice.ser", "wav2vec2", model_path=tmp_path)
    out = ser.predict(speech, {})
    assert set(out) == set(SER_COLUMNS)
    assert all(-1.0 <= out[c] <= 1.0 for c in SER_COLUMNS)
    # the saved weights were loaded (a re-initialised head would give other numbers)
    arousal, dominance, valence = _expected(model, speech)
    assert out["voice_arousal"] == pytest.approx(arousal, abs=1e-4)
    assert out["voice_dominance"] == pytest.approx(dominance, abs=1e-4)
    assert out["voice_valence"] == pytest.approx(valence, abs=1e-4)
    assert all(p.kind is Kind.MODEL for p in ser.columns().values())


@pytest.mark.slow
def test_label_order_is_read_from_the_config(tmp_path, speech):
    model = _tiny_model(tmp_path, {0: "valence", 1: "arousal", 2: "dominance"})
    out = Wav2Vec2SER(model_path=tmp_path).predict(speech, {})
    first, second, third = _expected(model, speech)
    assert out["voice_valence"] == pytest.approx(first, abs=1e-4)
    assert out["voice_arousal"] == pytest.approx(second, abs=1e-4)
    assert out["voice_dominance"] == pytest.approx(third, abs=1e-4)


def _windowed_reference(model, samples: np.ndarray, win: int, min_tail: int) -> np.ndarray:
    """One forward pass per window (each normalised on its own), outputs averaged by window length."""
    import torch

    outs, weights = [], []
    for start in range(0, len(samples), win):
        chunk = samples[start : start + win]
        if len(chunk) < min_tail and outs:
            break
        x = (chunk - chunk.mean()) / np.sqrt(chunk.var() + 1e-7)
        with torch.inference_mode():
            outs.append(model(torch.from_numpy(x.astype(np.float32))[None])[1][0].numpy())
        weights.append(len(chunk))
    return unit_to_signed(np.average(np.stack(outs), axis=0, weights=np.asarray(weights, dtype=float)))


@pytest.mark.slow
@pytest.mark.parametrize("extra_s", [0.1, 0.5], ids=["short-tail-dropped", "tail-weighted"])
def test_long_turns_are_windowed_as_per_window_forward_passes(tmp_path, speech, extra_s):
    model = _tiny_model(tmp_path, {0: "arousal", 1: "dominance", 2: "valence"})
    n = int((2.0 + extra_s) * 16000)  # two full 1 s windows and a tail
    long = Audio(np.resize(np.tile(speech.samples, 3), n), 16000)
    out = Wav2Vec2SER(model_path=tmp_path, max_window_s=1.0).predict(long, {})
    arousal, dominance, valence = _windowed_reference(model, long.samples, 16000, 4000)
    # 1e-5: a dropped 0.1 s tail moves the outputs by ~1e-4, so including it would fail
    assert out["voice_arousal"] == pytest.approx(arousal, abs=1e-5)
    assert out["voice_dominance"] == pytest.approx(dominance, abs=1e-5)
    assert out["voice_valence"] == pytest.approx(valence, abs=1e-5)
    # the windows matter: one pass over the whole turn gives other numbers
    assert not np.allclose(_expected(model, long), [arousal, dominance, valence], atol=1e-4)


@pytest.mark.slow
def test_analyzer_with_wav2vec2_reports_model_values(tmp_path, speech):
    _tiny_model(tmp_path, {0: "arousal", 1: "dominance", 2: "valence"})
    va = VoiceAnalyzer(ser="wav2vec2", ser_options={"model_path": str(tmp_path)}, egemaps=False)
    f = va.analyze_turn(speech)
    assert f.values["voice_status"] == "ok"
    for c in SER_COLUMNS:
        assert -1.0 <= f.values[c] <= 1.0
        assert f.provenance[c].kind is Kind.MODEL
    table = pd.DataFrame([dict(f.values, speaker="A")] * 2)
    # model outputs are absolute: finalize does not renormalise them
    pd.testing.assert_frame_equal(va.finalize(table), table)
    assert va.config()["ser_model_path"] == str(tmp_path)
    assert va.analyze_turn(None).values["voice_arousal"] is None


def test_missing_model_folder_is_a_clear_error(tmp_path, speech, monkeypatch):
    monkeypatch.delenv("CONGRUENCE_SER_WAV2VEC2", raising=False)
    with pytest.raises(ModelUnavailableError, match="model_path"):
        Wav2Vec2SER().predict(speech, {})
    with pytest.raises(ModelUnavailableError, match="audeering"):
        Wav2Vec2SER(model_path=tmp_path / "nowhere").predict(speech, {})


def test_unit_to_signed_maps_and_clips():
    np.testing.assert_allclose(unit_to_signed(np.array([0.0, 0.5, 1.0, 1.4, -0.2])), [-1, 0, 1, 1, -1])


def test_ser_registry_lists_both():
    assert {"proxy", "wav2vec2"} <= set(registry.names("voice.ser"))
