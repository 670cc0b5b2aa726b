"""Comparison tables in the shape of the papers', and E-THER's effect-size plot.

- :func:`system_vs_baseline`: E-THER Tables III-IV (metric x system mean, baseline mean, p, d).
- :func:`ablation_table` / :func:`format_ablation`: E-THER Tables VI-VII (per metric: mean +- SD,
  % change, p, d for each condition against the full method).
- :func:`anova_tukey`: the interventions paper's one-way ANOVA with Tukey HSD post-hoc table.
- :func:`effect_size_plot`: E-THER Figure 4 (Cohen's d per metric and condition, point size = |d|,
  colour = significance).

Inputs are per-response score tables (as written by ``congruence evaluate``), one per system or
condition. When they share an item id column the tests are paired (paired t-test, Cohen's d_av on
the items both systems answered); otherwise Welch's t-test and the pooled-SD Cohen's d. E-THER
does not name its test; the one used is in each row's ``test`` column.

One sign convention for every effect size: ``d = (first - other) / SD``, positive when the first
table (the system, the full method) scores higher. It is E-THER's sign in Tables III-IV (system -
baseline); E-THER's Tables VI-VII and Figure 4 use condition - full, the opposite sign, while
``change_pct`` keeps E-THER's definition (the condition's change from the full method). Where a
statistic is undefined (no variance, fewer than two items) it is NaN and ``note`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.evaluation import stats
from congruence.evaluation.pct import HEADLINE_METRICS
from congruence.io import markdown_table

DISPLAY_NAMES = {
    "empathic_authenticity": "Empathic Authenticity",
    "responsive_engagement": "Responsive Engagement",
    "therapeutic_concision": "Therapeutic Concision",
    "empathic_understanding": "Empathic Understanding",
    "unconditional_positive_regard": "Unconditional Positive Regard",
    "therapeutic_congruence": "Therapeutic Congruence",
    "rogers_core_conditions": "Rogers' Core Conditions",
    "pct_adherence": "PCT Adherence",
    "bertscore_precision": "BERTScore P",
    "bertscore_recall": "BERTScore R",
    "bertscore_f1": "BERTScore F1",
    "judge_applicability": "Judge Applicability",
    "judge_empathy": "Judge Empathy",
    "judge_comprehensiveness": "Judge Comprehensiveness",
}

Test = Literal["auto", "paired", "welch"]


def display(metric: str) -> str:
    return DISPLAY_NAMES.get(metric, metric.replace("_", " ").title())


def _values(df: pd.DataFrame, metric: str) -> pd.Series:
    if metric not in df.columns:
        raise CongruenceError(
            f"Score table has no column '{metric}'.", "Score the responses with `congruence evaluate` first."
        )
    return pd.to_numeric(df[metric], errors="coerce").astype(float)


TOO_FEW = "fewer than two items with a value"


def _note(p: float, d: float, n: int, t_note: str = "") -> str:
    if n < 2:
        return TOO_FEW
    if not (np.isfinite(p) and np.isfinite(d)):
        return t_note or stats.NO_VARIANCE
    return ""


def _compare(
    a: pd.DataFrame, b: pd.DataFrame, metric: str, *, id_col: str | None, test: Test
) -> tuple[float, float, str, int, str]:
    """(p, d = a - b, test name, n, note) of a versus b on one metric."""
    paired = test == "paired" or (
        test == "auto" and id_col is not None and id_col in a.columns and id_col in b.columns
    )
    if paired:
        if id_col is None or id_col not in a.columns or id_col not in b.columns:
            raise CongruenceError(
                f"A paired comparison needs the id column '{id_col}' in both tables.", "Pass id_col=."
            )
        for name, df in (("first", a), ("second", b)):
            if df[id_col].duplicated().any():
                raise CongruenceError(
                    f"The {name} table repeats item ids in '{id_col}'.",
                    "Keep one response per item and system (E-THER keeps the median-length one).",
                )
        m = pd.DataFrame({id_col: a[id_col], "a": _values(a, metric)}).merge(
            pd.DataFrame({id_col: b[id_col], "b": _values(b, metric)}), on=id_col
        )
        m = m[np.isfinite(m["a"]) & np.isfinite(m["b"])]
        if len(m) < 2:
            return float("nan"), float("nan"), "paired t-test", len(m), TOO_FEW
        t = stats.paired_ttest(m["a"], m["b"])
        d = stats.cohens_d_paired(m["a"], m["b"])
        return t.p_value, d, "paired t-test", len(m), _note(t.p_value, d, len(m), t.note)
    x, y = _values(a, metric).dropna(), _values(b, metric).dropna()
    n = min(len(x), len(y))
    if n < 2:
        return float("nan"), float("nan"), "Welch t-test", n, TOO_FEW
    t = stats.welch_ttest(x, y)
    d = stats.cohens_d(x, y)
    return t.p_value, d, "Welch t-test", n, _note(t.p_value, d, n, t.note)


def system_vs_baseline(
    system: pd.DataFrame,
    baseline: pd.DataFrame,
    *,
    metrics: Sequence[str] = HEADLINE_METRICS,
    system_name: str = "system",
    baseline_name: str = "baseline",
    id_col: str | None = "pair_id",
    test: Test = "auto",
) -> pd.DataFrame:
    """E-THER Tables III-IV: one row per metric with both means, p-value and Cohen's d (system - baseline)."""
    rows = []
    for metric in metrics:
        p, d, name, n, note = _compare(system, baseline, metric, id_col=id_col, test=test)
        rows.append(
            {
                "metric": metric,
                "system": system_name,
                "baseline": baseline_name,
                "system_mean": float(_values(system, metric).mean()),
                "baseline_mean": float(_values(baseline, metric).mean()),
                "p_value": p,
                "cohens_d": d,
                "test": name,
                "n": n,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def format_p(p: float) -> str:
    """``< 0.001`` below a thousandth, else three decimals (as E-THER's tables)."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_d(d: float) -> str:
    return f"{d:.2f}" if np.isfinite(d) else "n/a"


def format_system_vs_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Paper-shaped view: Metric | <system> | <baseline> | p-value | Cohen's d."""
    out = []
    for _, r in table.iterrows():
        out.append(
            {
                "Metric": display(r["metric"]),
                str(r["system"]): f"{r['system_mean']:.3f}",
                str(r["baseline"]): f"{r['baseline_mean']:.3f}",
                "p-value": format_p(r["p_value"]),
                "Cohen's d": _fmt_d(r["cohens_d"]),
            }
        )
    return pd.DataFrame(out)


def ablation_table(
    full: pd.DataFrame,
    variants: Mapping[str, pd.DataFrame],
    *,
    metrics: Sequence[str] = HEADLINE_METRICS,
    full_name: str = "Full Method",
    id_col: str | None = "pair_id",
    test: Test = "auto",
) -> pd.DataFrame:
    """E-THER Tables VI-VII in tidy form: metric, condition, mean, sd, n, change_pct, p_value, cohens_d.

    ``change_pct = 100 (mean_condition - mean_full) / mean_full`` (E-THER's); p and d compare the
    full method with each condition, ``d = (full - condition) / SD`` (d > 0: the full method scores
    higher; the module's one sign convention).
    """
    rows = []
    for metric in metrics:
        base = stats.describe(_values(full, metric))
        rows.append(
            {
                "metric": metric,
                "condition": full_name,
                "mean": base.mean,
                "sd": base.sd,
                "n": base.n,
                "change_pct": np.nan,
                "p_value": np.nan,
                "cohens_d": np.nan,
                "test": "",
                "note": "",
            }
        )
        for name, df in variants.items():
            s = stats.describe(_values(df, metric))
            p, d, tname, _, note = _compare(full, df, metric, id_col=id_col, test=test)
            rows.append(
                {
                    "metric": metric,
                    "condition": name,
                    "mean": s.mean,
                    "sd": s.sd,
                    "n": s.n,
                    "change_pct": stats.percent_change(s.mean, base.mean),
                    "p_value": p,
                    "cohens_d": d,
                    "test": tname,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def format_ablation(tidy: pd.DataFrame, *, notable_p: float = 0.05) -> pd.DataFrame:
    """Paper-shaped view: per metric, rows Mean ± SD, Change (%), p-value, Cohen's d; a column per condition.

    A change whose p-value is below ``notable_p`` carries an asterisk, as in E-THER.
    """
    conditions = list(dict.fromkeys(tidy["condition"]))
    records = []
    for metric, block in tidy.groupby("metric", sort=False):
        b = block.set_index("condition")
        first = conditions[0]
        lines = {
            "Mean ± SD": {c: f"{b.at[c, 'mean']:.3f} ± {b.at[c, 'sd']:.3f}" for c in conditions},
            "Change (%)": {
                c: "-"
                if c == first
                else f"{b.at[c, 'change_pct']:.1f}%" + ("*" if b.at[c, "p_value"] < notable_p else "")
                for c in conditions
            },
            "p-value": {c: "-" if c == first else format_p(b.at[c, "p_value"]) for c in conditions},
            "Cohen's d": {c: "-" if c == first else _fmt_d(b.at[c, "cohens_d"]) for c in conditions},
        }
        for stat, cells in lines.items():
            records.append({"Metric": display(str(metric)), "": stat, **cells})
    return pd.DataFrame(records)


def anova_tukey(
    groups: Mapping[str, pd.DataFrame], *, metrics: Sequence[str] = HEADLINE_METRICS, alpha: float = 0.05
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-way ANOVA per metric across systems, and Tukey HSD comparisons (interventions paper, 5.1).

    Returns (anova: metric, F, df_between, df_within, p_value, eta_squared, report) and
    (tukey: metric, group1, group2, mean_difference = mean(group2) - mean(group1), ci_low, ci_high,
    p_value, reject).
    """
    if len(groups) < 2:
        raise CongruenceError("ANOVA needs at least two systems.", "Pass two or more score tables.")
    arows, trows = [], []
    for metric in metrics:
        vals = {name: _values(df, metric).dropna().to_numpy() for name, df in groups.items()}
        a = stats.one_way_anova(vals)
        arows.append(
            {
                "metric": metric,
                "F": a.f,
                "df_between": a.df_between,
                "df_within": a.df_within,
                "p_value": a.p_value,
                "eta_squared": a.eta_squared,
                "report": a.format() if not a.note else f"n/a ({a.note})",
                "note": a.note,
            }
        )
        for c in stats.tukey_hsd(vals, alpha=alpha):
            trows.append({"metric": metric, **c.__dict__})
    return pd.DataFrame(arows), pd.DataFrame(trows)


def significance(p: float) -> str:
    """E-THER's levels: ``p < 0.01``, ``p < 0.05``, ``p < 0.10`` (trend) or ``n.s.``."""
    if not np.isfinite(p):
        return "n/a"
    if p < 0.01:
        return "p < 0.01"
    if p < 0.05:
        return "p < 0.05"
    if p < 0.10:
        return "p < 0.10"
    return "n.s."


_SIG_COLOURS = {
    "p < 0.01": "#b2182b",
    "p < 0.05": "#ef8a62",
    "p < 0.10": "#fddbc7",
    "n.s.": "#bababa",
    "n/a": "#ffffff",
}


def effect_size_plot(
    tidy: pd.DataFrame, path: str | Path, *, title: str = "Effect sizes (Cohen's d) and significance"
) -> Path:
    """E-THER Figure 4: Cohen's d per metric (x) and condition (marker), size |d|, colour significance.

    ``tidy`` needs ``metric``, ``condition``, ``cohens_d`` and ``p_value`` columns (the output of
    :func:`ablation_table` or :func:`system_vs_baseline` with ``condition`` = baseline name).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    df = tidy.dropna(subset=["cohens_d"]).copy()
    if df.empty:
        raise CongruenceError(
            "No effect sizes to plot.", "Compare at least two score tables with shared metrics."
        )
    metrics = list(dict.fromkeys(df["metric"]))
    conditions = list(dict.fromkeys(df["condition"]))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(metrics)), 4.2), dpi=120)
    width = 0.6
    for ci, cond in enumerate(conditions):
        sub = df[df["condition"] == cond]
        offset = (ci - (len(conditions) - 1) / 2) * width / max(1, len(conditions))
        xs = [metrics.index(m) + offset for m in sub["metric"]]
        ax.scatter(
            xs,
            sub["cohens_d"],
            # area grows with |d| up to d = 2 so that huge effects do not hide the others
            s=40 + 160 * np.minimum(np.abs(sub["cohens_d"].to_numpy(dtype=float)), 2.0),
            c=[_SIG_COLOURS[significance(p)] for p in sub["p_value"]],
            marker=markers[ci % len(markers)],
            edgecolors="black",
            linewidths=0.8,
            zorder=3,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(x=0.08, y=0.12)
    for level in (0.2, 0.5, 0.8):  # Cohen's small / medium / large
        for sgn in (1, -1):
            ax.axhline(sgn * level, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xticks(range(len(metrics)))
    ax.set_xticklabels([display(m) for m in metrics], rotation=15, ha="right")
    ax.set_ylabel("Cohen's d (first table - condition)")
    ax.set_title(title)
    handles = [
        Line2D(
            [],
            [],
            marker=markers[i % len(markers)],
            linestyle="",
            color="black",
            markerfacecolor="white",
            label=c,
        )
        for i, c in enumerate(conditions)
    ] + [
        Line2D([], [], marker="o", linestyle="", markerfacecolor=col, markeredgecolor="black", label=lab)
        for lab, col in _SIG_COLOURS.items()
        if lab != "n/a"
    ]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def to_markdown(df: pd.DataFrame, *, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured Markdown table, missing values blank (:func:`congruence.io.markdown_table`)."""
    return markdown_table(df, floatfmt=floatfmt)


def write_table(df: pd.DataFrame, stem: str | Path, *, markdown: pd.DataFrame | None = None) -> list[Path]:
    """Write ``<stem>.csv`` (machine-readable) and ``<stem>.md`` (``markdown`` view, default ``df``)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md = stem.with_suffix(".csv"), stem.with_suffix(".md")
    df.to_csv(csv, index=False)
    md.write_text(to_markdown(markdown if markdown is not None else df), encoding="utf-8")
    return [csv, md]
