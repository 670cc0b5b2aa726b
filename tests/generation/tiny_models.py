"""Tiny randomly initialised transformers models that the tests build and save themselves."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "i",
    "you",
    "feel",
    "it",
    "sounds",
    "like",
    "sad",
    "happy",
    "fine",
    "tired",
    "work",
    "mum",
    "died",
    "really",
    "honestly",
    "what",
    "how",
    "are",
    "the",
    "a",
    "to",
    "and",
    "is",
    "that",
    "this",
    "me",
    "my",
    "your",
    "so",
    "much",
    "hard",
    "today",
    "technique",
    "reflection",
    "response",
    "patient",
    "therapist",
    "dialogue",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> "
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for p in m['content'] %}{% if p['type'] == 'image' %}<image> {% else %}{{ p['text'] }}"
    "{% endif %}{% endfor %}{% endif %} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def tiny_tokenizer(*, chat_template: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "<s>", "</s>", "<image>", "<|user|>", "<|system|>", "<|assistant|>"]
    vocab = {t: i for i, t in enumerate(specials + WORDS + list(".,?!:'[]\"-"))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>", eos_token="</s>"
    )
    tok.add_special_tokens(
        {"additional_special_tokens": ["<image>", "<|user|>", "<|system|>", "<|assistant|>"]}
    )
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_llama(path: Path, *, chat_template: bool = True) -> Path:
    """A 2-layer, 32-wide Llama causal LM with the tiny tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = tiny_tokenizer(chat_template=chat_template)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_llava(path: Path) -> Path:
    """A LLaVA vision-language model: 2-layer CLIP vision tower (30 px, 6 px patches) + 2-layer Llama."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tok = tiny_tokenizer()
    image_token = tok.convert_tokens_to_ids("<image>")
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=30,
        patch_size=6,
    )
    text = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    cfg = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=image_token, projector_hidden_act="gelu"
    )
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    proc = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}),
        tokenizer=tok,
        patch_size=6,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    proc.save_pretrained(path)
    return path
