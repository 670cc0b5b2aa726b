"""Prompt strategies: the papers' templates are pinned word for word, and affect lands on client turns."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.generation import prompts as P
from congruence.generation.prompts import DialogueTurn, build_messages

# The papers' passages that hold the templates, kept in the repository so CI always pins them;
# the full papers live in the project's shared folder, outside the repository.
PASSAGES = Path(__file__).resolve().parents[1] / "data" / "paper_passages"
PAPERS = Path(__file__).resolve().parents[3] / "shared" / "papers"
OUTSIDE_REPO = "outside the repository"  # such skips stay skips under CONGRUENCE_STRICT_SKIPS

CONTEXT = [
    DialogueTurn("counsellor", "What brings you here today?"),
    DialogueTurn(
        "client", "Work, mostly.", {"face_expr_sad": 0.6, "face_expr_neutral": 0.3, "dissonance": 0}
    ),
    DialogueTurn("counsellor", "Tell me more about work."),
]
AFFECT = {
    "face_valence": -0.62,
    "face_arousal": 0.41,
    "voice_valence": 0.1,
    "voice_arousal": 0.7,
    "text_valence": 0.35,
    "face_expr_sad": 0.7,
    "face_expr_happy": 0.05,
    "voice_emotion": "calm",
    "text_face_type": "contradiction",
    "face_voice_dissonance": 1.0,
}
UTTERANCE = "It's fine, honestly. I'm totally fine with it."


def _passage(name: str) -> str:
    """A stored passage of paper ``name`` with whitespace normalised (``#`` lines are its header)."""
    lines = (PASSAGES / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return " ".join(" ".join(ln for ln in lines if not ln.startswith("#")).split())


def test_ether_prompt_is_the_papers_text_verbatim():
    assert P.ETHER_PCT_SYSTEM_PROMPT == (
        "You are an empathic AI assistant trained in Person-Centered Therapy principles. Respond to the "
        "client "
        "with genuine empathy, focusing on understanding their emotional experience rather than giving "
        "advice. "
        "Use Rogers' core conditions: empathy, unconditional positive regard, and congruence. Please "
        "analyze the "
        "attached image showing a client's facial expression and respond empathically to their statement: "
        "'[CLIENT_UTTERANCE]'. Focus on both their verbal expression and any emotional cues visible in their "
        "facial expression. Respond in 1-2 sentences that demonstrate genuine empathic understanding."
    )
    assert P.ETHER_PCT_SYSTEM_PROMPT in _passage("e-ther")


def test_intervention_templates_are_the_papers_text_verbatim():
    paper = _passage("emotion-guided-interventions")
    for text in (P.BASE_INSTRUCTION, P.EMOTION_INSTRUCTION, P.DISSONANCE_INSTRUCTION, P.RESPONSE_FORM):
        assert text in paper, text[:60]
    assert P.RESPONSE_FORM == "Your response must be in the form: [Technique] [Your Response]"
    assert P.BASE_INSTRUCTION.endswith("Then, continue the dialogue with a concise response.")
    assert "emotional dissonance—when the patient’s vocal tone does not match their facial expression" in (
        P.DISSONANCE_INSTRUCTION
    )


@pytest.mark.parametrize("name", ["e-ther", "emotion-guided-interventions"])
def test_stored_passages_are_the_papers_text(name):
    path = PAPERS / f"{name}.md"
    if not path.is_file():
        pytest.skip(f"{OUTSIDE_REPO}: {path} (the papers live in the project's shared folder)")
    assert _passage(name) in " ".join(path.read_text(encoding="utf-8").split())


def test_every_strategy_is_named_documented_and_sourced():
    assert list(P.STRATEGIES) == ["ether", "base", "discrete", "continuous", "dissonance", "incongruence"]
    for s in P.STRATEGIES.values():
        assert s.description and s.source and s.instruction
    assert not P.STRATEGIES["ether"].expects_technique
    assert all(P.STRATEGIES[n].expects_technique for n in ("base", "discrete", "continuous", "dissonance"))


def test_base_prompt_rendered_in_full():
    msgs = build_messages("base", UTTERANCE, affect=AFFECT, context=CONTEXT)
    assert msgs == [
        {
            "role": "user",
            "content": P.BASE_INSTRUCTION
            + "\n\nDialogue:\nTherapist: What brings you here today?\nPatient: Work, mostly.\n"
            "Therapist: Tell me more about work.\nPatient: It's fine, honestly. I'm totally fine with it.\n\n"
            "Your response must be in the form: [Technique] [Your Response]",
        }
    ]


def test_discrete_prompt_labels_each_patient_turn():
    body = build_messages("discrete", UTTERANCE, affect=AFFECT, context=CONTEXT)[0]["content"]
    assert body.startswith(P.EMOTION_INSTRUCTION)
    assert "Patient (face: sad): Work, mostly." in body
    assert f"Patient (speech: calm; face: sad): {UTTERANCE}" in body
    assert "Therapist: Tell me more about work." in body


def test_continuous_prompt_shows_valence_arousal_and_skips_missing():
    body = build_messages("continuous", UTTERANCE, affect=AFFECT, context=CONTEXT)[0]["content"]
    assert (
        "Patient (speech: valence +0.10, arousal +0.70; face: valence -0.62, arousal +0.41; "
        f"text: valence +0.35): {UTTERANCE}"
    ) in body
    # the earlier client turn has no valence-arousal values: no empty parentheses
    assert "Patient: Work, mostly." in body


def test_dissonance_prompt_marks_only_flagged_turns():
    body = build_messages("dissonance", UTTERANCE, affect=AFFECT, context=CONTEXT)[0]["content"]
    assert body.startswith(P.DISSONANCE_INSTRUCTION)
    assert f"Patient (emotional dissonance): {UTTERANCE}" in body
    assert "Patient: Work, mostly." in body  # dissonance 0 on that turn


def test_incongruence_prompt_names_the_ether_type():
    body = build_messages("incongruence", UTTERANCE, affect=AFFECT, context=CONTEXT)[0]["content"]
    assert body.startswith(P.INCONGRUENCE_INSTRUCTION)
    assert "'minimizing' means their face shows stronger emotion than their words admit" in body
    assert f"Patient (incongruence: contradiction): {UTTERANCE}" in body
    minimizing = build_messages("incongruence", UTTERANCE, affect={"ann_incongruence": "minimizing"})
    assert f"Patient (incongruence: minimizing): {UTTERANCE}" in minimizing[0]["content"]
    none = build_messages("incongruence", UTTERANCE, affect={"incongruence": "none"})
    assert f"Patient: {UTTERANCE}" in none[0]["content"]


def test_explicit_incongruence_column_wins_over_computed_one():
    affect = {"incongruence": "minimizing", "text_face_type": "contradiction"}
    assert P.incongruence_of(affect) == "minimizing"


def test_invalid_incongruence_value_is_a_clear_error():
    with pytest.raises(CongruenceError, match="not an E-THER incongruence type"):
        build_messages("incongruence", UTTERANCE, affect={"incongruence": "sarcasm"})


def test_ether_prompt_with_image_is_verbatim_with_utterance():
    msgs = build_messages("ether", UTTERANCE, affect=AFFECT, context=CONTEXT, with_image=True)
    assert msgs[0] == {
        "role": "system",
        "content": P.ETHER_PCT_SYSTEM_PROMPT.replace("[CLIENT_UTTERANCE]", UTTERANCE),
    }
    assert msgs[1] == {"role": "user", "content": UTTERANCE}
    assert "Work, mostly" not in str(msgs)  # E-THER prompts each utterance on its own


def test_ether_prompt_text_only_describes_the_face_instead_of_an_image():
    system = build_messages("ether", UTTERANCE, affect=AFFECT)[0]["content"]
    assert "attached image" not in system
    assert (
        "Their facial expression, estimated from video: expression sad, valence -0.62, arousal +0.41."
        in system
    )
    assert f"statement: '{UTTERANCE}'" in system
    assert system.endswith("Respond in 1-2 sentences that demonstrate genuine empathic understanding.")
    bare = build_messages("ether", UTTERANCE)[0]["content"]
    assert "estimated from video" not in bare


def test_unknown_strategy_and_empty_utterance_are_clear_errors():
    with pytest.raises(CongruenceError, match="Choose one of: ether, base"):
        build_messages("socratic", UTTERANCE)
    with pytest.raises(CongruenceError, match="empty"):
        build_messages("base", "   ")
    with pytest.raises(CongruenceError, match="Unknown dialogue role"):
        DialogueTurn("narrator", "hello")


def test_face_label_is_the_most_probable_class():
    assert P.face_label({f"face_expr_{c}": 0.1 for c in P.FACE_CLASSES} | {"face_expr_fear": 0.4}) == "fear"
    assert P.face_label({"face_expr_sad": float("nan")}) is None


finite = st.floats(min_value=-1, max_value=1, allow_nan=False)
maybe = st.one_of(st.none(), st.just(float("nan")), finite)
COLS = ["face_valence", "face_arousal", "voice_valence", "voice_arousal", "text_valence", "text_arousal"]


@settings(max_examples=80, deadline=None)
@given(st.fixed_dictionaries({c: maybe for c in COLS}), st.sampled_from(list(P.STRATEGIES)))
def test_prompts_show_exactly_the_present_values(affect, strategy):
    body = "\n".join(m["content"] for m in build_messages(strategy, UTTERANCE, affect=affect))
    assert UTTERANCE in body
    assert not re.search(r"\bnan\b|\bNone\b", body, re.I)
    if strategy == "continuous":
        present = [c for c in COLS if affect[c] is not None and not math.isnan(affect[c])]
        assert body.count("valence ") + body.count("arousal ") == len(present)
        for c in present:
            assert f"{affect[c]:+.2f}" in body
    if P.STRATEGIES[strategy].expects_technique:
        assert body.endswith(P.RESPONSE_FORM)
