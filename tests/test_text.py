"""TextAnalyzer on real sentences: VADER, Warriner VAD, NRC emotions, FER-space distribution, MiniLM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from congruence import registry
from congruence.errors import CongruenceError
from congruence.perception.text import TextAnalyzer
from congruence.provenance import Kind
from congruence.table import FER_CLASSES

pytestmark = pytest.mark.slow

HAPPY = "I'm so happy, this is wonderful"
HOPELESS = "I feel hopeless and alone"


@pytest.fixture(scope="session")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer()


@pytest.fixture(scope="session")
def feats(analyzer):
    texts = {
        "happy": HAPPY,
        "hopeless": HOPELESS,
        "is_happy": "I am happy with how things went.",
        "not_happy": "I am not happy with how things went.",
        "sad": "I'm sad about my brother.",
        "not_sad": "I'm not sad about my brother.",
        "furious": "I am furious and terrified.",
        "calm": "I feel calm and sleepy.",
        "emoji": "😀😀",
        "french": "Je suis très heureux aujourd'hui",
        "empty": "",
        "blank": "  \n\t ",
        "para1": "I can't stop worrying about losing my job.",
        "para2": "I'm constantly anxious that I will be fired.",
        "unrelated": "The train to the airport leaves at nine.",
    }
    out = analyzer.analyze_many(list(texts.values()))
    return {k: f.values for k, f in zip(texts, out, strict=True)}


def test_valence_and_sentiment_follow_clear_sentences(feats):
    happy, hopeless = feats["happy"], feats["hopeless"]
    assert happy["text_valence"] > 0.4 and hopeless["text_valence"] < -0.3
    assert happy["text_sentiment"] > 0.5 and hopeless["text_sentiment"] < -0.3
    assert happy["text_dominance"] > hopeless["text_dominance"]
    assert happy["text_vad_coverage"] == 1.0 and hopeless["text_vad_coverage"] == 1.0


def test_categories_match_the_emotion_of_the_words(feats):
    happy, hopeless = feats["happy"], feats["hopeless"]
    assert max(FER_CLASSES, key=lambda c: happy[f"text_cat_{c}"]) == "happy"
    assert max(FER_CLASSES, key=lambda c: hopeless[f"text_cat_{c}"]) == "sad"
    assert happy["text_emo_joy"] == 1.0 and hopeless["text_emo_joy"] == 0.0
    assert hopeless["text_emo_sadness"] > 0.5 and hopeless["text_emo_fear"] > 0
    assert feats["furious"]["text_emo_anger"] > 0 and feats["furious"]["text_cat_fear"] > 0


def test_negation_flips_valence(feats):
    assert feats["not_happy"]["text_valence"] < 0 < feats["is_happy"]["text_valence"]
    assert feats["not_sad"]["text_valence"] > feats["sad"]["text_valence"]
    # a negated emotion word asserts no emotion: "not happy" is not joy
    assert feats["not_happy"]["text_emo_joy"] == 0.0
    assert feats["not_happy"]["text_cat_happy"] == 0.0 < feats["is_happy"]["text_cat_happy"]


def test_arousal_orders_agitated_above_calm(feats):
    assert feats["furious"]["text_arousal"] > feats["calm"]["text_arousal"] + 0.4


def test_empty_text_is_missing_not_zero(analyzer, feats):
    for key in ("empty", "blank"):
        v = feats[key]
        assert v["text_status"] == "empty" and v["text_n_words"] == 0
        assert all(x is None for k, x in v.items() if k not in ("text_status", "text_n_words"))
    assert analyzer.analyze_turn(None).values["text_status"] == "empty"


def test_non_english_and_emoji_do_not_crash(feats):
    emoji, french = feats["emoji"], feats["french"]
    assert emoji["text_status"] == "ok" and emoji["text_sentiment"] > 0  # VADER reads emoji
    # no Warriner word, but VADER's part of the default ensemble reads the emoji
    assert emoji["text_valence"] > 0 and emoji["text_vad_coverage"] is None
    assert emoji["text_dominance"] is None  # dominance stays the lexicon mean
    assert french["text_status"] == "ok" and french["text_valence"] is None
    assert french["text_n_words"] == 5
    assert len(french["text_embedding"]) == 384


def test_category_distribution_sums_to_one(feats):
    for key, v in feats.items():
        if v["text_status"] != "ok":
            continue
        p = np.array([v[f"text_cat_{c}"] for c in FER_CLASSES])
        assert p.min() >= 0 and p.sum() == pytest.approx(1.0), key
        for k, x in v.items():
            if k.startswith("text_emo_") and x is not None:
                assert 0.0 <= x <= 1.0


def test_embedding_is_normalised_and_semantic(feats):
    e = {k: np.array(feats[k]["text_embedding"]) for k in ("para1", "para2", "unrelated")}
    assert all(x.shape == (384,) for x in e.values())
    assert np.linalg.norm(e["para1"]) == pytest.approx(1.0, abs=1e-5)
    assert e["para1"] @ e["para2"] > e["para1"] @ e["unrelated"] + 0.2


def test_batch_equals_single(analyzer, feats):
    one = analyzer.analyze_turn(HOPELESS).values
    for k, x in one.items():
        if k == "text_embedding":
            np.testing.assert_allclose(x, feats["hopeless"][k], atol=1e-5)
        else:
            assert (
                x == pytest.approx(feats["hopeless"][k])
                if isinstance(x, float)
                else x == feats["hopeless"][k]
            )


def test_every_value_has_provenance(analyzer, feats):
    f = analyzer.analyze_turn(HAPPY)
    assert set(f.values) == set(f.provenance) == set(analyzer.columns())
    kinds = {k: p.kind for k, p in f.provenance.items()}
    assert kinds["text_sentiment"] is Kind.MODEL and kinds["text_embedding"] is Kind.MODEL
    assert kinds["text_valence"] is Kind.PROXY and kinds["text_cat_happy"] is Kind.PROXY
    assert "proxy" in f.provenance["text_valence"].note
    assert "research use only" in f.provenance["text_emo_joy"].note
    words = f.artifacts["words"]
    assert [w.lemma for w in words] == ["happy", "wonderful"]


def test_bad_input_is_a_clear_error(analyzer):
    with pytest.raises(CongruenceError, match="string"):
        analyzer.analyze_turn(b"I am happy")
    with pytest.raises(CongruenceError, match="batch_size"):
        TextAnalyzer(batch_size=0)


def test_registry_and_no_embedding_mode():
    a = registry.create("text.analyzer", "default", embed=False)
    assert isinstance(a, TextAnalyzer) and "text_embedding" not in a.columns()
    assert a.config()["embedding_model"] is None
    f = a.analyze_turn("Thank you, that helps.")
    assert set(f.values) == set(a.columns())
    table = pd.DataFrame({"text_valence": [0.1]})
    assert a.finalize(table) is table


@pytest.fixture(scope="session")
def lexical() -> TextAnalyzer:
    return TextAnalyzer(embed=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_any_unicode_text_gives_valid_features(lexical, text):
    v = lexical.analyze_turn(text).values
    assert v["text_status"] == ("ok" if text.strip() else "empty")
    if v["text_status"] == "ok":
        assert sum(v[f"text_cat_{c}"] for c in FER_CLASSES) == pytest.approx(1.0)
        assert -1 <= v["text_sentiment"] <= 1
        for k in ("text_valence", "text_arousal", "text_dominance"):
            assert v[k] is None or -1 <= v[k] <= 1
