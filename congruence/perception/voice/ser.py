"""Speech-emotion estimators behind the registry family ``"voice.ser"``.

- ``"proxy"`` (default): the speaker-normalised arousal proxy of
  :mod:`congruence.perception.voice.arousal`; valence and dominance are ``None`` (valence from
  acoustics alone is weak, and no packaged model estimates it).
- ``"wav2vec2"``: the audEERING dimensional model of Wagner et al. (2023), "Dawn of the
  transformer era in speech emotion recognition: closing the valence gap", IEEE TPAMI 45(9) -
  Wav2Vec2-Large-Robust pruned to 12 layers and fine-tuned on MSP-Podcast - as used by the
  emotion-guided-interventions and mixed-signals papers. Its weights are not on any package
  registry (and are CC BY-NC-SA 4.0): download them where you have network access and pass the
  folder as ``model_path``.

Every estimator returns the columns ``voice_arousal``, ``voice_valence`` and ``voice_dominance``,
each in [-1, 1] or ``None``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from congruence.errors import ModelUnavailableError
from congruence.ingest.media import Audio
from congruence.perception.base import Value
from congruence.perception.voice.arousal import raw_arousal, speaker_normalised_arousal
from congruence.provenance import Kind, Provenance

SER_COLUMNS = ("voice_arousal", "voice_valence", "voice_dominance")
WAV2VEC2_LABELS = ("arousal", "dominance", "valence")  # output order of the audEERING model


class SpeechEmotionEstimator(Protocol):
    """What a ``voice.ser`` entry provides."""

    name: str

    def config(self) -> dict[str, Any]: ...

    def columns(self) -> dict[str, Provenance]: ...

    def predict(self, audio: Audio, measured: Mapping[str, Value]) -> dict[str, Value]:
        """Values of :data:`SER_COLUMNS` for one turn (16 kHz audio plus the measured features)."""
        ...

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame: ...


class ProxySER:
    """Arousal PROXY from prosody and eGeMAPS, normalised per speaker in :meth:`finalize`.

    Per turn: the raw mapping ``tanh(A_raw)`` (fixed reference values). Per session:
    :func:`~congruence.perception.voice.arousal.speaker_normalised_arousal` over the rows whose
    ``voice_status`` is ``"ok"``. Valence and dominance stay ``None``.
    """

    name = "proxy"

    def __init__(self, *, speaker_column: str = "speaker", min_turns: int = 2) -> None:
        self.speaker_column = speaker_column
        self.min_turns = min_turns

    def config(self) -> dict[str, Any]:
        return {"ser": self.name, "speaker_column": self.speaker_column, "min_turns": self.min_turns}

    def columns(self) -> dict[str, Provenance]:
        return {
            "voice_arousal": Provenance(
                "voice-arousal-proxy",
                Kind.PROXY,
                "tanh of a weighted mean of speaker z-scored pitch, loudness, syllable rate, spectral flux "
                "and alpha ratio; relative to the speaker's other turns, not calibrated",
            ),
            "voice_valence": Provenance(
                "voice-arousal-proxy",
                Kind.PROXY,
                "not estimated (always None): valence from acoustics alone is weak; use voice.ser "
                "'wav2vec2' with the audEERING weights for a model estimate",
            ),
            "voice_dominance": Provenance(
                "voice-arousal-proxy", Kind.PROXY, "not estimated (always None) without a model"
            ),
        }

    def predict(self, audio: Audio, measured: Mapping[str, Value]) -> dict[str, Value]:
        return {"voice_arousal": raw_arousal(measured), "voice_valence": None, "voice_dominance": None}

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table
        out = table.copy()
        ok = (
            out["voice_status"] == "ok" if "voice_status" in out.columns else pd.Series(True, index=out.index)
        )
        if ok.any():
            arousal = speaker_normalised_arousal(
                out.loc[ok], speaker_column=self.speaker_column, min_turns=self.min_turns
            )
            if "voice_arousal" in out.columns:
                col = out["voice_arousal"].astype(object)
            else:
                col = pd.Series(None, index=out.index, dtype=object)
            col.loc[ok] = [None if np.isnan(v) else float(v) for v in arousal]
            out["voice_arousal"] = col
        return out


def unit_to_signed(y: np.ndarray) -> np.ndarray:
    """Map the audEERING model's roughly-[0, 1] outputs to [-1, 1]: ``clip(2y - 1, -1, 1)``."""
    return np.clip(2.0 * np.asarray(y, dtype=float) - 1.0, -1.0, 1.0)


@functools.cache
def emotion_model_class() -> type:
    """The audEERING architecture: ``Wav2Vec2Model`` + mean pooling + a regression head.

    Head (as published with the model): dropout -> dense(hidden, hidden) -> tanh -> dropout ->
    out_proj(hidden, num_labels=3) giving arousal, dominance, valence. Built on first call so that
    importing this module does not import torch.
    """
    import torch
    from torch import nn
    from transformers import Wav2Vec2Model, Wav2Vec2PreTrainedModel

    class RegressionHead(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = nn.Dropout(config.final_dropout)
            self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.dropout(x)
            x = torch.tanh(self.dense(x))
            x = self.dropout(x)
            return self.out_proj(x)

    class EmotionModel(Wav2Vec2PreTrainedModel):
        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = RegressionHead(config)
            self.post_init()

        def forward(self, input_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.wav2vec2(input_values)[0]
            pooled = hidden.mean(dim=1)
            return pooled, self.classifier(pooled)

    return EmotionModel


class Wav2Vec2SER:
    """The audEERING wav2vec2 valence / arousal / dominance regressor, loaded from a local folder.

    ``model_path`` (or ``$CONGRUENCE_SER_WAV2VEC2``) is a folder with ``config.json``, the weights
    and ``preprocessor_config.json`` (e.g. a copy of
    ``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim``). Long turns are cut into windows of at
    most ``max_window_s`` seconds whose outputs are averaged, weighted by window length.
    """

    name = "wav2vec2"

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        max_window_s: float = 20.0,
        num_threads: int | None = None,
    ) -> None:
        path = model_path or os.environ.get("CONGRUENCE_SER_WAV2VEC2")
        self.model_path = Path(path) if path else None
        self.max_window_s = max_window_s
        self.num_threads = num_threads
        self._model: Any = None
        self._extractor: Any = None
        self._order: tuple[str, ...] = WAV2VEC2_LABELS

    def config(self) -> dict[str, Any]:
        return {"ser": self.name, "model_path": str(self.model_path), "max_window_s": self.max_window_s}

    def columns(self) -> dict[str, Provenance]:
        est = f"wav2vec2-ser:{self.model_path.name if self.model_path else '?'}"
        note = "Wagner et al. 2023 architecture; model outputs in [0, 1] mapped to [-1, 1] as 2y - 1"
        return {c: Provenance(est, Kind.MODEL, note) for c in SER_COLUMNS}

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        if self.model_path is None or not (self.model_path / "config.json").exists():
            raise ModelUnavailableError(
                f"No wav2vec2 speech-emotion model at '{self.model_path}'.",
                "Download audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim where you have network "
                "access (licence CC BY-NC-SA 4.0) and pass its folder as model_path (or set "
                "CONGRUENCE_SER_WAV2VEC2); or use voice.ser 'proxy'.",
            )
        import torch
        from transformers import Wav2Vec2FeatureExtractor

        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        model = emotion_model_class().from_pretrained(str(self.model_path))
        model.eval()
        if (self.model_path / "preprocessor_config.json").exists():
            self._extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(self.model_path))
        labels = getattr(model.config, "id2label", None) or {}
        names = tuple(
            str(labels.get(i, labels.get(str(i), ""))).lower() for i in range(model.config.num_labels)
        )
        if set(names) == set(WAV2VEC2_LABELS):
            self._order = names
        self._model = model
        return model

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        if self._extractor is not None:
            return self._extractor(x, sampling_rate=16000, return_tensors="np")["input_values"][0]
        # wav2vec2's own normalisation: zero mean, unit variance per utterance
        return (x - x.mean()) / np.sqrt(x.var() + 1e-7)

    def predict(self, audio: Audio, measured: Mapping[str, Value]) -> dict[str, Value]:
        import torch

        model = self._load()
        x = np.asarray(audio.samples, dtype=np.float32)
        win = max(1, int(self.max_window_s * audio.sample_rate))
        outs: list[np.ndarray] = []
        weights: list[int] = []
        with torch.inference_mode():
            for start in range(0, len(x), win):
                chunk = x[start : start + win]
                if len(chunk) < 0.25 * audio.sample_rate and outs:
                    break  # a tail too short to judge; the earlier windows speak for the turn
                inp = torch.from_numpy(self._normalise(chunk).astype(np.float32))[None]
                outs.append(model(inp)[1][0].numpy())
                weights.append(len(chunk))
        y = unit_to_signed(np.average(np.stack(outs), axis=0, weights=np.asarray(weights, dtype=float)))
        by_name = dict(zip(self._order, (float(v) for v in y), strict=True))
        return {
            "voice_arousal": by_name["arousal"],
            "voice_valence": by_name["valence"],
            "voice_dominance": by_name["dominance"],
        }

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        return table  # model outputs are absolute; no session step
