"""Statistics of the papers' evaluations as pure functions returning small typed results.

E-THER (docs/references.md#e-ther) reports means +- SD, % change, p-values and Cohen's d for system vs
baseline (Tables III-IV) and ablations (Tables VI-VIII), and percentage agreement with Cohen's
kappa for its expert validation (Table II). The interventions paper
(docs/references.md#interventions) reports a one-way ANOVA with Tukey HSD, pairwise Cohen's
kappa between raters, and Pearson / Spearman / Kendall correlations of LLM-judge and expert ratings
(Table 3).

Every statistic is computed here from its formula (numpy, with scipy only for distribution
functions and ranks); the tests compare each against scipy, statsmodels or pingouin on real data.
Missing values (NaN) are dropped (pairwise for paired data). p-values are two-sided unless an
``alternative`` argument says otherwise.
"""

from __future__ import annotations

import math
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


def _p_from_t(t: float, df: float, alternative: Alternative) -> float:
    if alternative == "two-sided":
        return float(2 * sps.t.sf(abs(t), df))
    if alternative == "greater":
        return float(sps.t.sf(t, df))
    return float(sps.t.cdf(t, df))


def _p_from_z(z: float) -> float:
    return float(2 * sps.norm.sf(abs(z)))


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
@dataclass(frozen=True)
class TTestResult:
    """A t-test: statistic, degrees of freedom, p-value, mean difference (a - b) and its CI."""

    statistic: float
    df: float
    p_value: float
    mean_difference: float
    ci_low: float
    ci_high: float
    method: str


def paired_ttest(
    a: ArrayLike, b: ArrayLike, *, alternative: Alternative = "two-sided", confidence: float = 0.95
) -> TTestResult:
    """Paired (dependent) t-test on ``d = a - b``: ``t = mean(d) / (sd(d) / sqrt(n))``, ``df = n - 1``."""
    x, y = _paired(a, b)
    d = x - y
    n = d.size
    _need(n, 2, "paired t-test")
    m, sd = float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    df = n - 1
    t = m / se if se > 0 else math.copysign(math.inf, m) if m != 0 else float("nan")
    crit = float(sps.t.ppf(0.5 + confidence / 2, df))
    return TTestResult(
        t, float(df), _p_from_t(t, df, alternative), m, m - crit * se, m + crit * se, "paired t-test"
    )


def welch_ttest(
    a: ArrayLike, b: ArrayLike, *, alternative: Alternative = "two-sided", confidence: float = 0.95
) -> TTestResult:
    """Welch's unequal-variance t-test.

    ``t = (m_a - m_b) / sqrt(v_a / n_a + v_b / n_b)`` with Welch-Satterthwaite
    ``df = (v_a/n_a + v_b/n_b)^2 / ((v_a/n_a)^2/(n_a-1) + (v_b/n_b)^2/(n_b-1))``.
    """
    x, y = _vec(a), _vec(b)
    _need(min(x.size, y.size), 2, "Welch's t-test")
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    m = float(x.mean() - y.mean())
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    t = m / se
    crit = float(sps.t.ppf(0.5 + confidence / 2, df))
    return TTestResult(
        t, float(df), _p_from_t(t, df, alternative), m, m - crit * se, m + crit * se, "Welch t-test"
    )


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


def _wilcoxon_null_pmf(n: int) -> np.ndarray:
    # counts of subsets of {1..n} by rank sum: the exact null distribution of W+ (no ties)
    total = n * (n + 1) // 2
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return counts / counts.sum()


def wilcoxon_signed_rank(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["auto", "exact", "asymptotic"] = "auto",
    correction: bool = False,
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of ``d = a - b`` (zeros dropped, Wilcox's convention).

    ``W+ = sum of ranks of |d| where d > 0`` (average ranks for ties). ``exact``: the null
    distribution of ``W+`` by counting rank subsets (no ties); ``asymptotic``:
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
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    has_ties = bool(np.any(tie_counts > 1))
    if method == "auto":
        method = "exact" if (n <= 50 and not has_ties and n_zero == 0) else "asymptotic"
    if method == "exact":
        pmf = _wilcoxon_null_pmf(n)
        cdf = np.cumsum(pmf)
        w = math.floor(w_plus)  # W+ is an integer without ties
        lo = float(cdf[w])  # P(W+ <= w)
        hi = float(1.0 - cdf[w - 1]) if w >= 1 else 1.0  # P(W+ >= w)
        p = min(1.0, 2 * min(lo, hi))
        return WilcoxonResult(min(w_plus, w_minus), w_plus, p, n, "exact", None)
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(tie_counts**3 - tie_counts)) / 48
    se = math.sqrt(var)
    diff = w_plus - mean
    if correction:
        diff -= math.copysign(0.5, diff) if diff != 0 else 0.0
    z = diff / se
    return WilcoxonResult(min(w_plus, w_minus), w_plus, _p_from_z(z), n, "asymptotic", -abs(z))


# --- effect sizes ----------------------------------------------------------------------------------
def cohens_d(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's d of independent samples with the pooled SD.

    ``d = (m_a - m_b) / sqrt(((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2))``

    >>> round(cohens_d([1, 2, 3, 4], [3, 4, 5, 6, 7]), 4)
    -1.7078
    """
    x, y = _vec(a), _vec(b)
    _need(min(x.size, y.size), 2, "Cohen's d")
    pooled = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    return float((x.mean() - y.mean()) / math.sqrt(pooled))


def cohens_d_paired(a: ArrayLike, b: ArrayLike, *, method: Literal["av", "z"] = "av") -> float:
    """Cohen's d for paired samples (Lakens, 2013).

    ``"av"`` (default): ``d_av = mean(a - b) / sqrt((s_a^2 + s_b^2) / 2)`` - comparable with the
    independent d; ``"z"``: ``d_z = mean(a - b) / sd(a - b) = t / sqrt(n)``.
    """
    x, y = _paired(a, b)
    _need(x.size, 2, "paired Cohen's d")
    diff = x - y
    if method == "z":
        return float(diff.mean() / diff.std(ddof=1))
    return float(diff.mean() / math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2))


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
    """One-way between-groups ANOVA.

    ``F = (SS_between / (k - 1)) / (SS_within / (N - k))``,
    ``SS_between = sum_g n_g (m_g - m)^2``, ``SS_within = sum_g sum_i (x_gi - m_g)^2``,
    ``eta^2 = SS_between / (SS_between + SS_within)``.
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
    f = (ssb / dfb) / (ssw / dfw) if ssw > 0 else float("inf")
    return AnovaResult(f, dfb, dfw, float(sps.f.sf(f, dfb, dfw)), ssb / (ssb + ssw), ssb, ssw)


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
    """Tukey's honestly significant difference (Tukey-Kramer for unequal group sizes).

    For groups i < j: ``q = |m_j - m_i| / sqrt(MSE / 2 * (1/n_i + 1/n_j))``, p from the studentized
    range distribution with k groups and N - k df; CI
    ``(m_j - m_i) +- q_crit * sqrt(MSE / 2 * (1/n_i + 1/n_j))``.
    """
    g = _groups(groups)
    names = list(g)
    k = len(names)
    n_total = sum(v.size for v in g.values())
    dfw = n_total - k
    if dfw < 1:
        raise CongruenceError("Tukey HSD needs more values than groups.", "Score more items per group.")
    mse = sum(((v - v.mean()) ** 2).sum() for v in g.values()) / dfw
    qcrit = float(sps.studentized_range.ppf(1 - alpha, k, dfw))
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            a, b = g[names[i]], g[names[j]]
            diff = float(b.mean() - a.mean())
            se = math.sqrt(mse / 2 * (1 / a.size + 1 / b.size))
            q = abs(diff) / se if se > 0 else float("inf")
            p = float(sps.studentized_range.sf(q, k, dfw)) if np.isfinite(q) else 0.0
            out.append(
                TukeyComparison(
                    names[i], names[j], diff, diff - qcrit * se, diff + qcrit * se, min(1.0, p), p < alpha
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
    """Cohen's kappa of two raters (Cohen, 1960; weighted: Cohen, 1968).

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
    kappa = 1.0 - obs_dis / exp_dis if exp_dis > 0 else float("nan")
    return KappaResult(kappa, 1 - obs_dis / wmax, 1 - exp_dis / wmax, len(r1), weights)


def fleiss_kappa(counts: ArrayLike) -> float:
    """Fleiss' kappa for many raters (Fleiss, 1971) from a subjects x categories count table.

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
    n = n_per[0]
    p_i = ((t**2).sum(axis=1) - n) / (n * (n - 1))
    p_j = t.sum(axis=0) / t.sum()
    pe = float((p_j**2).sum())
    return float((p_i.mean() - pe) / (1 - pe))


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


def pearson(x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95) -> CorrelationResult:
    """Pearson's r; ``p`` from ``t = r sqrt((n - 2) / (1 - r^2))`` with n - 2 df; Fisher-z CI."""
    a, b = _paired(x, y)
    n = a.size
    _need(n, 3, "Pearson correlation")
    ac, bc = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((ac**2).sum() * (bc**2).sum()))
    r = float(np.clip((ac * bc).sum() / denom, -1, 1)) if denom > 0 else float("nan")
    p = _r_pvalue(r, n)
    lo, hi = fisher_ci(r, n, confidence=confidence)
    return CorrelationResult("pearson", r, p, lo, hi, n, "fisher")


def _r_pvalue(r: float, n: int) -> float:
    if not np.isfinite(r):
        return float("nan")
    if abs(r) >= 1:
        return 0.0
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return _p_from_t(t, n - 2, "two-sided")


def spearman(
    x: ArrayLike,
    y: ArrayLike,
    *,
    confidence: float = 0.95,
    ci: Literal["bonett-wright", "fisher"] = "bonett-wright",
) -> CorrelationResult:
    """Spearman's rho: Pearson's r of average ranks; p as for Pearson (t approximation).

    CI: Fisher z with ``se = sqrt((1 + rho^2 / 2) / (n - 3))`` (Bonett & Wright, 2000) or the plain
    ``1 / sqrt(n - 3)`` (``ci="fisher"``, as pingouin).
    """
    a, b = _paired(x, y)
    n = a.size
    _need(n, 3, "Spearman correlation")
    res = pearson(sps.rankdata(a), sps.rankdata(b))
    rho = res.r
    se = math.sqrt((1 + rho * rho / 2) / (n - 3)) if ci == "bonett-wright" and n > 3 else None
    lo, hi = fisher_ci(rho, n, se=se, confidence=confidence)
    return CorrelationResult("spearman", rho, res.p_value, lo, hi, n, ci)


def _kendall_exact_p(n: int, s: int) -> float:
    # permutations of n by number of inversions (Mahonian numbers): exact null of Kendall's S
    counts = np.array([1.0])
    for m in range(2, n + 1):
        new = np.zeros(counts.size + m - 1)
        for shift in range(m):
            new[shift : shift + counts.size] += counts
        counts = new / new.sum()
    total = n * (n - 1) // 2
    dis = (total - s) // 2  # S = con - dis = total - 2 dis
    c = min(dis, total - dis)
    return float(min(1.0, 2 * counts[: c + 1].sum()))


def kendall(
    x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95, ci: Literal["fieller", "fisher"] = "fieller"
) -> CorrelationResult:
    """Kendall's tau-b: ``(n_c - n_d) / sqrt((n0 - n1)(n0 - n2))`` with ties n1 in x, n2 in y.

    p: exact (permutation distribution of inversions) without ties for n <= 33, else the normal
    approximation with the tie-corrected variance of ``S = n_c - n_d`` (Kendall, 1970), as scipy.
    CI: Fisher z with ``se = sqrt(0.437 / (n - 4))`` (Fieller, Hartley & Pearson, 1957) or
    ``1 / sqrt(n - 3)`` (``ci="fisher"``, as pingouin).
    """
    a, b = _paired(x, y)
    n = a.size
    _need(n, 3, "Kendall correlation")
    s = n1 = n2 = n_dis = 0
    for start in range(0, n - 1, 512):  # row blocks keep memory at O(512 n) for long rating lists
        stop = min(n - 1, start + 512)
        dx = np.sign(a[start:stop, None] - a[None, :])
        dy = np.sign(b[start:stop, None] - b[None, :])
        upper = np.arange(n)[None, :] > np.arange(start, stop)[:, None]
        sx, sy = dx[upper], dy[upper]
        prod = sx * sy
        s += int(prod.sum())  # concordant - discordant
        n_dis += int((prod < 0).sum())
        n1 += int((sx == 0).sum())
        n2 += int((sy == 0).sum())
    n0 = n * (n - 1) // 2
    if n1 == n0 or n2 == n0:
        return CorrelationResult("kendall", float("nan"), float("nan"), float("nan"), float("nan"), n, ci)
    tau = float(np.clip(s / math.sqrt((n0 - n1) * (n0 - n2)), -1, 1))
    _, tx = np.unique(a, return_counts=True)
    _, ty = np.unique(b, return_counts=True)
    if n1 == 0 and n2 == 0 and (n <= 33 or min(n_dis, n0 - n_dis) <= 1):
        p = _kendall_exact_p(n, s)
    else:
        m = n * (n - 1.0)
        x0, y0 = float((tx * (tx - 1.0) * (tx - 2)).sum()), float((ty * (ty - 1.0) * (ty - 2)).sum())
        x1, y1 = float((tx * (tx - 1.0) * (2 * tx + 5)).sum()), float((ty * (ty - 1.0) * (2 * ty + 5)).sum())
        var = (m * (2 * n + 5) - x1 - y1) / 18 + (2 * n1 * n2) / m + x0 * y0 / (9 * m * (n - 2))
        p = _p_from_z(s / math.sqrt(var))
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
