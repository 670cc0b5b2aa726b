"""Plug-in text classifiers: any Hugging Face sequence-classification model from a local folder.

Registered as family ``"text.classifier"``, name ``"hf"``. The column names come from the model's
``config.id2label`` (e.g. a GoEmotions or sentiment fine-tune saved with ``save_pretrained``):
``<prefix><label>`` holds the class probability (softmax; sigmoid for multi-label models).
Nothing is downloaded: the folder must hold the config, the weights and the tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.perception.base import Features, Value
from congruence.provenance import Kind, Provenance


def label_column(label: str, prefix: str = "text_clf_") -> str:
    """Column name of a class label: lower case, runs of other characters as ``_``.

    >>> label_column("Very Negative"), label_column("LABEL_0")
    ('text_clf_very_negative', 'text_clf_label_0')
    """
    slug = re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_") or "label"
    return f"{prefix}{slug}"


class HFTextClassifier:
    """Class probabilities of a local Hugging Face sequence-classification model, per turn."""

    name = "text_clf"

    def __init__(
        self,
        *,
        model_path: str | Path,
        device: str = "cpu",
        batch_size: int = 16,
        max_length: int = 256,
        prefix: str = "text_clf_",
    ) -> None:
        if batch_size < 1 or max_length < 1:
            raise CongruenceError("batch_size and max_length must be >= 1.", "Pass positive values.")
        self.model_path = Path(model_path)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.prefix = prefix
        self._config: Any = None
        self._tokenizer: Any = None
        self._model: Any = None

    # ------------------------------------------------------------------ protocol
    def config(self) -> dict[str, Any]:
        return {
            "analyzer": "text.classifier.hf",
            "model": str(self.model_path),
            "labels": list(self.labels()),
            "max_length": self.max_length,
        }

    def labels(self) -> list[str]:
        """Class labels in index order (from ``config.id2label``)."""
        cfg = self._load_config()
        id2label = {int(k): v for k, v in (cfg.id2label or {}).items()}
        n = int(getattr(cfg, "num_labels", len(id2label)))
        return [str(id2label.get(i, f"LABEL_{i}")) for i in range(n)]

    def _label_columns(self) -> list[str]:
        cols: list[str] = []
        for label in self.labels():
            col = label_column(label, self.prefix)
            while col in cols:  # labels that slugify alike stay distinct
                col += "_"
            cols.append(col)
        return cols

    def columns(self) -> dict[str, Provenance]:
        multi = self._multi_label()
        note = (
            f"Probability from the sequence classifier at {self.model_path.name} "
            f"({'sigmoid, multi-label' if multi else 'softmax'})."
        )
        cols = {c: Provenance(f"hf:{self.model_path.name}", Kind.MODEL, note) for c in self._label_columns()}
        cols[f"{self.prefix}status"] = Provenance(
            "text-classifier", Kind.MEASUREMENT, "'ok', or 'empty' for blank text."
        )
        return cols

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        return table

    # ------------------------------------------------------------------ analysis
    def analyze_turn(self, text: str) -> Features:
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Iterable[str]) -> list[Features]:
        items = [self._check(t) for t in texts]
        cols = self._label_columns()
        prov = self.columns()
        status = f"{self.prefix}status"
        out: list[Features] = []
        for _ in items:
            values: dict[str, Value] = dict.fromkeys(cols, None)
            values[status] = "empty"
            out.append(Features(values, prov))
        todo = [i for i, t in enumerate(items) if t.strip()]
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            probs = self.predict_proba([items[i] for i in idx])
            for i, row in zip(idx, probs, strict=True):
                out[i].values.update({c: float(p) for c, p in zip(cols, row, strict=True)})
                out[i].values[status] = "ok"
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), n_labels)."""
        import torch

        tok, model = self._load()
        enc = tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = model(**enc).logits.float()
        probs = torch.sigmoid(logits) if self._multi_label() else torch.softmax(logits, dim=-1)
        return probs.cpu().numpy()

    # ------------------------------------------------------------------ loading
    def _multi_label(self) -> bool:
        return getattr(self._load_config(), "problem_type", None) == "multi_label_classification"

    def _require_folder(self) -> None:
        if not (self.model_path / "config.json").is_file():
            raise ModelUnavailableError(
                f"No Hugging Face model (config.json) at {self.model_path}.",
                "Save the classifier with save_pretrained() (model and tokenizer) and pass that folder "
                "as model_path; models are never downloaded.",
            )

    def _load_config(self) -> Any:
        if self._config is None:
            self._require_folder()
            from transformers import AutoConfig

            self._config = AutoConfig.from_pretrained(self.model_path, local_files_only=True)
        return self._config

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            self._require_folder()
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            try:
                tok = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            except (OSError, ValueError) as e:
                raise ModelUnavailableError(
                    f"No usable tokenizer in {self.model_path}: {e}",
                    "Save the tokenizer beside the model with tokenizer.save_pretrained(model_path).",
                ) from e
            model = AutoModelForSequenceClassification.from_pretrained(self.model_path, local_files_only=True)
            self._tokenizer, self._model = tok, model.to(self.device).eval()
        return self._tokenizer, self._model

    @staticmethod
    def _check(text: Any) -> str:
        if text is None:
            return ""
        if not isinstance(text, str):
            raise CongruenceError(
                f"Text input must be a string, got {type(text).__name__}.", "Pass the utterance as str."
            )
        return text
