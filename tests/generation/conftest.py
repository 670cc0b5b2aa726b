"""Fixtures for the generation tests: the embedded SmolLM2 (loaded once) and a real local
OpenAI-compatible HTTP server (uvicorn + FastAPI on 127.0.0.1, random free port).

FastAPI resolves the endpoint's annotations by name, so its classes are imported at module level.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from congruence.generation.backends import SmolLM2Backend, onnx_builder_available
from congruence.generation.backends.llamacpp import llamacpp_available


@pytest.fixture(scope="session")
def smol_tf() -> SmolLM2Backend:
    """SmolLM2 through transformers (float32); converted once into the cache, loaded once here."""
    backend = SmolLM2Backend(engine="transformers")
    _ = backend.inner  # convert (first run only) and build the engine
    return backend


@pytest.fixture(scope="session")
def smol_onnx() -> SmolLM2Backend:
    """SmolLM2 through ONNX Runtime GenAI (int8), when onnxruntime-genai and its builder are installed."""
    if not onnx_builder_available():
        pytest.skip("onnxruntime-genai / onnx / onnx-ir not installed")
    backend = SmolLM2Backend(engine="onnx")
    _ = backend.inner
    return backend


@pytest.fixture(scope="session")
def smol_llamacpp() -> SmolLM2Backend:
    """SmolLM2's GGUF through llama-cpp-python (built by scripts/install.sh)."""
    if not llamacpp_available():
        pytest.skip("llama-cpp-python is not installed (scripts/install.sh builds it)")
    return SmolLM2Backend(engine="llamacpp")


@pytest.fixture(scope="session")
def smol(request: pytest.FixtureRequest) -> SmolLM2Backend:
    """The fastest engine of the embedded model that is installed (ONNX int8, else transformers)."""
    if onnx_builder_available():
        return request.getfixturevalue("smol_onnx")
    return request.getfixturevalue("smol_tf")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ChatServer:
    """A local chat-completions server whose behaviour is chosen by the request's model name.

    - ``echo``: replies ``[Reflection] It sounds like you said: <last line of the last user message>``
    - ``fail-then-ok-<n>``: 429 (Retry-After: 0) for the first n requests of that model, then echo
    - ``always-500``: HTTP 500 every time; ``bad-request``: HTTP 400
    - ``slow``: answers after 1.5 s (to trip client timeouts)
    - ``needs-key``: 401 unless ``Authorization: Bearer sekrit``
    - ``not-json``: 200 with a body that is not a chat completion
    - ``smollm2``: the real SmolLM2 (transformers engine) answers
    - a name in ``scripts``: ``scripts[name](messages, seed, n)`` writes the reply (n = that model's
      request count), so protocol tests choose the replies and still go through HTTP and the client
    """

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    scripts: dict[str, Callable[[list[dict[str, Any]], int | None, int], str]] = field(default_factory=dict)
    smol: Any = None

    def reset(self) -> None:
        self.requests.clear()
        self.headers.clear()
        self.counts.clear()
        self.scripts.clear()

    def calls(self, model: str) -> int:
        return self.counts.get(model, 0)


_PATIENT = re.compile(r"^Patient(?: \([^)]*\))?: (.*)$")


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return str(content)


def _last_user_line(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m["content"]
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
            said = [m.group(1) for ln in str(content).splitlines() if (m := _PATIENT.match(ln.strip()))]
            return (said[-1] if said else str(content)).strip()
    return ""


def _judge_reply(messages: list[dict[str, Any]]) -> str:
    """A deterministic G-Eval-style judge: ratings read off the response it was asked to rate."""
    user = _text_of(messages[-1]["content"])
    response = user.split("Counsellor response to evaluate:", 1)[1].split("Evaluation form", 1)[0].lower()
    words = len(response.split())
    ratings = {
        "applicability": 2 if "should" in response else 4,
        "empathy": 5 if "sounds" in response or "hear" in response else 2,
        "comprehensiveness": max(1, min(5, words // 6)),
    }
    return f"Here is my evaluation.\n```json\n{json.dumps(ratings)}\n```"


def _build_app(state: ChatServer) -> Any:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        model = str(body.get("model"))
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        state.counts[model] = state.counts.get(model, 0) + 1
        n = state.counts[model]
        if model.startswith("fail-then-ok-") and n <= int(model.rsplit("-", 1)[1]):
            return JSONResponse(
                {"error": {"message": "rate limited"}}, status_code=429, headers={"Retry-After": "0"}
            )
        if model == "always-500":
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        if model == "bad-request":
            return JSONResponse({"error": {"message": "max_tokens too large"}}, status_code=400)
        if model == "slow":
            await asyncio.sleep(1.5)
        if model == "needs-key" and request.headers.get("authorization") != "Bearer sekrit":
            return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
        if model == "not-json":
            return PlainTextResponse("<html>hello</html>")
        images = []
        for m in body["messages"]:
            if isinstance(m.get("content"), list):
                for part in m["content"]:
                    if part.get("type") == "image_url":
                        from PIL import Image

                        data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                        images.append(Image.open(io.BytesIO(data)).size)
        if model == "smollm2":
            # a text-only model: image parts are dropped, text parts kept (what a text server does)
            messages = [{"role": m["role"], "content": _text_of(m["content"])} for m in body["messages"]]
            text = await asyncio.to_thread(
                state.smol.complete,
                messages,
                temperature=body.get("temperature", 0.7),
                max_tokens=body.get("max_tokens", 32),
                seed=body.get("seed"),
            )
        elif model in state.scripts:
            text = state.scripts[model](body["messages"], body.get("seed"), n)
        elif model == "judge":
            text = _judge_reply(body["messages"])
        elif model == "junk":  # what SmolLM2 wrote here (issue 15): the form kept, the reply degenerate
            text = "[Reflection] Enhanced, enhanced, enhanced"
        else:
            text = f"[Reflection] It sounds like you said: {_last_user_line(body['messages'])}"
            if images:
                text += f" (I see an image of {images[0][0]}x{images[0][1]} pixels.)"
        return {
            "id": f"cmpl-{n}",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 10},
        }

    return app


@pytest.fixture(scope="session")
def chat_server() -> Iterator[ChatServer]:
    """A real uvicorn server on 127.0.0.1:<free port> for the whole session."""
    import uvicorn

    port = free_port()
    state = ChatServer(base_url=f"http://127.0.0.1:{port}/v1")
    config = uvicorn.Config(
        _build_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the local chat server did not start")
        time.sleep(0.02)
    yield state
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def server(chat_server: ChatServer) -> ChatServer:
    chat_server.reset()
    return chat_server
