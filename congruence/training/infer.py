"""Replies of a trained model (embedded or VLM) to dataset instances, with the training prompt.

The prompt is the one the model was trained on (:class:`~congruence.training.trainer.TextEncoder`
or :class:`~congruence.training.vlm.VisionChatEncoder`, which adds the client frame), without
context dropout. ``samples > 1`` follows the E-THER collection protocol: that many samples at
``temperature`` and the median-length one is kept
(:func:`congruence.generation.respond.median_length_index`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from congruence.errors import CongruenceError


def _gen_kwargs(tok: Any, *, max_new_tokens: int, temperature: float) -> dict[str, Any]:
    from congruence.generation.backends import TOP_K, TOP_P

    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    kw: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "pad_token_id": pad}
    if tok.eos_token_id is not None:
        kw["eos_token_id"] = tok.eos_token_id
    if temperature > 0:
        kw.update(do_sample=True, temperature=float(temperature), top_k=TOP_K, top_p=TOP_P)
    else:
        kw.update(do_sample=False, temperature=None, top_k=None, top_p=None)
    return kw


def _text_batch(encoder: Any, texts: Sequence[str], items: Sequence[dict[str, Any]], use_face: bool) -> dict:
    """Left-padded prompt ids (and face features) for the embedded model."""
    tok = encoder.tokenizer
    ids = [encoder.encode(t, None)[0] for t in texts]
    n = max(map(len, ids))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    out: dict[str, torch.Tensor] = {
        "input_ids": torch.tensor([[pad] * (n - len(x)) + x for x in ids]),
        "attention_mask": torch.tensor([[0] * (n - len(x)) + [1] * len(x) for x in ids]),
    }
    feats = [it.get("face_features") for it in items]
    dim = next((len(f) for f in feats if f is not None), None)
    if use_face and dim is not None:
        out["face_features"] = torch.tensor(
            np.stack([np.asarray(f if f is not None else np.zeros(dim), np.float32) for f in feats])
        )
        out["face_mask"] = torch.tensor([f is not None for f in feats], dtype=torch.float32)
    return out


def generate_replies(
    model: Any,
    encoder: Any,
    items: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int = 48,
    temperature: float = 0.0,
    samples: int = 1,
    seed: int = 0,
    batch_size: int = 4,
    use_face: bool = True,
) -> list[str]:
    """One reply per instance (``client_text`` + face features or frame), decoded without special tokens.

    ``temperature = 0`` decodes greedily (``samples`` must then be 1); ``use_face`` applies to the
    embedded model (the VLM encoder decides from ``with_image``).
    """
    if samples < 1:
        raise CongruenceError(
            f"samples = {samples} must be at least 1.", "Use 1, or 3 for the E-THER protocol."
        )
    if samples > 1 and temperature <= 0:
        raise CongruenceError(
            "Several samples per reply need sampling (temperature > 0).",
            "E-THER draws 3 samples at temperature 0.7; set temperature = 0.7 or samples = 1.",
        )
    from congruence.generation.respond import median_length_index

    tok = encoder.tokenizer
    kw = _gen_kwargs(tok, max_new_tokens=max_new_tokens, temperature=temperature)
    device = next(model.parameters()).device
    vlm = hasattr(encoder, "prompt_batch")
    was_training = model.training
    model.eval()
    replies: list[str] = []
    try:
        for start in range(0, len(items), batch_size):
            chunk = list(items[start : start + batch_size])
            texts = [str(it["client_text"]) or "..." for it in chunk]
            if vlm:
                inputs = encoder.prompt_batch(texts, chunk)
            else:
                inputs = _text_batch(encoder, texts, chunk, use_face)
            inputs = {k: v.to(device) for k, v in inputs.items()}
            n_in = inputs["input_ids"].shape[1]
            drawn: list[list[str]] = [[] for _ in chunk]
            for k in range(samples):
                with torch.random.fork_rng(devices=[]), torch.inference_mode():
                    torch.manual_seed(int(seed) + 1000 * start + k)
                    out = model.generate(**inputs, **kw)
                # VLMs return prompt + new tokens; the embedded model (inputs_embeds) the new ones only
                new = out[:, n_in:] if vlm else out
                for i in range(len(chunk)):
                    drawn[i].append(tok.decode(new[i], skip_special_tokens=True).strip())
            replies += [d[median_length_index([len(x) for x in d])] for d in drawn]
    finally:
        model.train(was_training)
    return replies


__all__ = ["generate_replies"]
