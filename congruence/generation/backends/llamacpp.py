"""GGUF files through llama-cpp-python (built from source by ``scripts/install.sh``).

The engine of the embedded default (Qwen2.5-Coder-1.5B, :mod:`.qwen`): it runs the quantised GGUF
as shipped, so nothing is converted, and it keeps the prompt's key-value cache between calls, so
the technique choice and the reply share one prefill and a retry on the same prompt costs none.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.generation.backends.base import (
    TOP_K,
    TOP_P,
    BackendError,
    Messages,
    Usage,
    _check_messages,
    _plain_prompt,
)
from congruence.generation.backends.packaged import smollm2_gguf  # the default model
from congruence.generation.constrained import (
    HEAD,
    MIN_REPLY_TOKENS,
    REPLY_TOKENS,
    STOP,
    choice_prompt,
    common_prefix,
    cut_at_stop,
    trie_choice,
)

#: How llama-cpp-python is installed (it builds from source: a C++ compiler, a few minutes).
INSTALL = 'CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install llama-cpp-python==0.3.36'


def llamacpp_available() -> bool:
    """Whether llama-cpp-python is installed (without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class LlamaCppBackend:
    """A GGUF file through llama-cpp-python.

    Args:
        model_path: the GGUF file (default: the packaged SmolLM2-135M).
        n_ctx: context length in tokens (prompt and reply; the key-value cache is allocated for it:
            measured for Qwen2.5-1.5B: 8192 tokens take 169 MB more memory than 2048).
        threads: CPU threads (default: every core this process may use; llama-cpp-python's own
            default is half of them).
        name: display name (provenance).
    """

    supports_images = False

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 8192,
        threads: int | None = None,
        name: str | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.threads = threads
        self.name = name or f"llamacpp:{self.model_path.name if self.model_path else 'smollm2'}"
        self.last_usage: Usage | None = None
        self._llm: Any = None
        self._eos: set[int] = set()  # end-of-sequence and end-of-turn tokens, set at load
        self._formatter: Any = None  # the GGUF's chat template, compiled once (None: plain text)

    def _load(self) -> None:
        if self._llm is not None:
            return
        if not llamacpp_available():
            raise ModelUnavailableError(
                "The 'llamacpp' engine needs llama-cpp-python, which is not installed.",
                f"Run `bash scripts/install.sh` or `{INSTALL}` (builds from source, a few minutes), "
                "or use engine='onnx'.",
            )
        from llama_cpp import Llama

        path = self.model_path or smollm2_gguf()
        n = self.threads or _cores()
        llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=n, n_threads_batch=n, verbose=False)
        self._eos = {llm.token_eos(), *_end_of_turn_ids(llm)}
        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(llm.token_eos()),
                bos_token=llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else "",
                add_generation_prompt=True,
            )
        self._llm = llm

    def _sampling(self, temperature: float, seed: int | None) -> dict[str, Any]:
        from llama_cpp import LLAMA_DEFAULT_SEED

        self._llm.set_seed(int(seed) % (2**32) if seed is not None else LLAMA_DEFAULT_SEED)
        if temperature <= 0:
            return {"temp": 0.0, "top_k": 1, "top_p": 1.0, "min_p": 0.0}
        # the same nucleus as the other local engines (llama.cpp adds min_p 0.05 by default)
        return {"temp": float(temperature), "top_k": TOP_K, "top_p": TOP_P, "min_p": 0.0}

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
        ids = self._tokenize(self._prompt_text(msgs))
        out, first = self._generate(ids, temperature, max_tokens, seed, stop=(), min_tokens=0, t0=t0)
        self.last_usage = Usage(len(ids), len(out), time.perf_counter() - t0, first)
        return self._text(out).strip()

    def complete_choice(
        self,
        messages: list[dict[str, str]],
        *,
        choices: Sequence[str],
        temperature: float = 0.7,
        max_tokens: int = REPLY_TOKENS,
        seed: int | None = None,
        stop: Sequence[str] = STOP,
    ) -> tuple[str, str]:
        """Pick one of ``choices`` after a pre-filled ``[Technique]`` by greedy decoding restricted to
        the names' token trie, then sample the reply after ``[Technique] <choice> [Response]``
        (:mod:`congruence.generation.constrained`). The prompt's cache serves both steps.
        """
        import numpy as np

        if not choices:
            raise CongruenceError("No choices to pick from.", "Pass the allowed technique names.")
        msgs = _check_messages(messages)
        self._load()
        llm = self._llm
        t0 = time.perf_counter()
        prompt = self._prompt_text(msgs)
        seqs = [self._tokenize(f"{prompt}{HEAD} {c}") for c in choices]
        self._check_length(max(map(len, seqs)) + max_tokens)
        start = common_prefix(seqs)
        self._feed(seqs[0][:start])
        n_vocab = llm.n_vocab()
        chosen = trie_choice(
            seqs,
            start,
            lambda: np.ctypeslib.as_array(self._last_logits(), shape=(n_vocab,)),
            lambda t: llm.eval([t]),
        )
        full = self._tokenize(choice_prompt(prompt, choices[chosen]))
        out, first = self._generate(
            full, temperature, max_tokens, seed, stop=stop, min_tokens=MIN_REPLY_TOKENS, t0=t0
        )
        self.last_usage = Usage(len(full), len(out), time.perf_counter() - t0, first)
        return choices[chosen], cut_at_stop(self._text(out), stop)

    # -- helpers --------------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def _text(self, tokens: list[int]) -> str:
        return bytes(self._llm.detokenize(tokens)).decode("utf-8", errors="ignore")

    def _last_logits(self) -> Any:
        import llama_cpp

        return llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1)

    def _check_length(self, n: int) -> None:
        if n > self.n_ctx:
            raise BackendError(
                f"The prompt and reply need {n} tokens; {self.name} holds {self.n_ctx} (n_ctx).",
                "Shorten the client turn, or build the backend with a larger n_ctx= (memory grows with it).",
            )

    def _feed(self, tokens: list[int]) -> None:
        """Make ``tokens`` the context, evaluating only what the cache does not already hold (at
        least the last token, whose logits are read next)."""
        llm = self._llm
        keep = min(common_prefix([list(llm._input_ids), tokens]), len(tokens) - 1)
        llm.n_tokens = max(keep, 0)
        llm.eval(tokens[llm.n_tokens :])

    def _generate(
        self,
        ids: list[int],
        temperature: float,
        max_tokens: int,
        seed: int | None,
        *,
        stop: Sequence[str],
        min_tokens: int,
        t0: float,
    ) -> tuple[list[int], float | None]:
        """Sample after ``ids`` until end of turn, ``max_tokens`` or a stop sequence (leading white
        space is not a stop); no end of turn before ``min_tokens`` (an empty reply is no reply)."""
        from llama_cpp import LogitsProcessorList

        llm = self._llm
        self._check_length(len(ids) + max_tokens)
        eos = self._eos
        banned = sorted(eos)

        def no_early_end(input_ids: Any, scores: Any) -> Any:
            if len(input_ids) - len(ids) < min_tokens:
                scores[banned] = -float("inf")
            return scores

        procs = LogitsProcessorList([no_early_end]) if min_tokens > 0 else None
        out: list[int] = []
        first: float | None = None
        for tok in llm.generate(ids, reset=True, logits_processor=procs, **self._sampling(temperature, seed)):
            if first is None:
                first = time.perf_counter() - t0
            if tok in eos:
                break
            out.append(int(tok))
            if len(out) >= max_tokens:
                break
            if stop and any(s in self._text(out).lstrip() for s in stop if s):
                break
        return out, first

    def _prompt_text(self, msgs: Messages) -> str:
        """The chat prompt from the GGUF's own template (plain text when it has none)."""
        if self._formatter is None:
            return _plain_prompt(msgs) + " "
        return str(self._formatter(messages=msgs).prompt)


def _end_of_turn_ids(llm: Any) -> set[int]:
    """Tokens that close a turn besides end-of-sequence (``<|im_end|>``, ``<|endoftext|>``)."""
    ids = set()
    for text in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
        tok = llm.tokenize(text.encode(), add_bos=False, special=True)
        if len(tok) == 1:
            ids.add(int(tok[0]))
    return ids
