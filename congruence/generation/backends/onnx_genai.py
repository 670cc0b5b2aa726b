"""ONNX Runtime GenAI model folders (``genai_config.json`` + ``model.onnx``)."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.generation.backends.base import TOP_K, TOP_P, Messages, Usage, _check_messages, _plain_prompt
from congruence.generation.constrained import (
    HEAD,
    MIN_REPLY_TOKENS,
    REPLY_TOKENS,
    STOP,
    TAIL,
    choice_prompt,
    common_prefix,
    cut_at_stop,
    trie_choice,
)


def onnx_genai_available() -> bool:
    """Whether ``onnxruntime-genai`` can run models here (without importing it)."""
    return importlib.util.find_spec("onnxruntime_genai") is not None


def onnx_builder_available() -> bool:
    """Whether the ONNX Runtime GenAI model builder can convert models here (it needs onnx, onnx-ir)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime_genai", "onnx", "onnx_ir"))


class OnnxGenAIBackend:
    """A model folder made by the ONNX Runtime GenAI builder (``genai_config.json`` + ``model.onnx``).

    ``threads`` sets ONNX Runtime's intra-op threads (default: one per core).
    """

    supports_images = False

    def __init__(
        self, *, model_path: str | os.PathLike[str], name: str | None = None, threads: int | None = None
    ) -> None:
        self.model_path = Path(model_path)
        self.threads = threads
        self.name = name or f"onnx:{self.model_path.name}"
        self.last_usage: Usage | None = None
        self._model: Any = None
        self._tok: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        if not onnx_genai_available():
            raise ModelUnavailableError(
                "The 'onnx' backend needs the onnxruntime-genai package.",
                "pip install onnxruntime-genai==0.18.0, or use the 'transformers' engine.",
            )
        if not (self.model_path / "genai_config.json").is_file():
            raise ModelUnavailableError(
                f"{self.model_path} is not an ONNX Runtime GenAI model folder (no genai_config.json).",
                "Build one with `python -m onnxruntime_genai.models.builder -i <hf folder> -o <folder> "
                "-p int8 -e cpu`.",
            )
        import onnxruntime_genai as og

        self._og = og
        config = og.Config(str(self.model_path))
        if self.threads:
            opts = {"model": {"decoder": {"session_options": {"intra_op_num_threads": int(self.threads)}}}}
            config.overlay(json.dumps(opts))
        self._model = og.Model(config)
        self._tok = og.Tokenizer(self._model)

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
        og = self._og
        t0 = time.perf_counter()
        try:
            prompt = self._tok.apply_chat_template(json.dumps(msgs), add_generation_prompt=True)
        except Exception:
            prompt = _plain_prompt(msgs)
        ids = self._tok.encode(prompt)
        params = og.GeneratorParams(self._model)
        opts: dict[str, Any] = {"max_length": len(ids) + int(max_tokens), "do_sample": temperature > 0}
        if temperature > 0:
            opts.update(temperature=float(temperature), top_k=TOP_K, top_p=TOP_P)
        opts["random_seed"] = int(seed) % (2**31) if seed is not None else -1
        params.set_search_options(**opts)
        gen = og.Generator(self._model, params)
        gen.append_tokens(ids)
        out: list[int] = []
        first: float | None = None
        while not gen.is_done() and len(out) < max_tokens:
            gen.generate_next_token()
            out.append(int(gen.get_next_tokens()[0]))
            if first is None:
                first = time.perf_counter() - t0
        eos = self._eos_ids()
        while out and out[-1] in eos:
            out.pop()
        text = self._tok.decode(out) if out else ""
        self.last_usage = Usage(len(ids), len(out), time.perf_counter() - t0, first)
        return text.strip()

    def _eos_ids(self) -> set[int]:
        try:
            cfg = json.loads((self.model_path / "genai_config.json").read_text())["model"]
            eos = cfg.get("eos_token_id", [])
            return set(eos if isinstance(eos, list) else [eos])
        except (OSError, KeyError, ValueError):
            return set()

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
        (:mod:`congruence.generation.constrained`). One prefill serves both steps.
        """
        import numpy as np

        if not choices:
            raise CongruenceError("No choices to pick from.", "Pass the allowed technique names.")
        msgs = _check_messages(messages)
        self._load()
        og = self._og
        t0 = time.perf_counter()
        prompt = self._prompt_text(msgs)
        seqs = [[int(t) for t in self._tok.encode(f"{prompt}{HEAD} {c}")] for c in choices]
        start = common_prefix(seqs)
        params = og.GeneratorParams(self._model)
        head = max(len(s) for s in seqs) + len(self._tok.encode(TAIL))
        # min_length: no end-of-sequence before a few reply tokens (after some choices the model
        # would otherwise close the turn at once and every retry came back empty)
        opts: dict[str, Any] = {
            "max_length": head + 8 + int(max_tokens),
            "min_length": head + MIN_REPLY_TOKENS,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            opts.update(temperature=float(temperature), top_k=TOP_K, top_p=TOP_P)
        opts["random_seed"] = int(seed) % (2**31) if seed is not None else -1
        params.set_search_options(**opts)
        gen = og.Generator(self._model, params)
        gen.append_tokens(seqs[0][:start])
        chosen = trie_choice(
            seqs, start, lambda: np.asarray(gen.get_logits()).reshape(-1), lambda t: gen.append_tokens([t])
        )
        consumed = seqs[chosen]
        full = [int(t) for t in self._tok.encode(choice_prompt(prompt, choices[chosen]))]
        keep = common_prefix([consumed, full])
        if keep < len(consumed):
            gen.rewind_to(keep)
        gen.append_tokens(full[keep:])
        out: list[int] = []
        first: float | None = None
        text = ""
        eos = self._eos_ids()
        while not gen.is_done() and len(out) < max_tokens:
            gen.generate_next_token()
            tok_id = int(gen.get_next_tokens()[0])
            if first is None:
                first = time.perf_counter() - t0
            if tok_id in eos:
                break
            out.append(tok_id)
            text = self._tok.decode(out)
            if any(s in text.lstrip() for s in stop if s):
                break
        self.last_usage = Usage(len(full), len(out), time.perf_counter() - t0, first)
        return choices[chosen], cut_at_stop(text, stop)

    def _prompt_text(self, msgs: Messages) -> str:
        try:
            return str(self._tok.apply_chat_template(json.dumps(msgs), add_generation_prompt=True))
        except Exception:
            return _plain_prompt(msgs) + " "
