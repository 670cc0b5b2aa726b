"""GGUF files through llama-cpp-python (optional: it builds from source)."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from congruence.errors import ModelUnavailableError
from congruence.generation.backends.base import TOP_K, TOP_P, Usage, _check_messages
from congruence.generation.backends.packaged import smollm2_gguf  # the default model


class LlamaCppBackend:
    """A GGUF file through llama-cpp-python (optional dependency; ~100 tok/s for SmolLM2 on 2 cores).

    ``model_path`` defaults to the embedded SmolLM2 GGUF.
    """

    supports_images = False

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 2048,
        threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.threads = threads
        self.name = f"llamacpp:{self.model_path.name if self.model_path else 'smollm2'}"
        self.last_usage: Usage | None = None
        self._llm: Any = None

    def _load(self) -> None:
        if self._llm is not None:
            return
        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelUnavailableError(
                "The 'llamacpp' backend needs llama-cpp-python, which is not installed.",
                "pip install llama-cpp-python==0.3.36 (builds from source, ~12 min on 2 cores), "
                "or use the 'smollm2' backend.",
            )
        from llama_cpp import Llama

        path = self.model_path or smollm2_gguf()
        self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.threads, verbose=False)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int | None = None,
    ) -> str:
        msgs = _check_messages(messages)
        self._load()
        t0 = time.perf_counter()
        kw: dict[str, Any] = {"temperature": max(float(temperature), 0.0), "max_tokens": int(max_tokens)}
        if temperature > 0:
            kw.update(top_k=TOP_K, top_p=TOP_P)
        else:
            kw.update(top_k=1)
        if seed is not None:
            kw["seed"] = int(seed)
        res = self._llm.create_chat_completion(messages=msgs, **kw)
        usage = res.get("usage") or {}
        self.last_usage = Usage(
            usage.get("prompt_tokens"), usage.get("completion_tokens"), time.perf_counter() - t0
        )
        return str(res["choices"][0]["message"].get("content") or "").strip()
