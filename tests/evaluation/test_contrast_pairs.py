"""EA, RE and PCT Adherence prefer a person-centred reply to each kind of degenerate reply.

The pairs (tests/evaluation/contrast_pairs.py) were written for this project before the
degeneracy penalty existed; the held-out split was never read while designing it. Issue 15's
target is at least 90 % of pairs ordered correctly per metric, on both splits.
"""

from __future__ import annotations

import pandas as pd
import pytest

from congruence.evaluation.pct import PCTScorer

from .contrast_pairs import KINDS, ORDERED_METRICS, SPLITS, load_pairs, ordered

TARGET = 0.9


def _check(scorer: PCTScorer, split: str) -> None:
    res = ordered(scorer, load_pairs(split))
    assert set(res["kind"]) == set(KINDS) and len(res) >= 60
    shares = res[list(ORDERED_METRICS)].mean()
    per_kind = res.groupby("kind")[list(ORDERED_METRICS)].mean()
    assert (shares >= TARGET).all(), per_kind
    # no kind of junk may win in most of its pairs
    assert (per_kind > 0.5).all().all(), per_kind


@pytest.mark.parametrize("split", SPLITS)
def test_lexical_scorer_prefers_care_over_junk(split: str) -> None:
    _check(PCTScorer(similarity="lexical", word_vectors="none"), split)


@pytest.mark.slow
@pytest.mark.parametrize("split", SPLITS)
def test_default_scorer_prefers_care_over_junk(pct_scorer: PCTScorer, split: str) -> None:
    _check(pct_scorer, split)


def test_the_penalty_is_what_separates_them() -> None:
    """Without the degeneracy factor (pct-v1) the junk ties with or beats the reply: the test can fail."""
    pairs = load_pairs("dev")
    scorer = PCTScorer(similarity="lexical", word_vectors="none")
    care = scorer.score(pd.DataFrame({"client": pairs["client"], "response": pairs["care"]}))
    bad = scorer.score(pd.DataFrame({"client": pairs["client"], "response": pairs["bad"]}))
    ok = bad["pct_status"] == "ok"
    # undo g on EA: the raw pct-v1 value is EA / g
    raw_care = care["empathic_authenticity"] / (1 - care["degeneracy"])
    raw_bad = bad["empathic_authenticity"][ok] / (1 - bad["degeneracy"][ok]).where(bad["degeneracy"][ok] < 1)
    assert (raw_care[ok] > raw_bad).mean() < TARGET
    assert (bad.loc[ok, "degeneracy"] > care.loc[ok, "degeneracy"]).mean() >= TARGET
