"""Context dropout removes explicit emotional cues; VAD values never enter the input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.training.dropout import (
    EMOTION_WORDS,
    assert_no_vad_in_input,
    count_cues,
    dropout_mask,
    remove_emotional_cues,
)


def test_cue_words_and_feeling_phrases_go_and_content_stays():
    out = remove_emotional_cues("Honestly, I feel so sad about the job, and my sister is anxious.")
    assert count_cues(out) == 0
    for kept in ("Honestly", "job", "sister"):
        assert kept in out
    assert remove_emotional_cues("We moved house in May.") == "We moved house in May."


@given(
    st.lists(st.sampled_from([*sorted(EMOTION_WORDS)[:40], "house", "work", "the", "I", "feel"]), max_size=20)
)
def test_no_cue_survives_and_removal_is_idempotent(words):
    text = " ".join(words)
    out = remove_emotional_cues(text)
    assert count_cues(out) == 0
    assert remove_emotional_cues(out) == out


def test_dropout_share_matches_p():
    m = dropout_mask(20000, 0.3, np.random.default_rng(0))
    assert m.mean() == pytest.approx(0.3, abs=0.015)
    with pytest.raises(CongruenceError):
        dropout_mask(3, 1.5, np.random.default_rng(0))


def test_vad_values_in_input_are_refused():
    assert_no_vad_in_input("Client: I'm fine, really.", {})
    with pytest.raises(CongruenceError, match="valence"):
        assert_no_vad_in_input("Client valence: -0.4. I'm fine.", {"session_id": "s", "turn_index": 1})
