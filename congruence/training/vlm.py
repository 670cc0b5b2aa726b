"""The papers' vision-language models through the transformers image-text-to-text classes.

``model.kind = "vlm"`` loads any local folder that ``AutoModelForImageTextToText`` and
``AutoProcessor`` read: IDEFICS2 (E-THER's main model), LLaVA / Video-LLaVA, BLIP-2, and modern
options such as Idefics3 / SmolVLM or Qwen2-VL (the last two need ``torchvision`` for their video
processors in transformers 5.x, which this environment lacks). The model is trained by the same
:class:`~congruence.training.trainer.Collator` and weighted trainer as the embedded model:

- the prompt is the embedded model's (system prompt + the client utterance as the user turn),
  with the client frame (``frame_path``) as an image part of the user turn;
- context dropout acts on the utterance before the prompt is built; VAD labels never enter it;
- labels are the response tokens only (prompt, image and padding positions are ``-100``), so the
  loss is E-THER eq. 5 exactly as for the embedded model;
- ``model.text_only`` (E-THER ablation c) leaves the image out of the prompt and the batch.

``model.max_length`` counts *text* tokens (prompt text + response) here: the image tokens that the
processor expands a frame into (64 for IDEFICS2 without image splitting, 576 for LLaVA-1.5, 32 for
BLIP-2) come on top. LoRA adapts the language model only (``lora.target_modules`` inside
:func:`language_model_prefix`), so the text-only ablation trains the same parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from congruence.errors import CongruenceError, ModelUnavailableError

IGNORE = -100
#: Processor outputs laid out per token (same shape as ``input_ids``): padded with the text.
TOKEN_KEYS = ("attention_mask", "token_type_ids", "mm_token_type_ids")


def language_model_prefix(model: torch.nn.Module) -> str | None:
    """Qualified name of the language model inside a VLM (``model.language_model``,
    ``model.text_model``, ``language_model`` ...), found as the module ``get_decoder()`` returns;
    ``None`` when the model does not say.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    get = getattr(base, "get_decoder", None)
    dec = get() if callable(get) else None
    if dec is None:
        return None
    for name, mod in base.named_modules():
        if mod is dec and name:
            return name
    return None


def lora_modules(model: torch.nn.Module, targets: Sequence[str]) -> list[str]:
    """Full names of the modules named ``targets`` (last name component) inside the language model.

    Falls back to every match outside modules whose name says vision / visual / image / qformer
    when :func:`language_model_prefix` finds nothing.
    """
    prefix = language_model_prefix(model)
    want = set(targets)
    out = []
    for name, mod in model.named_modules():
        if name.rsplit(".", 1)[-1] not in want or not isinstance(mod, torch.nn.Linear):
            continue
        if prefix is not None:
            if name.startswith(prefix + "."):
                out.append(name)
        elif not any(k in name.lower() for k in ("vision", "visual", "image", "qformer")):
            out.append(name)
    return out


def needs_image(model: torch.nn.Module) -> bool:
    """Whether the model's ``forward`` requires ``pixel_values`` (BLIP-2 does: no text-only ablation)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    p = inspect.signature(base.forward).parameters.get("pixel_values")
    return p is not None and p.default is inspect.Parameter.empty


def load_vlm(path: str, *, lora: Any = None, dtype: torch.dtype = torch.float32) -> tuple[Any, Any, Any]:
    """A local image-text-to-text model (LoRA-wrapped on its language model), its tokenizer and processor."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from congruence.training.model import apply_lora

    if not path or not Path(path).is_dir():
        raise ModelUnavailableError(
            f"model.kind = 'vlm' needs model.path to be a local model folder; {path!r} is not one.",
            "Download the model (e.g. HuggingFaceM4/idefics2-8b, llava-hf/llava-1.5-7b-hf) on a machine "
            "with network access and set model.path to its folder.",
        )
    try:
        proc = AutoProcessor.from_pretrained(path)
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise ModelUnavailableError(
            f"Could not load an image-text-to-text model from {path}: {exc}",
            "Point model.path at a transformers vision-language model folder (config.json, weights, "
            "processor files).",
        ) from exc
    tok = getattr(proc, "tokenizer", None)
    if tok is None:
        raise CongruenceError(f"The processor of {path} has no tokenizer.", "Use a complete model folder.")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if lora is not None:
        names = lora_modules(model, lora.target_modules)
        if not names:
            raise CongruenceError(
                f"No LoRA target module ({', '.join(lora.target_modules)}) in the language model of {path}.",
                "Set lora.target_modules to the names of its attention projections (e.g. q_proj, v_proj).",
            )
        model = apply_lora(model, lora, modules=names)
    return model, tok, proc


def load_frame(path: str | None) -> Any:
    """The client frame as an RGB PIL image."""
    from PIL import Image

    if not path or not Path(path).is_file():
        raise CongruenceError(
            f"Client frame {path!r} does not exist.",
            "Rebuild the dataset from the analysis folders (frames/), or set model.text_only = true.",
        )
    with Image.open(path) as im:
        return im.convert("RGB")


@dataclass
class VisionChatEncoder:
    """Prompt (+ client frame) and target of a VLM batch, built by the model's processor.

    The prompt is the embedded model's: ``[system, user]`` messages, rendered by the processor's
    chat template with an image part before the utterance; without a chat template,
    ``"{system}\\nClient: {image}{utterance}\\nCounsellor:"`` (the image placeholder left out for
    processors that insert image tokens themselves, e.g. BLIP-2).
    """

    processor: Any
    system_prompt: str
    max_length: int
    with_image: bool = True
    pixel_dtype: torch.dtype | None = None

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def _placeholder(self) -> str:
        if getattr(self.processor, "num_query_tokens", None):  # BLIP-2 prepends its query tokens
            return ""
        return str(getattr(self.processor, "image_token", "<image>") or "")

    def prompt_text(self, utterance: str, *, with_image: bool | None = None) -> str:
        img = self.with_image if with_image is None else with_image
        template = getattr(self.processor, "chat_template", None)
        if template:
            user = ([{"type": "image"}] if img else []) + [{"type": "text", "text": utterance}]
            chat = [
                {"role": "system", "content": [{"type": "text", "text": self.system_prompt}]},
                {"role": "user", "content": user},
            ]
            from jinja2 import TemplateError

            try:
                return self.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            except (TemplateError, ValueError, TypeError):  # no system role: fold it into the user turn
                user[-1] = {"type": "text", "text": f"{self.system_prompt}\n{utterance}"}
                return self.processor.apply_chat_template(
                    [chat[1]], add_generation_prompt=True, tokenize=False
                )
        ph = self._placeholder() if img else ""
        return f"{self.system_prompt}\nClient: {ph}{utterance}\nCounsellor:"

    def _fit_utterance(self, utterance: str, n_target: int) -> str:
        """Drop the utterance's oldest tokens when prompt text + response exceed ``max_length``."""
        tok = self.tokenizer
        overhead = len(tok(self.prompt_text("", with_image=False), add_special_tokens=False)["input_ids"])
        ids = tok(utterance, add_special_tokens=False)["input_ids"]
        budget = self.max_length - n_target - overhead
        if len(ids) <= budget:
            return utterance
        return tok.decode(ids[-budget:]) if budget > 0 else "..."

    @cached_property
    def _sep(self) -> str:
        return "" if self.prompt_text("x")[-1:].isspace() else " "

    def _target_ids(self, target: str) -> list[int]:
        """Response tokens + end of sequence; a space first when the prompt ends on a word ("Assistant:")."""
        tok = self.tokenizer
        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        ids = tok(self._sep + target, add_special_tokens=False)["input_ids"]
        return (ids + eos)[: max(1, self.max_length // 2)]

    def _prompts(
        self, texts: Sequence[str], items: Sequence[dict[str, Any]], n_targets: Sequence[int]
    ) -> Any:
        prompts = [
            self.prompt_text(self._fit_utterance(t, n)) for t, n in zip(texts, n_targets, strict=True)
        ]
        kw: dict[str, Any] = {"text": prompts, "return_tensors": "pt", "padding": True}
        if self.with_image:
            kw["images"] = [[load_frame(it.get("frame_path"))] for it in items]
        return self.processor(**kw)

    def _rows(self, enc: Any) -> tuple[list[dict[str, list[int]]], dict[str, torch.Tensor]]:
        """Unpadded per-token rows and the per-sample tensors (pixels ...) of a processor output."""
        mask = enc["attention_mask"].bool()
        keys = ["input_ids", *(k for k in TOKEN_KEYS if k in enc)]
        rows = [{k: enc[k][i][mask[i]].tolist() for k in keys} for i in range(len(mask))]
        rest = {k: v for k, v in enc.items() if k not in keys and isinstance(v, torch.Tensor)}
        if self.pixel_dtype is not None:
            rest = {k: v.to(self.pixel_dtype) if v.is_floating_point() else v for k, v in rest.items()}
        return rows, rest

    @staticmethod
    def _pad(seqs: list[list[int]], value: int, n: int, left: bool) -> torch.Tensor:
        """``seqs`` padded to length ``n`` with ``value`` on the left (generation) or right (training)."""
        fill = [[value] * (n - len(s)) for s in seqs]
        return torch.tensor([f + s if left else s + f for s, f in zip(seqs, fill, strict=True)])

    def encode_batch(
        self, texts: Sequence[str], targets: Sequence[str], items: Sequence[dict[str, Any]]
    ) -> dict[str, torch.Tensor]:
        """Right-padded training batch: ``input_ids``, ``attention_mask``, ``labels`` (response tokens
        only) and the processor's image tensors."""
        tgt = [self._target_ids(t) for t in targets]
        rows, rest = self._rows(self._prompts(texts, items, [len(t) for t in tgt]))
        pad = self.tokenizer.pad_token_id or 0
        ids = [r["input_ids"] + t for r, t in zip(rows, tgt, strict=True)]
        labels = [[IGNORE] * len(r["input_ids"]) + t for r, t in zip(rows, tgt, strict=True)]
        n = max(map(len, ids))
        out = {
            "input_ids": self._pad(ids, pad, n, False),
            "attention_mask": self._pad([[1] * len(x) for x in ids], 0, n, False),
            "labels": self._pad(labels, IGNORE, n, False),
        }
        for k in TOKEN_KEYS[1:]:
            if k in rows[0]:  # the response tokens are text tokens: type 0
                out[k] = self._pad([r[k] + [0] * len(t) for r, t in zip(rows, tgt, strict=True)], 0, n, False)
        return {**out, **rest}

    def prompt_batch(self, texts: Sequence[str], items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Left-padded prompt batch for generation (no target)."""
        budget = max(1, self.max_length // 2)
        rows, rest = self._rows(self._prompts(texts, items, [budget] * len(texts)))
        pad = self.tokenizer.pad_token_id or 0
        n = max(len(r["input_ids"]) for r in rows)
        out = {"input_ids": self._pad([r["input_ids"] for r in rows], pad, n, True)}
        for k in TOKEN_KEYS:
            if k in rows[0]:
                out[k] = self._pad([r[k] for r in rows], 0, n, True)
        return {**out, **rest}


__all__ = [
    "VisionChatEncoder",
    "language_model_prefix",
    "load_frame",
    "load_vlm",
    "lora_modules",
    "needs_image",
]
