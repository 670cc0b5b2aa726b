"""Incongruence-aware training (E-THER IV, VII): dataset, sample weights, context dropout, trainer, VLMs,
ablations.

Importing this package loads no model; heavy modules import on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_instances": "congruence.training.dataset",
    "export_dataset": "congruence.training.dataset",
    "sample_weights": "congruence.training.weights",
    "remove_emotional_cues": "congruence.training.dropout",
    "load_config": "congruence.training.config",
    "train": "congruence.training.trainer",
    "load_vlm": "congruence.training.vlm",
    "generate_replies": "congruence.training.infer",
    "run_ablations": "congruence.training.ablation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'congruence.training' has no attribute {name!r}")
