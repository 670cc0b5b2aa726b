"""What every chat backend shares: the protocol, usage records, message checks, image helpers,
seeds, and the registry lookup (:func:`make_backend`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from congruence.errors import CongruenceError

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


def _plain_prompt(messages: Messages) -> str:
    # for models without a chat template: a transparent "Role: text" transcript
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


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
