"""Each statistic against a reference implementation (scipy, statsmodels, pingouin) on real data.

Data: pingouin's shipped data sets (Bland-Altman method comparison, Palmer penguins, McClave &
Dietrich's pain thresholds by hair colour, Big Five scores of Dolan et al. 2009) and the published
rating data of Fleiss (1971) and R irr's anxiety ratings (tests/evaluation/reference_data.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
from statsmodels.stats.multicomp import pairwise_tukeyhsd

from congruence.errors import CongruenceError
from congruence.evaluation import stats as S

from .reference_data import ANXIETY, DIAGNOSES, FLEISS_1971_KAPPA


@pytest.fixture(scope="module")
def bland() -> pd.DataFrame:
    df = pg.read_dataset("blandaltman")
    df.columns = [c.strip().lstrip("\ufeff") for c in df.columns]
    return df


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return pg.read_dataset("penguins").dropna(subset=["flipper_length_mm", "body_mass_g"])


@pytest.fixture(scope="module")
def hair() -> dict[str, np.ndarray]:
    df = pg.read_dataset("anova")
    return {k: v["Pain threshold"].to_numpy(float) for k, v in df.groupby("Hair color")}


@pytest.fixture(scope="module")
def big5() -> pd.DataFrame:
    return pg.read_dataset("pairwise_corr")


# --- t-tests, Wilcoxon, effect sizes -------------------------------------------------------------
def test_paired_ttest_matches_scipy_and_pingouin(bland: pd.DataFrame) -> None:
    a, b = bland["A"].to_numpy(float), bland["B"].to_numpy(float)
    ours = S.paired_ttest(a, b)
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval()
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert ours.df == ref.df
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-8)
    pgres = pg.ttest(a, b, paired=True)
    assert ours.p_value == pytest.approx(float(pgres["p_val"].iloc[0]), rel=1e-6)
    for alt in ("less", "greater"):
        assert S.paired_ttest(a, b, alternative=alt).p_value == pytest.approx(
            sps.ttest_rel(a, b, alternative=alt).pvalue, rel=1e-8
        )


def test_welch_ttest_matches_scipy(penguins: pd.DataFrame) -> None:
    x = penguins.loc[penguins.species == "Adelie", "flipper_length_mm"].to_numpy(float)
    y = penguins.loc[penguins.species == "Chinstrap", "flipper_length_mm"].to_numpy(float)
    ours = S.welch_ttest(x, y)
    ref = sps.ttest_ind(x, y, equal_var=False)
    ci = ref.confidence_interval()
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-8)


def test_wilcoxon_exact_and_asymptotic_match_scipy(bland: pd.DataFrame) -> None:
    a, b = bland["A"].to_numpy(float), bland["B"].to_numpy(float)
    d = np.abs(a - b)
    vals, counts = np.unique(d, return_counts=True)
    unique = set(vals[counts == 1])
    keep = np.array([x in unique and x > 0 for x in d])
    a1, b1 = a[keep], b[keep]  # the pairs whose |difference| is unique: the exact null applies
    assert keep.sum() >= 15
    ours = S.wilcoxon_signed_rank(a1, b1)
    ref = sps.wilcoxon(a1, b1, method="exact")
    assert ours.method == "exact"
    assert ours.statistic == ref.statistic
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    # with ties and zeros (integer anxiety ratings): the normal approximation with tie correction
    r = np.array(ANXIETY, dtype=float)
    for corr in (False, True):
        ours = S.wilcoxon_signed_rank(r[:, 0], r[:, 2], correction=corr)
        ref = sps.wilcoxon(r[:, 0], r[:, 2], method="asymptotic", correction=corr)
        assert ours.method == "asymptotic"
        assert ours.statistic == ref.statistic
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)


def test_cohens_d_matches_pingouin(penguins: pd.DataFrame, bland: pd.DataFrame) -> None:
    x = penguins.loc[penguins.species == "Adelie", "body_mass_g"].to_numpy(float)
    y = penguins.loc[penguins.species == "Gentoo", "body_mass_g"].to_numpy(float)
    assert S.cohens_d(x, y) == pytest.approx(
        pg.compute_effsize(x, y, paired=False, eftype="cohen"), rel=1e-10
    )
    a, b = bland["A"].to_numpy(float), bland["B"].to_numpy(float)
    assert S.cohens_d_paired(a, b) == pytest.approx(
        pg.compute_effsize(a, b, paired=True, eftype="cohen"), rel=1e-10
    )
    dz = S.cohens_d_paired(a, b, method="z")
    assert dz == pytest.approx(pg.compute_effsize(a, b, paired=True, eftype="cohen_dz"), rel=1e-10)
    assert dz == pytest.approx(
        sps.ttest_rel(a, b).statistic / np.sqrt(len(a)), rel=1e-10
    )  # d_z = t / sqrt(n)


# --- ANOVA and Tukey -----------------------------------------------------------------------------
def test_one_way_anova_matches_scipy_and_pingouin(
    hair: dict[str, np.ndarray], penguins: pd.DataFrame
) -> None:
    ours = S.one_way_anova(hair)
    ref = sps.f_oneway(*hair.values())
    assert ours.f == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert (ours.df_between, ours.df_within) == (3, 15)
    aov = pg.anova(data=pg.read_dataset("anova"), dv="Pain threshold", between="Hair color")
    assert ours.eta_squared == pytest.approx(float(aov["np2"].iloc[0]), rel=1e-6)
    # unbalanced groups
    groups = {k: v["flipper_length_mm"].to_numpy(float) for k, v in penguins.groupby("species")}
    assert S.one_way_anova(groups).f == pytest.approx(sps.f_oneway(*groups.values()).statistic, rel=1e-10)


@pytest.mark.parametrize("dataset", ["hair", "penguins"])
def test_tukey_hsd_matches_statsmodels_and_scipy(dataset: str, hair: dict, penguins: pd.DataFrame) -> None:
    groups = (
        hair
        if dataset == "hair"
        else {k: v["flipper_length_mm"].to_numpy(float) for k, v in penguins.groupby("species")}
    )
    ours = {(c.group1, c.group2): c for c in S.tukey_hsd(groups)}
    values = np.concatenate(list(groups.values()))
    labels = np.concatenate([[k] * len(v) for k, v in groups.items()])
    sm = pairwise_tukeyhsd(values, labels).summary().data[1:]
    assert len(sm) == len(ours)
    for g1, g2, meandiff, p_adj, lower, upper, reject in sm:
        c = ours[(g1, g2)]
        assert c.mean_difference == pytest.approx(meandiff, abs=1e-4)
        assert (c.ci_low, c.ci_high) == pytest.approx((lower, upper), abs=1e-4)
        assert c.p_value == pytest.approx(p_adj, abs=1e-3)
        assert c.reject == reject
    names = list(groups)
    sc = sps.tukey_hsd(*groups.values())
    for (g1, g2), c in ours.items():
        i, j = names.index(g1), names.index(g2)
        assert c.p_value == pytest.approx(sc.pvalue[i, j], rel=1e-6, abs=1e-12)


# --- agreement -----------------------------------------------------------------------------------
@pytest.mark.parametrize("weights", ["none", "linear", "quadratic"])
def test_cohens_kappa_matches_sklearn_on_anxiety_ratings(weights: str) -> None:
    r = np.array(ANXIETY)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        ours = S.cohens_kappa(r[:, i].tolist(), r[:, j].tolist(), weights=weights, labels=range(1, 7))
        ref = cohen_kappa_score(
            r[:, i], r[:, j], weights=None if weights == "none" else weights, labels=range(1, 7)
        )
        assert ours.kappa == pytest.approx(ref, rel=1e-10)


def test_cohens_kappa_unweighted_matches_statsmodels_table() -> None:
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
    from statsmodels.stats.inter_rater import to_table

    d = np.array(DIAGNOSES)
    for i, j in ((0, 5), (2, 3)):
        table, _ = to_table(d[:, [i, j]] - 1, bins=5)
        ours = S.cohens_kappa(d[:, i].tolist(), d[:, j].tolist(), labels=range(1, 6))
        assert ours.kappa == pytest.approx(sm_kappa(table).kappa, rel=1e-10)
        assert ours.observed == pytest.approx(np.mean(d[:, i] == d[:, j]))


def test_fleiss_kappa_reproduces_fleiss_1971() -> None:
    counts = S.ratings_to_counts(DIAGNOSES)
    ours = S.fleiss_kappa(counts)
    assert ours == pytest.approx(FLEISS_1971_KAPPA, abs=5e-8)
    assert ours == pytest.approx(sm_fleiss(aggregate_raters(np.array(DIAGNOSES))[0]), rel=1e-12)


def test_percentage_agreement_as_in_ether_table_ii() -> None:
    # E-THER Table II: the expert agreed with the annotations on 83 of 100 pairs -> 83.0 %
    annot = ["none"] * 60 + ["minimizing"] * 20 + ["contradiction"] * 20
    expert = annot[:83] + ["minimizing"] * 17  # the last 17 (all "contradiction") disagree
    assert S.percentage_agreement(annot, expert) == pytest.approx(83.0)
    d = np.array(DIAGNOSES)
    assert S.percentage_agreement(d[:, 0].tolist(), d[:, 1].tolist()) == pytest.approx(
        100 * np.mean(d[:, 0] == d[:, 1])
    )


def test_agreement_inputs_are_checked() -> None:
    with pytest.raises(CongruenceError, match="different numbers"):
        S.cohens_kappa([1, 2], [1])
    with pytest.raises(CongruenceError, match="not in labels"):
        S.cohens_kappa([1, 7], [1, 2], labels=[1, 2, 3])
    with pytest.raises(CongruenceError, match="same number"):
        S.fleiss_kappa([[2, 1], [1, 1]])


# --- correlations --------------------------------------------------------------------------------
def test_pearson_matches_scipy_and_pingouin(big5: pd.DataFrame) -> None:
    x, y = big5["Neuroticism"].to_numpy(float), big5["Extraversion"].to_numpy(float)
    ours = S.pearson(x, y)
    ref = sps.pearsonr(x, y)
    ci = ref.confidence_interval()
    assert ours.r == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-8)
    assert ours.n == 500


def test_spearman_matches_scipy_and_pingouin_ci(big5: pd.DataFrame) -> None:
    x, y = big5["Openness"].to_numpy(float), big5["Agreeableness"].to_numpy(float)
    ours = S.spearman(x, y, ci="fisher")
    ref = sps.spearmanr(x, y)
    assert ours.r == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    pgci = pg.compute_esci(stat=ref.statistic, nx=len(x), ny=len(y), eftype="r", decimals=12)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(pgci), abs=1e-10)
    pg_rounded = pg.corr(x, y, method="spearman")["CI95"].iloc[0]  # pingouin prints 2 decimals
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(pg_rounded), abs=0.006)
    bw = S.spearman(x, y)  # Bonett-Wright: wider than the plain Fisher interval
    assert bw.ci_low < ours.ci_low and bw.ci_high > ours.ci_high


def test_kendall_matches_scipy_with_ties_and_exact(big5: pd.DataFrame) -> None:
    x, y = big5["Neuroticism"].to_numpy(float), big5["Conscientiousness"].to_numpy(float)
    ours, ref = S.kendall(x, y), sps.kendalltau(x, y)  # ties: tau-b and the asymptotic p
    assert ours.r == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    fisher = S.kendall(x, y, ci="fisher")
    pgci = pg.compute_esci(stat=ref.statistic, nx=len(x), ny=len(y), eftype="r", decimals=12)
    assert (fisher.ci_low, fisher.ci_high) == pytest.approx(tuple(pgci), abs=1e-10)
    # no ties, n <= 33: exact permutation p-value
    sub = big5.drop_duplicates("Neuroticism").drop_duplicates("Openness").head(20)
    xs, ys = sub["Neuroticism"].to_numpy(float), sub["Openness"].to_numpy(float)
    assert len(np.unique(xs)) == len(np.unique(ys)) == 20
    ours, ref = S.kendall(xs, ys), sps.kendalltau(xs, ys, method="exact")
    assert ours.r == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_correlations_drop_missing_pairs() -> None:
    x = [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]
    y = [2.0, 1.0, 3.0, np.nan, 6.0, 5.0]
    assert S.pearson(x, y).n == 4
    assert S.pearson(x, y).r == pytest.approx(sps.pearsonr([1, 2, 5, 6], [2, 1, 6, 5]).statistic)


def test_percent_change_reproduces_ether_table_vi() -> None:
    # VideoLLaVA, E-THER Table VI: PCT Adherence 0.635 (full) vs text-only 0.580 -> -8.7 %,
    # no-incongruence 0.623 -> -1.9 %, therapeutic concision 0.648 vs 0.616 -> -4.9 %
    assert round(S.percent_change(0.580, 0.635), 1) == -8.7
    assert round(S.percent_change(0.623, 0.635), 1) == -1.9
    assert round(S.percent_change(0.616, 0.648), 1) == -4.9


# --- properties ----------------------------------------------------------------------------------
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=3, max_size=30)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_cohens_d_is_antisymmetric(a: list[float], b: list[float]) -> None:
    if np.var(a) + np.var(b) < 1e-6:
        return
    assert S.cohens_d(a, b) == pytest.approx(-S.cohens_d(b, a), rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=3, max_size=30), finite)
def test_paired_t_is_shift_invariant(pairs: list[tuple[float, float]], c: float) -> None:
    a, b = np.array(pairs).T
    d = a - b
    if np.std(d) < 1e-3 * (1 + np.abs(d).max()):
        return
    t1, t2 = S.paired_ttest(a, b), S.paired_ttest(a + c, b + c)
    assert t1.statistic == pytest.approx(t2.statistic, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=40))
def test_kappa_is_one_for_identical_raters(r: list[int]) -> None:
    k = S.cohens_kappa(r, r, labels=range(1, 6))
    if len(set(r)) > 1:
        assert k.kappa == pytest.approx(1.0)
    assert S.percentage_agreement(r, r) == 100.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=4, max_size=40))
def test_weighted_kappa_bounded_and_symmetric(pairs: list[tuple[int, int]]) -> None:
    a, b = (list(x) for x in zip(*pairs, strict=True))
    for w in ("none", "linear", "quadratic"):
        k1 = S.cohens_kappa(a, b, weights=w, labels=range(1, 6)).kappa  # type: ignore[arg-type]
        k2 = S.cohens_kappa(b, a, weights=w, labels=range(1, 6)).kappa  # type: ignore[arg-type]
        if np.isfinite(k1):
            assert k1 <= 1 + 1e-12
            assert k1 == pytest.approx(k2, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=6, max_size=40))
def test_correlation_cis_contain_estimate(pairs: list[tuple[float, float]]) -> None:
    x, y = np.array(pairs).T
    if np.ptp(x) < 1e-6 or np.ptp(y) < 1e-6:
        return
    for fn in (S.pearson, S.spearman, S.kendall):
        res = fn(x, y)
        if np.isfinite(res.r) and abs(res.r) < 1:
            assert -1 <= res.ci_low <= res.r <= res.ci_high <= 1
            assert 0 <= res.p_value <= 1
