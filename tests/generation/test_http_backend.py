"""The OpenAI-compatible HTTP backend against a real local server (uvicorn + FastAPI on 127.0.0.1)."""

from __future__ import annotations

import numpy as np
import pytest

from congruence.errors import CongruenceError
from congruence.generation.backends import BackendError, OpenAIBackend, backoff_delay
from congruence.generation.parsing import parse_reply
from congruence.generation.respond import Responder

from .conftest import _text_of

MSGS = [{"role": "user", "content": "Dialogue:\nPatient: I'm fine, really."}]


def backend(server, model, **kw):
    return OpenAIBackend(base_url=server.base_url, model=model, backoff=0.01, **kw)


def test_chat_completion_round_trip_sends_the_protocol_fields(server, monkeypatch):
    monkeypatch.delenv("CONGRUENCE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    b = backend(server, "echo")
    out = b.complete(MSGS, temperature=0.7, max_tokens=42, seed=7)
    assert out == "[Reflection] It sounds like you said: I'm fine, really."
    body = server.requests[0]
    assert body["model"] == "echo" and body["messages"] == MSGS
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.7, 42, 7)
    assert "authorization" not in server.headers[0]  # no key set, none sent
    assert b.last_usage.prompt_tokens == 10


def test_api_key_comes_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("CONGRUENCE_API_KEY", "sekrit")
    assert backend(server, "needs-key").complete(MSGS).startswith("[Reflection]")
    monkeypatch.setenv("MY_KEY", "sekrit")
    monkeypatch.delenv("CONGRUENCE_API_KEY")
    assert backend(server, "needs-key", api_key_env="MY_KEY").complete(MSGS)
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with pytest.raises(BackendError, match="401") as exc:
        backend(server, "needs-key").complete(MSGS)
    assert "API key" in exc.value.fix
    assert server.calls("needs-key") == 3  # 401 is not retried
    with pytest.raises(CongruenceError, match="NOT_SET_ANYWHERE"):
        backend(server, "echo", api_key_env="NOT_SET_ANYWHERE").complete(MSGS)


def test_rate_limits_are_retried_with_backoff(server):
    b = backend(server, "fail-then-ok-2", max_retries=3)
    assert b.complete(MSGS).startswith("[Reflection]")
    assert server.calls("fail-then-ok-2") == 3


def test_server_errors_give_up_after_the_retries(server):
    b = backend(server, "always-500", max_retries=2)
    with pytest.raises(BackendError, match="failed 3 time"):
        b.complete(MSGS)
    assert server.calls("always-500") == 3


def test_client_errors_are_not_retried(server):
    with pytest.raises(BackendError, match="HTTP 400"):
        backend(server, "bad-request", max_retries=3).complete(MSGS)
    assert server.calls("bad-request") == 1


def test_timeouts_are_retried_then_reported(server):
    # The server answers "slow" after 1.5 s; a client that waited for it would get a reply, so the
    # error plus two calls show that both attempts gave up at the client's timeout (no wall clock).
    b = backend(server, "slow", timeout=0.1, max_retries=1)
    with pytest.raises(BackendError, match=r"did not answer within 0\.1 s"):
        b.complete(MSGS)
    assert server.calls("slow") == 2


def test_unreachable_server_and_non_chat_answers_are_clear_errors(server):
    from .conftest import free_port

    dead = OpenAIBackend(
        base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=1, backoff=0.01
    )
    with pytest.raises(BackendError, match="could not reach"):
        dead.complete(MSGS)
    with pytest.raises(BackendError, match="not a chat completion"):
        backend(server, "not-json").complete(MSGS)
    with pytest.raises(CongruenceError, match="not an http"):
        OpenAIBackend(base_url="127.0.0.1:8000", model="m")


def test_images_travel_as_png_data_urls_only_when_asked_for(server, astronaut):
    with pytest.raises(CongruenceError, match="not set up to send them"):
        backend(server, "echo").complete(MSGS, images=[astronaut])
    assert not server.requests  # refused before anything left the machine
    out = backend(server, "echo", send_images=True).complete(MSGS, images=[astronaut])
    assert out.endswith("(I see an image of 512x512 pixels.)")
    parts = server.requests[0]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": MSGS[0]["content"]}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_backoff_is_exponential_capped_and_honours_retry_after():
    assert [backoff_delay(i, base=1, cap=5) for i in range(4)] == [1, 2, 4, 5]
    assert backoff_delay(3, base=1, cap=5, retry_after=0) == 0


def test_responder_sends_each_instance_on_its_own(server):
    r = Responder(backend=backend(server, "echo"), strategy="dissonance", n_samples=3, seed=1)
    reply = r.respond("I'm fine, really.", affect={"face_voice_dissonance": 1})
    assert reply.text == "It sounds like you said: I'm fine, really." and reply.technique == "Reflection"
    assert len(server.requests) == 3
    for body in server.requests:
        assert len(body["messages"]) == 1  # no conversation history, no earlier replies
        assert "Patient (emotional dissonance): I'm fine, really." in body["messages"][0]["content"]
    assert len({b["seed"] for b in server.requests}) == 3


@pytest.mark.slow
def test_real_smollm2_behind_the_http_protocol(server, smol):
    server.smol = smol
    smol_http = backend(server, "smollm2", send_images=True)
    r = Responder(backend=smol_http, strategy="ether", n_samples=1, max_tokens=16, seed=4)
    reply = r.respond("Work has been a lot, but it's fine.", image=np.zeros((8, 8, 3), np.uint8))
    assert reply.text and reply.status == "generated"
    body = server.requests[0]
    assert body["max_tokens"] == 16
    # the server's model saw the E-THER image prompt's text; asking it directly gives the same reply
    direct = smol.complete(
        [{"role": m["role"], "content": _text_of(m["content"])} for m in body["messages"]],
        temperature=0.7,
        max_tokens=16,
        seed=body["seed"],
    )
    assert "attached image" in body["messages"][0]["content"]
    assert reply.text == parse_reply(direct, expect_technique=False).response
