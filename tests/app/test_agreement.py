"""E-THER Table II and the pairwise kappa matrix, checked against sklearn and the paper's counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from congruence.app.agreement import ether_agreement_table, pairwise_kappa

LABELS = ["none", "minimizing", "contradiction"]


def ether_like_validation() -> tuple[list[str], list[str]]:
    """100 pairs with E-THER's reported pattern: 83 agreements, 8 detection and 9 type disagreements."""
    rater, expert = [], []
    rater += ["none"] * 55 + ["minimizing"] * 18 + ["contradiction"] * 10  # 83 agreements
    expert += ["none"] * 55 + ["minimizing"] * 18 + ["contradiction"] * 10
    rater += ["minimizing"] * 4 + ["none"] * 4  # 8 presence/absence disagreements
    expert += ["none"] * 4 + ["contradiction"] * 2 + ["minimizing"] * 2
    rater += ["minimizing"] * 5 + ["contradiction"] * 4  # 9 type disagreements
    expert += ["contradiction"] * 5 + ["minimizing"] * 4
    return rater, expert


def test_table_ii_rows_follow_the_papers_definitions() -> None:
    rater, expert = ether_like_validation()
    t = ether_agreement_table(rater, expert).set_index("measure")
    assert t.loc["Overall", "n"] == 100
    assert t.loc["Overall", "agreement_pct"] == pytest.approx(83.0)
    assert t.loc["Incong. detection", "agreement_pct"] == pytest.approx(92.0)
    # type: the 28 agreeing incongruent pairs + 9 type disagreements = 37 pairs both marked incongruent
    assert t.loc["Incong. type", "n"] == 37
    assert t.loc["Incong. type", "agreement_pct"] == pytest.approx(100 * 28 / 37)
    assert t.loc["Overall", "kappa"] == pytest.approx(cohen_kappa_score(rater, expert))
    det = lambda xs: ["congruent" if x == "none" else "incongruent" for x in xs]  # noqa: E731
    assert t.loc["Incong. detection", "kappa"] == pytest.approx(cohen_kappa_score(det(rater), det(expert)))
    # the same order of magnitude as the paper's 0.74 / 0.76 / 0.72 for this pattern
    assert 0.6 < t.loc["Overall", "kappa"] < 0.8


def test_engagement_rows_use_the_ether_ranges() -> None:
    t = ether_agreement_table(
        ["none"] * 4,
        ["none"] * 4,
        rater_engagement=[0.1, 0.5, 0.9, 0.34],
        expert_engagement=[0.2, 0.6, 0.5, 0.36],
    ).set_index("measure")
    # 0.1~0.2 low, 0.5~0.6 moderate, 0.9 high vs 0.5 moderate, 0.34 low vs 0.36 moderate
    assert t.loc["Engagement level", "agreement_pct"] == pytest.approx(50.0)


def test_missing_labels_are_dropped_pairwise_and_unknown_labels_refused() -> None:
    t = ether_agreement_table(["none", None, "minimizing"], ["none", "none", None]).set_index("measure")
    assert t.loc["Overall", "n"] == 1
    with pytest.raises(ValueError, match="sarcasm"):
        ether_agreement_table(["sarcasm"], ["none"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from(LABELS)), min_size=2, max_size=60))
def test_overall_kappa_equals_sklearn(pairs: list[tuple[str, str]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    k = ether_agreement_table(a, b).set_index("measure").loc["Overall", "kappa"]
    ref = cohen_kappa_score(a, b, labels=LABELS)
    assert (math.isnan(k) and math.isnan(ref)) or k == pytest.approx(ref, abs=1e-9)


def test_pairwise_matrix_matches_sklearn_for_every_pair_of_raters() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 6, size=40)
    rows = []
    for r, noise in (("r1", 0.1), ("r2", 0.2), ("r3", 0.9)):
        vals = np.where(rng.random(40) < noise, rng.integers(1, 6, size=40), truth)
        rows += [{"item": i, "rater": r, "empathy": int(v)} for i, v in enumerate(vals)]
    df = pd.DataFrame(rows)
    m = pairwise_kappa(df, item="item", rater="rater", value="empathy", labels=[1, 2, 3, 4, 5])
    wide = df.pivot(index="item", columns="rater", values="empathy")
    for a in m.index:
        for b in m.columns:
            expected = 1.0 if a == b else cohen_kappa_score(wide[a], wide[b], labels=[1, 2, 3, 4, 5])
            assert m.loc[a, b] == pytest.approx(expected)
    assert m.loc["r1", "r2"] > m.loc["r1", "r3"]  # the noisy rater agrees less
    w = pairwise_kappa(
        df, item="item", rater="rater", value="empathy", labels=[1, 2, 3, 4, 5], weights="linear"
    )
    assert w.loc["r1", "r3"] == pytest.approx(
        cohen_kappa_score(wide["r1"], wide["r3"], labels=[1, 2, 3, 4, 5], weights="linear")
    )


def test_raters_without_shared_items_get_nan() -> None:
    df = pd.DataFrame({"item": [1, 2, 3, 4], "rater": ["a", "a", "b", "b"], "v": [1, 2, 1, 2]})
    m = pairwise_kappa(df, item="item", rater="rater", value="v")
    assert math.isnan(m.loc["a", "b"]) and m.loc["a", "a"] == 1.0
