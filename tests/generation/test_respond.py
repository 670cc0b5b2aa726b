"""The E-THER collection protocol, instance independence, safety routing and resumable batches."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from congruence.errors import CongruenceError
from congruence.generation.backends import OpenAIBackend
from congruence.generation.parsing import parse_reply
from congruence.generation.respond import (
    RESPONSE_COLUMNS,
    Responder,
    collect,
    median_length_index,
    read_results,
    response_provenance,
)
from congruence.generation.safety import SAFE_MESSAGE, remove_clinical_claims
from congruence.provenance import Kind

from .conftest import ChatServer

SERVER: ChatServer | None = None


@pytest.fixture(autouse=True)
def _through_http(server: ChatServer) -> Iterator[None]:
    # the protocol under test is the client's: every scripted reply travels through the real local
    # OpenAI-protocol server and the real HTTP backend
    global SERVER
    SERVER = server
    yield
    SERVER = None


class Scripted(OpenAIBackend):
    """A chat backend for protocol logic: the local server answers with ``script(messages, seed, call)``."""

    def __init__(self, script):
        assert SERVER is not None
        self.model_name = f"script-{len(SERVER.scripts)}"
        SERVER.scripts[self.model_name] = script
        super().__init__(base_url=SERVER.base_url, model=self.model_name, max_retries=0)
        self.name = "scripted"

    @property
    def calls(self) -> list[dict]:
        """The requests the server received for this backend, as the client sent them."""
        assert SERVER is not None
        return [
            {k: body.get(k) for k in ("messages", "temperature", "max_tokens", "seed")}
            for body in SERVER.requests
            if body["model"] == self.model_name
        ]


def cycle(*replies):
    return Scripted(lambda m, s, n: replies[(n - 1) % len(replies)])


def test_three_samples_at_temperature_07_keep_the_median_length():
    b = cycle("[Reflection] You sound tired.", "[Reflection] You sound tired and worn down by all of it.",
              "[Reflection] You sound tired and worn down.")  # fmt: skip
    reply = Responder(backend=b, strategy="base").respond("I'm exhausted.")
    assert len(b.calls) == 3 and {c["temperature"] for c in b.calls} == {0.7}
    assert reply.text == "You sound tired and worn down." and reply.technique == "Reflection"
    assert reply.status == "generated" and reply.attempts == 3 and reply.flags == ()
    assert len({c["seed"] for c in b.calls}) == 3  # each sample its own seed


def test_failed_samples_are_retried_within_the_budget():
    b = cycle("Clarification: This encourages the patient to elaborate.", "[Reflection] You sound tired.")
    reply = Responder(backend=b, strategy="base", retry_budget=3).respond("I'm exhausted.")
    # calls: fail, ok, fail, ok, fail, ok -> stops at the budget (3 + 3) with 3 good samples
    assert len(b.calls) == 6 and reply.status == "generated" and reply.text == "You sound tired."


def test_what_still_fails_after_the_budget_is_flagged():
    b = cycle("Clarification: This encourages the patient to elaborate on their feelings.")
    reply = Responder(backend=b, strategy="base", retry_budget=2).respond("I'm exhausted.")
    assert len(b.calls) == 5
    assert reply.status == "failed" and "explanation" in reply.flags and "retries_exhausted" in reply.flags
    missing = Responder(backend=cycle("You sound tired."), strategy="base", retry_budget=0).respond("Tired.")
    assert missing.flags == ("missing_technique", "retries_exhausted") and missing.text == "You sound tired."


def test_ether_strategy_needs_no_technique():
    # the off-topic screen (tested in test_degenerate.py) is off: these tests are about the protocol
    b = cycle("That sounds heavy to carry.")
    reply = Responder(backend=b, strategy="ether", topic_check=False).respond("I'm fine.")
    assert reply.status == "generated" and reply.technique is None and reply.flags == ()


def test_crisis_turns_get_the_safe_message_and_never_reach_the_model():
    b = cycle("[Advice] You should just cheer up.")
    reply = Responder(backend=b).respond("I keep thinking everyone would be better off without me.")
    assert b.calls == []
    assert reply.text == SAFE_MESSAGE and reply.status == "safe_message" and reply.technique is None
    assert reply.flags == ("crisis", "crisis:suicide")


def test_negated_crisis_language_is_answered_but_flagged_for_review():
    reply = Responder(backend=cycle("[Reflection] You sound sure about that.")).respond(
        "I would never hurt myself."
    )
    assert reply.status == "generated" and "crisis_negated" in reply.flags


def test_directive_advice_is_counted_and_clinical_claims_removed():
    b = cycle("[Advice] You should rest. You need to sleep more. As your therapist, I know this works.")
    reply = Responder(backend=b, n_samples=1).respond("I'm tired.")
    assert reply.text == "You should rest. You need to sleep more."
    assert reply.directive_count == 2
    assert "directive" in reply.flags and "clinical_claim" in reply.flags


def test_seeds_are_reproducible_and_order_independent():
    b1, b2 = cycle("[R] You sound tired."), cycle("[R] You sound tired.")
    r1 = Responder(backend=b1, seed=7, topic_check=False)
    r2 = Responder(backend=b2, seed=7, topic_check=False)
    r1.respond("first", key="s#1"), r1.respond("second", key="s#2")
    r2.respond("second", key="s#2"), r2.respond("first", key="s#1")
    s1 = [c["seed"] for c in b1.calls]
    s2 = [c["seed"] for c in b2.calls]
    assert s1[:3] == s2[3:] and s1[3:] == s2[:3]
    assert Responder(backend=cycle("[R] You."), seed=None).respond("x").seed is None


def test_collect_rejects_bad_settings():
    with pytest.raises(CongruenceError):
        collect(lambda s: "x", n=0)
    with pytest.raises(CongruenceError):
        collect(lambda s: "x", retry_budget=-1)


def _table():
    return pd.DataFrame(
        [
            {"session_id": "s1", "turn_index": 1, "role": "client", "text": "Work has been a lot lately.",
             "counsellor_text": "What has been hardest?", "face_valence": -0.5, "text_valence": 0.1,
             "text_face_type": "minimizing"},
            {"session_id": "s1", "turn_index": 3, "role": "client",
             "text": "The deadlines, I guess. It's fine.", "counsellor_text": "It's fine?",
             "face_valence": None, "text_valence": 0.3, "text_face_type": None},
            {"session_id": "s1", "turn_index": 5, "role": "client", "text": "I want to die some days.",
             "counsellor_text": "Thank you for telling me.", "text_face_type": "none"},
            {"session_id": "s2", "turn_index": 1, "role": "client", "text": "New session, new me.",
             "counsellor_text": "Tell me more.", "text_face_type": "contradiction"},
        ]
    )  # fmt: skip


def numbered():
    return Scripted(lambda m, s, n: f"[Reflection] GENERATED-{n} you said it.")


def test_table_instances_are_independent_and_context_is_the_input_dialogue():
    b = numbered()
    out = Responder(backend=b, strategy="incongruence", n_samples=1, topic_check=False).respond_table(
        _table()
    )
    prompts = [c["messages"][0]["content"] for c in b.calls]
    assert len(prompts) == 3  # the crisis turn is not sent
    # no generated text ever reaches a later prompt
    assert not any("GENERATED" in p for p in prompts)
    # turn 3 sees turn 1 and the counsellor's real reply to it, but not its own counsellor_text
    assert (
        "Patient (incongruence: minimizing): Work has been a lot lately.\nTherapist: What has been hardest?"
        in (prompts[1])
    )
    assert "It's fine?" not in prompts[1]
    # a new session starts without context
    assert (
        "Work has been" not in prompts[2]
        and "Patient (incongruence: contradiction): New session" in prompts[2]
    )
    assert list(out["response_status"]) == ["generated", "generated", "safe_message", "generated"]
    assert out.loc[2, "response_flags"] == "crisis;crisis:suicide"
    for col in RESPONSE_COLUMNS:
        assert col in out.columns


def test_counsellor_rows_get_no_response():
    table = [
        {"role": "counsellor", "text": "How are you?"},
        {"role": "client", "text": "Okay I suppose."},
        {"role": "client", "text": ""},
    ]
    b = numbered()
    out = Responder(backend=b, strategy="base", n_samples=1).respond_table(table)
    assert out["response_status"].tolist() == [None, "generated", "no_text"]
    assert "Therapist: How are you?\nPatient: Okay I suppose." in b.calls[0]["messages"][0]["content"]


def test_batch_resumes_after_a_kill_and_matches_an_uninterrupted_run(tmp_path):
    full = Responder(
        backend=Scripted(lambda m, s, n: f"[R] You said {s} today."), seed=3, topic_check=False
    ).respond_table(_table())
    out = tmp_path / "responses.jsonl"
    b = Scripted(lambda m, s, n: f"[R] You said {s} today.")
    Responder(backend=b, seed=3, topic_check=False).respond_table(_table(), out=out)
    assert len(b.calls) == 9 and len(read_results(out)) == 4
    # simulate a kill during the last turn: its line is torn, the one before is lost entirely
    lines = out.read_text().split("\n")
    out.write_text("\n".join(lines[:2]) + "\n" + lines[3][: len(lines[3]) // 2])
    b2 = Scripted(lambda m, s, n: f"[R] You said {s} today.")
    resumed = Responder(backend=b2, seed=3, topic_check=False).respond_table(_table(), out=out)
    assert len(b2.calls) == 3  # only the lost turn (s2#1) was generated again; the crisis turn needs no call
    cols = list(RESPONSE_COLUMNS)
    pd.testing.assert_frame_equal(resumed[cols], full[cols])
    # a second full re-run generates nothing
    b3 = Scripted(lambda m, s, n: "never used")
    Responder(backend=b3, seed=3, topic_check=False).respond_table(_table(), out=out)
    assert b3.calls == []


def test_results_file_made_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    Responder(backend=numbered(), n_samples=1).respond_table(_table(), out=out)
    with pytest.raises(CongruenceError, match="other settings") as exc:
        Responder(backend=numbered(), n_samples=3).respond_table(_table(), out=out)
    assert "n_samples: 1 -> 3" in exc.value.problem
    with pytest.raises(CongruenceError, match="resume is off"):
        Responder(backend=numbered(), n_samples=1).respond_table(_table(), out=out, resume=False)
    rec = json.loads(out.read_text().split("\n")[0])
    assert rec["settings"]["strategy"] == "incongruence" and rec["row"]["response_text"]


def test_table_errors_are_clear():
    with pytest.raises(CongruenceError, match="no 'text'"):
        Responder(backend=numbered()).respond_table([{"utterance_text": "hi"}])
    dup = [
        {"session_id": "a", "turn_index": 1, "text": "x"},
        {"session_id": "a", "turn_index": 1, "text": "y"},
    ]
    with pytest.raises(CongruenceError, match="share a"):
        Responder(backend=numbered()).respond_table(dup)


def test_provenance_marks_model_output_and_rule_based_flags():
    prov = response_provenance(Responder(backend=numbered(), strategy="dissonance"))
    assert set(prov) == set(RESPONSE_COLUMNS)
    assert (
        prov["response_text"].kind is Kind.MODEL
        and prov["response_text"].estimator == "scripted / dissonance"
    )
    assert prov["response_flags"].kind is Kind.PROXY
    assert "not therapy or clinical advice" in prov["response_text"].note


@pytest.mark.slow
def test_protocol_on_the_real_embedded_model(smol):
    # screen=False: this pins the collection protocol (median length of the parsed samples); the
    # degenerate-output screen is tested in test_degenerate.py
    r = Responder(backend=smol, strategy="ether", max_tokens=24, seed=11, screen=False)
    a = r.respond("My mum died last month but honestly I'm fine.", affect={"face_valence": -0.7})
    b = r.respond("My mum died last month but honestly I'm fine.", affect={"face_valence": -0.7})
    assert a.text and a.attempts >= 3 and len(a.samples) == a.attempts
    assert a == b  # seeded: the same samples and the same choice
    # the kept reply is the median-length one of the clean samples
    parsed = [parse_reply(s, expect_technique=False) for s in a.samples]
    good = [p for p in parsed if p.ok] or parsed
    assert (
        a.text
        == remove_clinical_claims(good[median_length_index([len(p.response) for p in good])].response)[0]
    )


def test_add_responses_and_iter_replies_for_analyze_and_the_report(tmp_path):
    from congruence.generation.respond import add_responses, iter_replies

    table = _table()
    out = add_responses(table, responder=Responder(backend=numbered(), n_samples=1), out=tmp_path / "r.jsonl")
    assert list(table.columns) == list(out.columns[: len(table.columns)])  # input columns kept, in order
    assert "response_text" not in table.columns  # the caller's table is not modified
    rows = list(iter_replies(out))
    assert [r["turn_index"] for r in rows] == [1, 3, 5, 1]
    assert rows[2]["response_status"] == "safe_message" and rows[0]["text"] == "Work has been a lot lately."
    assert out.attrs["response_provenance"]["response_text"]["kind"] == "model"
