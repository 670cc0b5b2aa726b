"""Any OpenAI-compatible chat-completions server, with key lookup, timeouts and retries."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from congruence.errors import CongruenceError
from congruence.generation.backends.base import BackendError, Messages, Usage, _check_messages, _pil

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
