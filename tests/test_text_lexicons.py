"""Text lexicons and the pure rules of the text analyzer (no models)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.perception.text.lexicons import (
    NRC_CATEGORIES,
    load_emolex,
    load_warriner,
    negate_vad,
    negation_scope,
    rescale_norm,
)
from congruence.perception.text.mapping import NRC_TO_FER, fer_distribution
from congruence.table import FER_CLASSES


def test_warriner_norms_are_the_2013_lemmas_rescaled():
    norms = load_warriner()
    # Warriner et al. (2013): 13,915 lemmas, 10 of them twice as a capitalised name ("AIDS")
    assert len(norms) == 13905
    assert norms["aids"][0] == pytest.approx(rescale_norm(3.52))  # the common noun, not the name
    v, a, _ = norms["happy"]
    assert v == pytest.approx(rescale_norm(8.47)) and a == pytest.approx(rescale_norm(6.05))
    assert norms["hopeless"][0] < -0.5 < 0.5 < norms["happy"][0]
    assert norms["furious"][1] > norms["calm"][1]
    assert all(-1 <= x <= 1 for vad in norms.values() for x in vad)


def test_emolex_has_nrc_categories_and_the_supplement_fills_gaps():
    lex = load_emolex()
    assert set().union(*lex.values()) <= set(NRC_CATEGORIES)
    assert {"fear", "sadness"} <= lex["hopeless"]
    assert "sadness" in lex["sad"]  # missing from nrclex's file, added by the project supplement
    assert "sad" not in load_emolex(supplement=False)


def test_missing_lexicon_file_is_a_clear_error(tmp_path):
    from congruence.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="Warriner"):
        load_warriner(str(tmp_path / "nope.csv"))
    with pytest.raises(ModelUnavailableError, match="EmoLex"):
        load_emolex(str(tmp_path / "nope.json"))


def test_negation_scope_window_and_breaks():
    words = ["i", "do", "not", "feel", "very", "happy", "today", "at", "all"]
    assert negation_scope(words, [False] * len(words)) == [False] * 3 + [True] * 3 + [False] * 3
    # a contrastive conjunction or punctuation ends the scope
    assert negation_scope(["not", "sad", "but", "happy"], [False] * 4) == [False, True, False, False]
    assert negation_scope(["never", "mind", ";", "great"], [False, False, True, False]) == [
        False,
        True,
        False,
        False,
    ]
    assert negation_scope(["not", "happy"], [False, False], window=0) == [False, False]


@given(v=st.floats(-1, 1), a=st.floats(-1, 1), d=st.floats(-1, 1))
def test_negation_flips_clear_valence_and_damps_arousal(v, a, d):
    nv, na, nd = negate_vad(v, a, d)
    if abs(v) >= 0.375:
        assert math.copysign(1, nv) != math.copysign(1, v) or v == 0
        assert abs(nv) <= abs(v) and abs(na) <= abs(a) and abs(nd) <= abs(d)
    else:
        assert (nv, na, nd) == (v, a, d)


word_cats = st.lists(st.sets(st.sampled_from(NRC_CATEGORIES)), max_size=12)


@given(words=word_cats, compound=st.one_of(st.none(), st.floats(-1, 1)), w=st.floats(0, 1))
def test_fer_distribution_is_a_distribution(words, compound, w):
    p = fer_distribution(words, compound, sentiment_weight=w)
    assert list(p) == list(FER_CLASSES)
    assert all(x >= 0 for x in p.values())
    assert sum(p.values()) == pytest.approx(1.0)


@given(words=word_cats)
def test_fer_mapping_follows_nrc_without_sentiment(words):
    p = fer_distribution(words, None)
    for nrc, fer in NRC_TO_FER.items():
        if not any(nrc in w for w in words):
            assert p[fer] == 0.0
    has_emotion = any(set(w) & set(NRC_TO_FER) for w in words)
    assert (p["neutral"] == 1.0) == (not has_emotion)


def test_fer_sentiment_support_moves_only_neutral_mass():
    base = fer_distribution([{"fear"}, set()], None)
    neg = fer_distribution([{"fear"}, set()], -1.0)
    assert neg["neutral"] == pytest.approx(base["neutral"] / 2)
    assert neg["fear"] == pytest.approx(base["fear"] + base["neutral"] / 2)  # to existing negative classes
    pos = fer_distribution([set()], 0.6)
    assert pos["happy"] == pytest.approx(0.3) and pos["neutral"] == pytest.approx(0.7)
    with pytest.raises(ValueError):
        fer_distribution([], 0.1, sentiment_weight=1.5)
