"""Local transformers models: a causal LM, or a vision-language model (``image_text=True``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.generation.backends.base import (
    TOP_K,
    TOP_P,
    Messages,
    Usage,
    _check_messages,
    _FirstTokenTimer,
    _pil,
    _plain_prompt,
)
from congruence.generation.constrained import (
    HEAD,
    MIN_REPLY_TOKENS,
    REPLY_TOKENS,
    STOP,
    choice_prompt,
    common_prefix,
    cut_at_stop,
)
from congruence.runtime import torch_threads


class TransformersBackend:
    """A local transformers model folder: a causal LM, or (``image_text=True``) a vision-language model.

    Args:
        model_path: folder with ``config.json`` and weights (or a GGUF folder plus ``gguf_file``).
        image_text: load ``AutoModelForImageTextToText`` + ``AutoProcessor`` and accept images.
        gguf_file: a GGUF file inside ``model_path`` (dequantised by transformers at load: slow).
        dtype: torch dtype name (``float32`` on CPU; ``bfloat16`` / ``float16`` on a GPU).
        device: ``cpu``, ``cuda``, ``cuda:1`` ...
        name: display name (default: the folder name).
        threads: torch CPU threads during generation (restored afterwards); ``None`` keeps torch's
            setting. Small models decode faster on one thread: on the shared 2-core machine two
            threads made SmolLM2 several times slower (bench/results/generation-*.md).
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str],
        image_text: bool = False,
        gguf_file: str | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        name: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.threads = threads
        self.image_text = image_text
        self.gguf_file = gguf_file
        self.dtype = dtype
        self.device = device
        self.name = name or f"transformers:{self.model_path.name}"
        self.supports_images = image_text
        self.last_usage: Usage | None = None
        self._model: Any = None
        self._tok: Any = None
        self._proc: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        if not self.model_path.is_dir():
            raise ModelUnavailableError(
                f"Model folder {self.model_path} does not exist.",
                "Pass the folder of a transformers model (config.json + weights) that is on this machine.",
            )
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = getattr(torch, self.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise CongruenceError(f"Unknown dtype {self.dtype!r}.", "Use float32, bfloat16 or float16.")
        kw: dict[str, Any] = {"dtype": dtype}
        if self.gguf_file:
            kw["gguf_file"] = self.gguf_file
        try:
            if self.image_text:
                from transformers import AutoModelForImageTextToText, AutoProcessor

                self._proc = AutoProcessor.from_pretrained(str(self.model_path))
                self._tok = getattr(self._proc, "tokenizer", self._proc)
                self._model = AutoModelForImageTextToText.from_pretrained(str(self.model_path), **kw)
            else:
                tok_kw = {"gguf_file": self.gguf_file} if self.gguf_file else {}
                self._tok = AutoTokenizer.from_pretrained(str(self.model_path), **tok_kw)
                self._model = AutoModelForCausalLM.from_pretrained(str(self.model_path), **kw)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailableError(
                f"Could not load a {'vision-language' if self.image_text else 'causal language'} model "
                f"from {self.model_path}: {exc}",
                "Check that the folder holds a complete transformers model of that kind.",
            ) from exc
        self._model.to(self.device).eval()

    def _gen_kwargs(self, temperature: float, max_tokens: int) -> dict[str, Any]:
        tok = self._tok
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        kw: dict[str, Any] = {"max_new_tokens": int(max_tokens), "pad_token_id": pad}
        if temperature > 0:
            kw.update(do_sample=True, temperature=float(temperature), top_k=TOP_K, top_p=TOP_P)
        else:
            kw.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        return kw

    def _text_inputs(self, messages: Messages) -> Any:
        tok = self._tok
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        return tok(_plain_prompt(messages), return_tensors="pt")

    def _vision_inputs(self, messages: Messages, images: Sequence[Any]) -> Any:
        proc = self._proc
        chat: list[dict[str, Any]] = []
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=len(messages) - 1)
        for i, m in enumerate(messages):
            content: list[dict[str, str]] = []
            if i == last_user:
                content += [{"type": "image"} for _ in images]
            content.append({"type": "text", "text": m["content"]})
            chat.append({"role": m["role"], "content": content})
        prompt = proc.apply_chat_template(chat, add_generation_prompt=True)
        pil = [_pil(im) for im in images]
        return proc(text=prompt, images=pil or None, return_tensors="pt")

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int | None = None,
        images: Sequence[Any] | None = None,
    ) -> str:
        import torch

        msgs = _check_messages(messages)
        if images and not self.image_text:
            raise CongruenceError(
                f"{self.name} is a text-only model and cannot take an image.",
                "Load a vision-language model with image_text=True, or pass the face as affect values.",
            )
        self._load()
        t0 = time.perf_counter()
        inputs = self._vision_inputs(msgs, images or []) if self.image_text else self._text_inputs(msgs)
        inputs = inputs.to(self.device)
        n_in = int(inputs["input_ids"].shape[1])
        # fork the RNG so a seeded call leaves the caller's torch random state untouched
        with torch.random.fork_rng(devices=[]), torch.inference_mode(), torch_threads(self.threads):
            if seed is not None:
                torch.manual_seed(int(seed))
            timer = _FirstTokenTimer(t0)
            out = self._model.generate(**inputs, **self._gen_kwargs(temperature, max_tokens), streamer=timer)
        new = out[0, n_in:]
        text = self._tok.decode(new, skip_special_tokens=True)
        self.last_usage = Usage(n_in, int(new.shape[0]), time.perf_counter() - t0, timer.first)
        return text.strip()

    def _prompt_text(self, messages: Messages) -> str:
        tok = self._tok
        if getattr(tok, "chat_template", None):
            return str(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        return _plain_prompt(messages) + " "

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
        """Pick one of ``choices`` by log-likelihood after a pre-filled ``[Technique]``, then sample
        the reply after ``[Technique] <choice> [Response]`` (:mod:`congruence.generation.constrained`).
        """
        import torch

        if self.image_text:
            raise CongruenceError(
                f"{self.name} is a vision-language model; the constrained format is for text models.",
                "Use format='free' with image-text backends.",
            )
        if not choices:
            raise CongruenceError("No choices to pick from.", "Pass the allowed technique names.")
        msgs = _check_messages(messages)
        self._load()
        t0 = time.perf_counter()
        prompt = self._prompt_text(msgs)
        tok = self._tok
        seqs = [tok(f"{prompt}{HEAD} {c}", add_special_tokens=False)["input_ids"] for c in choices]
        start = max(common_prefix(seqs), 1)
        width = max(len(s) for s in seqs)
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        with torch.inference_mode(), torch_threads(self.threads):
            logp = torch.log_softmax(self._model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        # log p(token_t | tokens_<t) summed over each choice's own tokens (after the shared prefix)
        scores = [float(sum(logp[k, t - 1, s[t]] for t in range(start, len(s)))) for k, s in enumerate(seqs)]
        choice = choices[max(range(len(choices)), key=scores.__getitem__)]
        inputs = tok(choice_prompt(prompt, choice), add_special_tokens=False, return_tensors="pt")
        n_in = int(inputs["input_ids"].shape[1])
        with torch.random.fork_rng(devices=[]), torch.inference_mode(), torch_threads(self.threads):
            if seed is not None:
                torch.manual_seed(int(seed))
            timer = _FirstTokenTimer(t0)
            out = self._model.generate(
                **inputs, **self._gen_kwargs(temperature, max_tokens), streamer=timer,
                stop_strings=[s for s in stop if s.strip()], tokenizer=tok,
                min_new_tokens=min(MIN_REPLY_TOKENS, int(max_tokens)),  # no empty reply
            )  # fmt: skip
        new = out[0, n_in:]
        # a new line stops the reply in cut_at_stop, not in generate: a leading one would stop it empty
        text = tok.decode(new, skip_special_tokens=True)
        self.last_usage = Usage(n_in, int(new.shape[0]), time.perf_counter() - t0, timer.first)
        return choice, cut_at_stop(text, stop)
