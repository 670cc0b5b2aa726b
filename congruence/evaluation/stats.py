"""Statistics of the papers' evaluations as pure functions returning small typed results.

E-THER (docs/references.md#e-ther) reports means +- SD, % change, p-values and Cohen's d for system vs
baseline (Tables III-IV) and ablations (Tables VI-VIII), and percentage agreement with Cohen's
kappa for its expert validation (Table II). The interventions paper
(docs/references.md#interventions) reports a one-way ANOVA with Tukey HSD, pairwise Cohen's
kappa between raters, and Pearson / Spearman / Kendall correlations of LLM-judge and expert ratings
(Table 3).

Tests, correlations and agreement come from scipy, statsmodels and scikit-learn behind small typed
results; the formulas they compute are in each docstring. Only what those libraries lack is written
here (Cohen's d, eta squared, the correlation CIs of Bonett-Wright and Fieller). The tests compare
each against a second implementation (pingouin, statsmodels) on real data. Missing values (NaN) are
dropped (pairwise for paired data). p-values are two-sided unless an ``alternative`` argument says
otherwise. A statistic that is undefined on the data (no variance, one label) is NaN, and the
result's ``note`` says why; nothing raises for it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

from congruence.errors import CongruenceError

Alternative = Literal["two-sided", "less", "greater"]
ArrayLike = Sequence[float] | np.ndarray


# --- helpers -------------------------------------------------------------------------------------
def _vec(x: ArrayLike) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise CongruenceError(
            f"Paired samples differ in length ({x.size} vs {y.size}).",
            "Align both samples on the same items (e.g. by pair id) first.",
        )
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _need(n: int, k: int, what: str) -> None:
    if n < k:
        raise CongruenceError(f"{what} needs at least {k} values, got {n}.", "Score more items.")


@dataclass(frozen=True)
class Summary:
    """Mean, sample SD (ddof = 1) and n."""

    mean: float
    sd: float
    n: int

    def format(self, digits: int = 3) -> str:
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f}"


def describe(x: ArrayLike) -> Summary:
    """Mean +- SD (sample SD, ddof = 1) of the finite values, as in E-THER Tables V-VII.

    >>> describe([1, 2, 3]).format(2)
    '2.00 ± 1.00'
    """
    a = _vec(x)
    _need(a.size, 1, "describe")
    return Summary(float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else float("nan"), int(a.size))


def percent_change(value: float, reference: float) -> float:
    """``100 * (value - reference) / |reference|`` (E-THER's "Change (%)").

    >>> percent_change(0.58, 0.635)
    -8.661417322834653
    """
    if reference == 0:
        return float("nan")
    return 100.0 * (value - reference) / abs(reference)


# --- t-tests ---------------------------------------------------------------------------------------
NO_VARIANCE = "no variance: every value (or difference) is the same, so the statistic is undefined"


@dataclass(frozen=True)
class TTestResult:
    """A t-test: statistic, degrees of freedom, p-value, mean difference (a - b) and its CI.

    ``note`` says why the statistic is NaN when it is (e.g. no variance), else ``""``.
    """

    statistic: float
    df: float
    p_value: float
    mean_difference: float
    ci_low: float
    ci_high: float
    method: str
    note: str = ""


def _ttest_result(res: object, m: float, df: float, confidence: float, method: str) -> TTestResult:
    t = float(res.statistic)  # type: ignore[attr-defined]
    if not np.isfinite(t):
        nan = float("nan")
        return TTestResult(nan, float(df), nan, m, nan, nan, method, NO_VARIANCE)
    ci = res.confidence_interval(confidence)  # type: ignore[attr-defined]
    return TTestResult(t, float(df), float(res.pvalue), m, float(ci.low), float(ci.high), method)  # type: ignore[attr-defined]


def paired_ttest(
    a: ArrayLike, b: ArrayLike, *, alternative: Alternative = "two-sided", confidence: float = 0.95
) -> TTestResult:
    """Paired (dependent) t-test on ``d = a - b``: ``t = mean(d) / (sd(d) / sqrt(n))``, ``df = n - 1``.

    scipy ``ttest_rel``; NaN with a note when every difference is the same.
    """
    x, y = _paired(a, b)
    _need(x.size, 2, "paired t-test")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.ttest_rel(x, y, alternative=alternative)
    return _ttest_result(res, float((x - y).mean()), x.size - 1, confidence, "paired t-test")


def welch_ttest(
    a: ArrayLike, b: ArrayLike, *, alternative: Alternative = "two-sided", confidence: float = 0.95
) -> TTestResult:
    """Welch's unequal-variance t-test (scipy ``ttest_ind(equal_var=False)``).

    ``t = (m_a - m_b) / sqrt(v_a / n_a + v_b / n_b)`` with Welch-Satterthwaite
    ``df = (v_a/n_a + v_b/n_b)^2 / ((v_a/n_a)^2/(n_a-1) + (v_b/n_b)^2/(n_b-1))``; NaN with a note
    when both samples are constant.
    """
    x, y = _vec(a), _vec(b)
    _need(min(x.size, y.size), 2, "Welch's t-test")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.ttest_ind(x, y, equal_var=False, alternative=alternative)
    df = float(getattr(res, "df", float("nan")))
    return _ttest_result(res, float(x.mean() - y.mean()), df, confidence, "Welch t-test")


# --- Wilcoxon signed-rank --------------------------------------------------------------------------
@dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test: ``statistic = min(W+, W-)``, ``n`` non-zero differences."""

    statistic: float
    w_plus: float
    p_value: float
    n: int
    method: str
    z: float | None


def wilcoxon_signed_rank(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["auto", "exact", "asymptotic"] = "auto",
    correction: bool = False,
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of ``d = a - b`` (zeros dropped, Wilcox's convention; scipy ``wilcoxon``).

    ``W+ = sum of ranks of |d| where d > 0`` (average ranks for ties). ``exact``: the null
    distribution of ``W+`` (no ties); ``asymptotic``:
    ``z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48)``, optionally with a continuity
    correction of 0.5. ``auto`` uses exact for n <= 50 without ties or zeros, else asymptotic.
    """
    x, y = _paired(a, b)
    d = x - y
    n_zero = int(np.sum(d == 0))
    d = d[d != 0]
    n = d.size
    _need(n, 1, "Wilcoxon signed-rank test")
    ranks = sps.rankdata(np.abs(d))
    w_plus, w_minus = float(ranks[d > 0].sum()), float(ranks[d < 0].sum())
    has_ties = bool(np.any(np.unique(np.abs(d), return_counts=True)[1] > 1))
    if method == "auto":
        method = "exact" if (n <= 50 and not has_ties and n_zero == 0) else "asymptotic"
    res = sps.wilcoxon(
        d, zero_method="wilcox", correction=correction, method="exact" if method == "exact" else "approx"
    )
    z = float(res.zstatistic) if method == "asymptotic" else None  # type: ignore[attr-defined]
    return WilcoxonResult(min(w_plus, w_minus), w_plus, float(res.pvalue), n, method, z)


# --- effect sizes ----------------------------------------------------------------------------------
def cohens_d(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's d of independent samples with the pooled SD (NaN when both samples are constant).

    Sign: ``d > 0`` when ``a`` scores higher (the convention of every table, docs/metrics.md).

    ``d = (m_a - m_b) / sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))``

    >>> round(cohens_d([1, 2, 3, 4], [3, 4, 5, 6, 7]), 4)
    -1.7078
    """
    x, y = _vec(a), _vec(b)
    _need(min(x.size, y.size), 2, "Cohen's d")
    pooled = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    return _ratio(float(x.mean() - y.mean()), math.sqrt(pooled))


def cohens_d_paired(a: ArrayLike, b: ArrayLike, *, method: Literal["av", "z"] = "av") -> float:
    """Cohen's d for paired samples (Lakens, 2013).

    ``"av"`` (default): ``d_av = mean(a - b) / sqrt((s_a^2 + s_b^2) / 2)`` - comparable with the
    independent d; ``"z"``: ``d_z = mean(a - b) / sd(a - b) = t / sqrt(n)``.
    """
    x, y = _paired(a, b)
    _need(x.size, 2, "paired Cohen's d")
    diff = x - y
    if method == "z":
        return _ratio(float(diff.mean()), float(diff.std(ddof=1)))
    return _ratio(float(diff.mean()), math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2))


def _ratio(num: float, sd: float) -> float:
    # an effect size without variance is undefined (NaN), not infinite; callers report NO_VARIANCE
    return num / sd if sd > 0 else float("nan")


# --- ANOVA and Tukey HSD --------------------------------------------------------------------------
@dataclass(frozen=True)
class AnovaResult:
    """One-way ANOVA: ``F(df_between, df_within)``, p-value and eta squared."""

    f: float
    df_between: int
    df_within: int
    p_value: float
    eta_squared: float
    ss_between: float
    ss_within: float
    note: str = ""

    def format(self) -> str:
        return f"F({self.df_between}, {self.df_within}) = {self.f:.2f}, p = {self.p_value:.3g}"


def _groups(groups: Mapping[str, ArrayLike] | Sequence[ArrayLike]) -> dict[str, np.ndarray]:
    items = groups.items() if isinstance(groups, Mapping) else ((str(i), g) for i, g in enumerate(groups))
    out = {str(k): _vec(v) for k, v in items}
    if len(out) < 2:
        raise CongruenceError(
            "ANOVA needs at least two groups.", "Compare two or more systems or conditions."
        )
    for k, v in out.items():
        _need(v.size, 1, f"group '{k}'")
    return out


def one_way_anova(groups: Mapping[str, ArrayLike] | Sequence[ArrayLike]) -> AnovaResult:
    """One-way between-groups ANOVA (F and p: scipy ``f_oneway``).

    ``F = (SS_between / (k - 1)) / (SS_within / (N - k))``,
    ``SS_between = sum_g n_g (m_g - m)^2``, ``SS_within = sum_g sum_i (x_gi - m_g)^2``,
    ``eta^2 = SS_between / (SS_between + SS_within)``. Without variance within the groups F and p
    are NaN and ``note`` says why.
    """
    g = _groups(groups)
    allv = np.concatenate(list(g.values()))
    k, n = len(g), allv.size
    if n <= k:
        raise CongruenceError("ANOVA needs more values than groups.", "Score more items per group.")
    grand = allv.mean()
    ssb = float(sum(v.size * (v.mean() - grand) ** 2 for v in g.values()))
    ssw = float(sum(((v - v.mean()) ** 2).sum() for v in g.values()))
    dfb, dfw = k - 1, n - k
    eta = ssb / (ssb + ssw) if ssb + ssw > 0 else float("nan")
    if ssw <= 0:
        nan = float("nan")
        return AnovaResult(nan, dfb, dfw, nan, eta, ssb, ssw, NO_VARIANCE + " within the groups")
    res = sps.f_oneway(*g.values())
    return AnovaResult(float(res.statistic), dfb, dfw, float(res.pvalue), eta, ssb, ssw)


@dataclass(frozen=True)
class TukeyComparison:
    """One Tukey HSD comparison; ``mean_difference = mean(group2) - mean(group1)``."""

    group1: str
    group2: str
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    reject: bool


def tukey_hsd(groups: Mapping[str, ArrayLike], *, alpha: float = 0.05) -> list[TukeyComparison]:
    """Tukey's honestly significant difference (Tukey-Kramer for unequal sizes; scipy ``tukey_hsd``).

    For groups i < j: ``q = |m_j - m_i| / sqrt(MSE / 2 * (1/n_i + 1/n_j))``, p from the studentized
    range distribution with k groups and N - k df; CI
    ``(m_j - m_i) +- q_crit * sqrt(MSE / 2 * (1/n_i + 1/n_j))``. Without variance within the groups
    p and the CI are NaN (and ``reject`` False).
    """
    g = _groups(groups)
    names = list(g)
    k = len(names)
    if sum(v.size for v in g.values()) - k < 1:
        raise CongruenceError("Tukey HSD needs more values than groups.", "Score more items per group.")
    nan = float("nan")
    no_var = sum(((v - v.mean()) ** 2).sum() for v in g.values()) <= 0
    if not no_var:
        with np.errstate(all="ignore"):
            res = sps.tukey_hsd(*g.values())
            ci = res.confidence_interval(1 - alpha)
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            diff = float(g[names[j]].mean() - g[names[i]].mean())
            if no_var:
                out.append(TukeyComparison(names[i], names[j], diff, nan, nan, nan, False))
                continue
            # scipy's statistic[j, i] is mean_j - mean_i, the sign used here
            p = float(res.pvalue[j, i])
            out.append(
                TukeyComparison(
                    names[i], names[j], diff, float(ci.low[j, i]), float(ci.high[j, i]), p, p < alpha
                )
            )
    return out


# --- agreement -------------------------------------------------------------------------------------
def percentage_agreement(r1: Sequence[object], r2: Sequence[object]) -> float:
    """Share of items on which two raters give the same label, in percent (E-THER Table II).

    >>> percentage_agreement(["a", "b", "c", "c"], ["a", "b", "c", "a"])
    75.0
    """
    if len(r1) != len(r2):
        raise CongruenceError("Raters rated different numbers of items.", "Align the ratings by item first.")
    _need(len(r1), 1, "percentage agreement")
    return 100.0 * sum(x == y for x, y in zip(r1, r2, strict=True)) / len(r1)


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa with the observed and chance agreement it was computed from."""

    kappa: float
    observed: float
    expected: float
    n: int
    weights: str


def cohens_kappa(
    r1: Sequence[object],
    r2: Sequence[object],
    *,
    weights: Literal["none", "linear", "quadratic"] = "none",
    labels: Sequence[object] | None = None,
) -> KappaResult:
    """Cohen's kappa of two raters (Cohen, 1960; weighted: Cohen, 1968); scikit-learn's ``cohen_kappa_score``.

    The one kappa of the project: the validation app, the incongruence detector's evaluation and
    the disagreement tables call it. NaN when chance agreement is 1 (both raters used one label).

    ``kappa = 1 - sum(w * O) / sum(w * E)`` with ``O`` the observed and ``E`` the chance
    (product-of-marginals) proportion table; ``w_ij = 1[i != j]`` (unweighted), ``|i - j|``
    (linear) or ``(i - j)^2`` (quadratic), with i, j the positions of the labels in ``labels``
    (default: the sorted union of both raters' labels; pass the full scale, e.g. 1-5, for
    weighted kappa of ratings). ``observed`` / ``expected`` are ``1 - sum(w O) / max(w)`` style
    agreements, equal to the plain proportions when unweighted.
    """
    if len(r1) != len(r2):
        raise CongruenceError("Raters rated different numbers of items.", "Align the ratings by item first.")
    _need(len(r1), 1, "Cohen's kappa")
    cats = list(labels) if labels is not None else sorted(set(r1) | set(r2), key=lambda v: (str(type(v)), v))
    pos = {c: i for i, c in enumerate(cats)}
    missing = (set(r1) | set(r2)) - set(pos)
    if missing:
        raise CongruenceError(
            f"Labels {sorted(map(str, missing))} are not in labels=.", "Add them to labels=."
        )
    k = len(cats)
    table = np.zeros((k, k))
    for x, y in zip(r1, r2, strict=True):
        table[pos[x], pos[y]] += 1
    o = table / table.sum()
    e = np.outer(o.sum(axis=1), o.sum(axis=0))
    i, j = np.indices((k, k))
    w = {"none": (i != j).astype(float), "linear": np.abs(i - j).astype(float), "quadratic": (i - j) ** 2.0}[
        weights
    ]
    wmax = w.max() if w.max() > 0 else 1.0
    obs_dis, exp_dis = float((w * o).sum()), float((w * e).sum())
    kappa = float("nan")
    if exp_dis > 0:
        from sklearn.metrics import cohen_kappa_score

        codes1, codes2 = [pos[x] for x in r1], [pos[y] for y in r2]
        kappa = float(
            cohen_kappa_score(
                codes1, codes2, labels=list(range(k)), weights=None if weights == "none" else weights
            )
        )
    return KappaResult(kappa, 1 - obs_dis / wmax, 1 - exp_dis / wmax, len(r1), weights)


def fleiss_kappa(counts: ArrayLike) -> float:
    """Fleiss' kappa for many raters (Fleiss, 1971) from a subjects x categories count table (statsmodels).

    ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))``, ``P = mean(P_i)``, ``p_j = sum_i n_ij / (N n)``,
    ``P_e = sum_j p_j^2``, ``kappa = (P - P_e) / (1 - P_e)``; every subject has the same number n
    of ratings. Use :func:`ratings_to_counts` to build the table from a subjects x raters matrix.
    """
    t = np.asarray(counts, dtype=float)
    if t.ndim != 2 or t.shape[0] < 1:
        raise CongruenceError(
            "Fleiss' kappa needs a subjects x categories table.", "Use ratings_to_counts()."
        )
    n_per = t.sum(axis=1)
    if not np.allclose(n_per, n_per[0]) or n_per[0] < 2:
        raise CongruenceError(
            "Every subject needs the same number (>= 2) of ratings for Fleiss' kappa.",
            "Drop subjects with missing ratings.",
        )
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    with np.errstate(all="ignore"):
        return float(sm_fleiss(t, method="fleiss"))


def ratings_to_counts(
    ratings: ArrayLike | Sequence[Sequence[object]], labels: Sequence[object] | None = None
) -> np.ndarray:
    """Subjects x raters labels -> subjects x categories counts (for :func:`fleiss_kappa`)."""
    rows = [list(r) for r in ratings]  # type: ignore[union-attr]
    cats = (
        list(labels)
        if labels is not None
        else sorted({x for r in rows for x in r}, key=lambda v: (str(type(v)), v))
    )
    pos = {c: i for i, c in enumerate(cats)}
    out = np.zeros((len(rows), len(cats)), dtype=int)
    for i, r in enumerate(rows):
        for x in r:
            out[i, pos[x]] += 1
    return out


# --- correlations ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorrelationResult:
    """A correlation coefficient with its p-value and confidence interval."""

    method: str
    r: float
    p_value: float
    ci_low: float
    ci_high: float
    n: int
    ci_method: str


def fisher_ci(r: float, n: int, *, se: float | None = None, confidence: float = 0.95) -> tuple[float, float]:
    """``tanh(atanh(r) +- z_{(1+c)/2} * se)`` with ``se = 1 / sqrt(n - 3)`` by default."""
    if abs(r) >= 1:
        return r, r
    if se is None:
        if n <= 3:
            return float("nan"), float("nan")
        se = 1 / math.sqrt(n - 3)
    z = math.atanh(r)
    crit = float(sps.norm.ppf(0.5 + confidence / 2))
    return math.tanh(z - crit * se), math.tanh(z + crit * se)


def _quiet(fn, *args, **kw):  # scipy warns on constant input; the caller returns NaN
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def pearson(x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95) -> CorrelationResult:
    """Pearson's r (scipy ``pearsonr``); ``p`` from ``t = r sqrt((n - 2) / (1 - r^2))`` with n - 2 df;
    Fisher-z CI. NaN for a constant sample."""
    a, b = _paired(x, y)
    n = a.size
    _need(n, 3, "Pearson correlation")
    res = _quiet(sps.pearsonr, a, b)
    r, p = float(res.statistic), float(res.pvalue)
    lo, hi = fisher_ci(r, n, confidence=confidence) if np.isfinite(r) else (float("nan"), float("nan"))
    return CorrelationResult("pearson", r, p, lo, hi, n, "fisher")


def spearman(
    x: ArrayLike,
    y: ArrayLike,
    *,
    confidence: float = 0.95,
    ci: Literal["bonett-wright", "fisher"] = "bonett-wright",
) -> CorrelationResult:
    """Spearman's rho (scipy ``spearmanr``): Pearson's r of average ranks, p by the t approximation.

    CI: Fisher z with ``se = sqrt((1 + rho^2 / 2) / (n - 3))`` (Bonett & Wright, 2000) or the plain
    ``1 / sqrt(n - 3)`` (``ci="fisher"``, as pingouin).
    """
    a, b = _paired(x, y)
    n = a.size
    _need(n, 3, "Spearman correlation")
    res = _quiet(sps.spearmanr, a, b)
    rho, p = float(res.statistic), float(res.pvalue)
    if not np.isfinite(rho):
        return CorrelationResult("spearman", rho, p, float("nan"), float("nan"), n, ci)
    se = math.sqrt((1 + rho * rho / 2) / (n - 3)) if ci == "bonett-wright" and n > 3 else None
    lo, hi = fisher_ci(rho, n, se=se, confidence=confidence)
    return CorrelationResult("spearman", rho, p, lo, hi, n, ci)


def kendall(
    x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95, ci: Literal["fieller", "fisher"] = "fieller"
) -> CorrelationResult:
    """Kendall's tau-b (scipy ``kendalltau``): ``(n_c - n_d) / sqrt((n0 - n1)(n0 - n2))``, ties n1, n2.

    p: exact without ties for n <= 33, else the normal approximation with the tie-corrected
    variance of ``S = n_c - n_d`` (Kendall, 1970). CI: Fisher z with ``se = sqrt(0.437 / (n - 4))``
    (Fieller, Hartley & Pearson, 1957) or ``1 / sqrt(n - 3)`` (``ci="fisher"``, as pingouin).
    """
    a, b = _paired(x, y)
    n = a.size
    _need(n, 3, "Kendall correlation")
    res = _quiet(sps.kendalltau, a, b)
    tau, p = float(res.statistic), float(res.pvalue)
    if not np.isfinite(tau):
        return CorrelationResult("kendall", float("nan"), float("nan"), float("nan"), float("nan"), n, ci)
    se = math.sqrt(0.437 / (n - 4)) if ci == "fieller" and n > 4 else None
    lo, hi = fisher_ci(tau, n, se=se, confidence=confidence)
    return CorrelationResult("kendall", tau, p, lo, hi, n, ci)


def correlate(
    x: ArrayLike, y: ArrayLike, *, method: Literal["pearson", "spearman", "kendall"]
) -> CorrelationResult:
    """Dispatch to :func:`pearson`, :func:`spearman` or :func:`kendall`."""
    fn = {"pearson": pearson, "spearman": spearman, "kendall": kendall}.get(method)
    if fn is None:
        raise CongruenceError(f"Unknown correlation '{method}'.", "Use pearson, spearman or kendall.")
    return fn(x, y)
