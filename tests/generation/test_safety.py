"""Safety layer: crisis language, negations, directive advice and clinical claims."""

from __future__ import annotations

import pytest

from congruence.generation.safety import (
    NON_CLINICAL_FALLBACK,
    SAFE_MESSAGE,
    clinical_claims,
    crisis_categories,
    detect_crisis,
    directive_count,
    directive_counts,
    remove_clinical_claims,
)


@pytest.mark.parametrize(
    ("text", "categories"),
    [
        ("Honestly some days I just want to die.", ["suicide"]),
        ("I've been thinking about killing myself.", ["suicide"]),
        ("Everyone would be better off without me.", ["suicide"]),
        ("I don't want to live anymore.", ["suicide"]),
        ("I can't stop thinking about ending my life.", ["suicide"]),
        ("I can’t go on like this.", ["suicide"]),
        ("I started cutting myself again last week.", ["self_harm"]),
        ("Sometimes I hurt myself when it gets too loud in my head.", ["self_harm"]),
        ("If he does that again I swear I'll kill him.", ["harm_to_others"]),
        ("I keep having urges to hurt my little brother.", ["harm_to_others"]),
        ("I would never hurt myself, but sometimes I want to die.", ["suicide"]),
        ("I'm SUICIDAL and I cut myself.", ["self_harm", "suicide"]),
    ],
)
def test_crisis_language_is_detected(text, categories):
    assert crisis_categories(text) == categories


@pytest.mark.parametrize(
    "text",
    [
        "I would never hurt myself.",
        "I'm not going to kill myself, I just feel flat.",
        "I don't want to die, I want things to change.",
        "I have never wanted to hurt anyone.",
    ],
)
def test_negated_crisis_language_is_reported_as_negated_not_as_crisis(text):
    matches = detect_crisis(text)
    assert matches and all(m.negated for m in matches)
    assert crisis_categories(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "This commute is killing me.",
        "My boss would kill me if I was late again.",
        "I could murder a pizza right now.",
        "I'm fine, really. Work is just busy.",
        "We watched a documentary about a cutting-edge hospital.",
    ],
)
def test_everyday_idioms_are_not_crisis(text):
    assert crisis_categories(text) == []


def test_safe_message_points_to_people_and_makes_no_clinical_or_directive_claims():
    msg = SAFE_MESSAGE.lower()
    assert "emergency number" in msg and "crisis line" in msg and "someone you trust" in msg
    assert "not a counsellor" in msg  # says what it is not
    assert clinical_claims(SAFE_MESSAGE) == []
    assert directive_count(SAFE_MESSAGE) == 0
    assert crisis_categories(SAFE_MESSAGE) == []


def test_directive_language_is_counted_by_pattern():
    text = (
        "You should talk to him. I'd suggest writing it down, and you really need to rest. "
        "Why don't you try going for a walk? Make sure you eat. It's important to sleep."
    )
    counts = directive_counts(text)
    assert counts == {
        "you_should": 1,
        "you_need_to": 1,
        "i_suggest": 1,
        "try_to": 1,
        "why_dont_you": 1,
        "make_sure": 1,
        "its_important_to": 1,
    }
    assert directive_count(text) == 7
    assert directive_count("It sounds like you have been carrying this alone. What would help most?") == 0


def test_clinical_claims_are_cut_from_replies():
    text, kinds = remove_clinical_claims(
        "That sounds really hard. You clearly have major depression. You should take your medication."
    )
    assert text == "That sounds really hard."
    assert kinds == ["diagnosis", "prescription"]
    only, kinds = remove_clinical_claims("As your therapist, I diagnose an anxiety disorder.")
    assert only == NON_CLINICAL_FALLBACK and "clinical_identity" in kinds
    assert remove_clinical_claims("I hear you.") == ("I hear you.", [])
