"""Parsing of `[Technique] [Response]` replies, on the outputs printed in the interventions paper."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congruence.generation.parsing import FAILURE_FLAGS, is_explanation, parse_reply
from congruence.generation.respond import median_length_index

KNOWN_FLAGS = {"parse_failed", "missing_technique", "explanation", "explanation_removed", "trimmed"}


@pytest.mark.parametrize(
    ("raw", "technique", "response"),
    [
        # appendix H, figure 12 (GPT-4 and GPT-4-Disson): bold technique line, reply on the next line
        (
            "**Technique: Cognitive Behavioral Therapy (CBT) - specifically, Socratic questioning.**\n"
            "And if they didn't want to be friends with you, what impact would that have on you?",
            "Cognitive Behavioral Therapy (CBT) - specifically, Socratic questioning",
            "And if they didn't want to be friends with you, what impact would that have on you?",
        ),
        (
            "**Technique: Emotional Awareness and Validation.**\nI sense some discomfort when you "
            "mention your "
            "colleagues not wanting to be friends. Can you tell me what feelings come up when you think "
            "about "
            "that situation?",
            "Emotional Awareness and Validation",
            "I sense some discomfort when you mention your colleagues not wanting to be friends. Can you "
            "tell me "
            "what feelings come up when you think about that situation?",
        ),
        # figure 13 (LLaMa3): technique line, blank line, quoted reply
        (
            "Technique: Reflective listening\n\n\"It sounds like you're saying that your father abused "
            "you when "
            "you were a child, and that it's had a profound impact on your life. Is that right?\"",
            "Reflective listening",
            "It sounds like you're saying that your father abused you when you were a child, and that "
            "it's had a "
            "profound impact on your life. Is that right?",
        ),
        # figure 13 (LLaMa3-Disson): the technique as a title ending in a colon
        (
            'Technique: Emotion Dissonance:\n\n"I notice that you seem to be struggling with conflicting '
            'emotions when you talk about your father."',
            "Emotion Dissonance",
            "I notice that you seem to be struggling with conflicting emotions when you talk about your "
            "father.",
        ),
        # the requested form, with and without the second bracket
        (
            "[Reflective listening] [It sounds like you feel alone.]",
            "Reflective listening",
            "It sounds like you feel alone.",
        ),
        ("[Validation] That sounds exhausting for you.", "Validation", "That sounds exhausting for you."),
        # placeholders filled in literally
        (
            "[Technique] Open question [Your Response] What feels hardest right now?",
            "Open question",
            "What feels hardest right now?",
        ),
        ("Technique: Reflection. Response: You sound tired.", "Reflection", "You sound tired."),
        ("Empathic reflection:\nYou sound worn out.", "Empathic reflection", "You sound worn out."),
    ],
)
def test_reply_forms_seen_in_the_paper_parse(raw, technique, response):
    p = parse_reply(raw)
    assert (p.technique, p.response) == (technique, response)
    assert p.ok and p.flags == ()


@pytest.mark.parametrize(
    "raw",
    [
        # appendix F, verbatim failure cases: an explanation instead of a reply
        "Clarification: This encourages the patient to elaborate on their feelings and provides valuable "
        "insight "
        "into their emotional state.",
        "Clarification: This response seeks to gently clarify the patient's statements, particularly the "
        "juxtaposition of 'phone' with deeply personal needs.",
        "[Reflection] The therapist should reflect the client's feelings back to them.",
    ],
)
def test_explanations_instead_of_replies_are_failures(raw):
    p = parse_reply(raw)
    assert "explanation" in p.flags and not p.ok


def test_explanatory_sentence_is_cut_from_a_real_reply():
    p = parse_reply("[Validation] I hear how much this hurts you. This validates the patient's feelings.")
    assert p.response == "I hear how much this hurts you."
    assert p.flags == ("explanation_removed",) and p.ok


def test_missing_technique_is_flagged_only_when_expected():
    assert parse_reply("It sounds like you are tired.").flags == ("missing_technique",)
    plain = parse_reply("It sounds like you are tired.", expect_technique=False)
    assert plain.ok and plain.technique is None and plain.response == "It sounds like you are tired."


def test_technique_without_reply_and_empty_output_fail():
    assert parse_reply("[Reflection]").flags == ("parse_failed",)
    assert parse_reply("").flags == ("parse_failed",)
    assert parse_reply("Technique: Socratic questioning").flags == ("parse_failed",)


def test_model_writing_the_patients_next_line_is_trimmed():
    p = parse_reply("[Reflection] You sound tired.\nPatient: Yes I am.\nTherapist: Okay.")
    assert p.response == "You sound tired." and "trimmed" in p.flags and p.ok


def test_preamble_is_not_taken_for_a_technique():
    p = parse_reply('Here is your suggested response:\n"You seem sad today."')
    assert p.technique is None and p.response == "You seem sad today."


def test_explanation_rule():
    assert is_explanation("This encourages the patient to elaborate on their feelings.")
    assert is_explanation("The client's anxiety is addressed by normalising it.")
    assert not is_explanation("It sounds like the patient part of you is tired of waiting, doesn't it?")
    assert not is_explanation("What would it mean for you if they did think you were weird?")


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9)
technique_st = st.lists(words, min_size=1, max_size=5).map(lambda w: " ".join(w).capitalize())
sentence_st = st.lists(words, min_size=2, max_size=8).map(lambda w: "You " + " ".join(w) + ".")
response_st = st.lists(sentence_st, min_size=1, max_size=3).map(" ".join)


FORMS = [
    "[{t}] [{r}]",
    "[{t}] {r}",
    "Technique: {t}\n{r}",
    '**Technique: {t}**\n\n"{r}"',
    "[Technique: {t}] [{r}]",
]


@settings(max_examples=150, deadline=None)
@given(technique_st, response_st, st.sampled_from(FORMS))
def test_well_formed_replies_round_trip(technique, response, form):
    p = parse_reply(form.format(t=technique, r=response))
    assert (p.technique, p.response, p.flags) == (technique, response, ())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.booleans())
def test_parser_never_raises_and_reports_known_flags(raw, expect):
    p = parse_reply(raw, expect_technique=expect)
    assert isinstance(p.response, str)
    assert set(p.flags) <= KNOWN_FLAGS
    assert p.ok == (not FAILURE_FLAGS.intersection(p.flags))
    assert ("parse_failed" in p.flags) == (p.response == "")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=9))
def test_median_length_index_picks_a_median_sample(lengths):
    i = median_length_index(lengths)
    below = sum(x < lengths[i] for x in lengths)
    above = sum(x > lengths[i] for x in lengths)
    assert below <= (len(lengths) - 1) // 2 + (len(lengths) + 1) % 2 and above <= len(lengths) // 2
    assert sorted(lengths)[(len(lengths) - 1) // 2] == lengths[i]
