"""PCT metric formulas, lexicon matching and the scorer's handling of missing input (no model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.evaluation import pct
from congruence.evaluation.lexicon import LEXICON_DIR, load_all, load_lexicon, normalize
from congruence.provenance import Kind

counts = st.integers(min_value=0, max_value=20)
unit = st.floats(min_value=-0.5, max_value=1.5, allow_nan=False)


@pytest.fixture(scope="module")
def fast() -> pct.PCTScorer:
    return pct.PCTScorer(similarity="lexical", word_vectors="none")


# --- formulas ------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(counts, counts, counts, counts, counts, counts, counts, counts, counts, counts, counts, unit, unit)
def test_every_metric_lies_in_unit_interval(
    nat, eng, perf, sit, clar, purp, nq, nopen, nsent, emp, cur, mirror, concept
) -> None:
    nwords = nsent * 7 + nq
    values = [
        pct.empathic_authenticity(nat, eng, perf),
        pct.responsive_engagement(sit, mirror),
        pct.therapeutic_concision(clar, purp, nq, min(nopen, nq), nsent, nwords),
        pct.empathic_understanding(emp, cur),
        pct.unconditional_positive_regard(clar, perf),
        pct.therapeutic_congruence(purp, concept),
        pct.therapeutic_congruence(purp, None),
        pct.question_score(nq, min(nopen, nq), nsent),
    ]
    assert all(0.0 <= v <= 1.0 for v in values)


@settings(max_examples=200, deadline=None)
@given(counts, counts, counts, counts)
def test_authenticity_and_regard_move_the_way_their_definitions_say(nat, eng, perf, k) -> None:
    ea = pct.empathic_authenticity(nat, eng, perf)
    assert pct.empathic_authenticity(nat + 1, eng, perf) >= ea
    assert pct.empathic_authenticity(nat, eng + 1, perf) >= ea
    assert pct.empathic_authenticity(nat, eng, perf + 1) <= ea
    upr = pct.unconditional_positive_regard(k, nat)
    assert pct.unconditional_positive_regard(k, nat + 1) <= upr  # each directive phrase costs
    assert pct.unconditional_positive_regard(k + 1, nat) >= upr


@settings(max_examples=200, deadline=None)
@given(counts, counts, st.integers(0, 6), st.integers(1, 8), st.integers(1, 400))
def test_concision_never_rewards_length_or_interrogation(clar, purp, nq, nsent, nwords) -> None:
    nsent = max(nsent, nq)
    tc = pct.therapeutic_concision(clar, purp, nq, nq, nsent, nwords)
    assert pct.therapeutic_concision(clar, purp, nq, nq, nsent, nwords + 10) <= tc
    if nq >= 1:
        # beyond one question in every other sentence, more questions never help
        more = pct.question_score(nq + 1, nq + 1, nsent)
        assert more <= pct.question_score(nq, nq, nsent) or nq + 1 <= -(-nsent // 2)


def test_question_score_examples() -> None:
    assert pct.question_score(0, 0, 3) == 0.0
    assert pct.question_score(1, 1, 1) == 1.0  # a single open question is fine
    assert pct.question_score(1, 0, 2) == 0.5  # closed question earns half
    assert pct.question_score(4, 4, 4) == pytest.approx(1 / 3)  # interrogation


def test_pct_adherence_is_the_documented_composite() -> None:
    s = pct.score_counts(
        pct.count_markers("That makes sense. What was that like for you?", load_all()),
        mirroring=0.4,
        concept_similarity=0.6,
    )
    rogers = (s.empathic_understanding + s.unconditional_positive_regard + s.therapeutic_congruence) / 3
    assert s.rogers_core_conditions == pytest.approx(rogers)
    assert s.pct_adherence == pytest.approx((rogers + s.empathic_authenticity + s.therapeutic_concision) / 3)


# --- lexicons --------------------------------------------------------------------------------------
def test_contractions_match_the_same_entries() -> None:
    lex = load_all()
    for a, b in (("You're feeling stuck.", "You are feeling stuck."), ("I'm wondering.", "I am wondering.")):
        for name in ("empathy", "curiosity", "authentic_engagement"):
            assert lex[name].count(normalize(a)) == lex[name].count(normalize(b))
    assert normalize("Don’t WORRY, it’s fine") == "do not worry, it is fine"


def test_sentence_initial_entries_only_match_at_sentence_start() -> None:
    directive = load_lexicon("directive")
    assert directive.matches("Take a walk. Breathe.") == ["take"]
    assert directive.matches("It will take time.") == []
    assert directive.matches("I know. Just breathe!") == ["just"]


def test_overlapping_entries_count_once_and_feelings_expand() -> None:
    empathy = load_lexicon("empathy")
    assert empathy.matches("It sounds like a lot.") == ["it sounds like"]
    assert empathy.matches("You seem really exhausted, and you're so tired.") == [
        "you seem really exhausted",
        "you are so tired",
    ]


def test_open_and_closed_questions() -> None:
    lex = load_all()
    c = pct.count_markers("So, I'm wondering, what was that like? Have you tried yoga? Okay.", lex)
    assert (c.n_sentences, c.n_questions, c.n_open_questions) == (3, 2, 1)


def test_missing_lexicon_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CongruenceError, match="lexicon file"):
        load_lexicon("empathy", tmp_path)


def test_a_custom_lexicon_folder_changes_the_scores(tmp_path: Path) -> None:
    folder = tmp_path / "pct"
    shutil.copytree(LEXICON_DIR, folder)
    (folder / "directive.txt").write_text("# nothing counts as directive\n", encoding="utf-8")
    text = pd.DataFrame({"client": ["I can't sleep."], "response": ["You should see a doctor."]})
    default = pct.PCTScorer(similarity="lexical", word_vectors="none").score(text)
    custom = pct.PCTScorer(similarity="lexical", word_vectors="none", lexicon_dir=folder).score(text)
    assert default["unconditional_positive_regard"].iloc[0] == 0.0
    assert custom["unconditional_positive_regard"].iloc[0] == 0.5


# --- scorer ----------------------------------------------------------------------------------------
def test_scorer_reports_missing_input_explicitly(fast: pct.PCTScorer) -> None:
    df = pd.DataFrame(
        {
            "client_utterance": ["I failed the exam.", None, "I failed the exam."],
            "reply": ["That sounds like a real blow. What does it mean for you?", "Tell me more.", "   "],
        },
        index=["a", "b", "c"],
    )
    out = fast.score(df)
    assert list(out.index) == ["a", "b", "c"]
    assert list(out["pct_status"]) == ["ok", "no_client_utterance", "empty_response"]
    assert pd.notna(out.loc["a", "responsive_engagement"])
    assert pd.isna(out.loc["b", "responsive_engagement"]) and pd.notna(out.loc["b", "pct_adherence"])
    assert out.loc["c"].drop("pct_status").isna().all()


def test_scorer_needs_a_response_column(fast: pct.PCTScorer) -> None:
    with pytest.raises(CongruenceError, match="no response column"):
        fast.score(pd.DataFrame({"text": ["hi"]}))
    with pytest.raises(CongruenceError, match="no client utterance column 'ctx'"):
        fast.score(pd.DataFrame({"response": ["hi"]}), client_col="ctx")


def test_every_column_has_provenance(fast: pct.PCTScorer) -> None:
    out = fast.score(pd.DataFrame({"client": ["I'm tired."], "response": ["You sound worn out."]}))
    cols = fast.columns()
    assert list(out.columns) == list(cols)
    assert all(cols[m].kind is Kind.PROXY for m in pct.METRIC_COLUMNS)
    assert cols["n_words"].kind is Kind.MEASUREMENT
    assert "lexical overlap" in cols["responsive_engagement"].estimator


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300), st.text(max_size=120))
def test_any_text_scores_within_bounds(response: str, client: str) -> None:
    scorer = pct.PCTScorer(similarity="lexical", word_vectors="none")
    out = scorer.score_texts([response], [client])
    row = out.iloc[0]
    if not response.strip():
        assert row["pct_status"] == "empty_response"
        return
    for m in pct.METRIC_COLUMNS:
        if pd.notna(row[m]):
            assert 0.0 <= float(row[m]) <= 1.0


def test_lexical_mirroring_examples() -> None:
    stop = frozenset(["i", "my", "with", "the", "you", "your", "and"])
    assert pct.lexical_mirroring("I argue with my brother", "You and your brother argued", stop) == 1.0
    assert pct.lexical_mirroring("I argue with my brother", "The weather is nice", stop) == 0.0
    assert pct.lexical_mirroring("", "anything", stop) == 0.0


@pytest.mark.slow
def test_spacy_vectors_are_an_alternative_for_congruence() -> None:
    scorer = pct.PCTScorer(similarity="lexical", word_vectors="spacy")
    out = scorer.score_texts(
        ["Honestly, I notice I'm not sure what to say.", "Mm."], ["I lost my job.", "Hi."]
    )
    assert 0.0 <= out.loc[0, "congruence_similarity"] <= 1.0
    assert out.loc[0, "therapeutic_congruence"] > out.loc[1, "therapeutic_congruence"]
    assert "spacy-en_core_web_md" in scorer.columns()["therapeutic_congruence"].estimator
