"""Comparison tables, the effect-size plot and the `evaluate` / `compare` commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats as sps
from typer.testing import CliRunner

from congruence.errors import CongruenceError
from congruence.evaluation import stats as S
from congruence.evaluation import tables as T
from congruence.evaluation.cli import register
from congruence.evaluation.pct import HEADLINE_METRICS, PCTScorer


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)
    return a


@pytest.fixture(scope="module")
def by_type(contrast_table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Lexical-mode PCT scores of each response type, keyed by case id as pair_id."""
    scorer = PCTScorer(similarity="lexical", word_vectors="none")
    scored = pd.concat([contrast_table, scorer.score(contrast_table)], axis=1).rename(
        columns={"case": "pair_id"}
    )
    return {t: g.reset_index(drop=True) for t, g in scored.groupby("type")}


def test_system_vs_baseline_is_paired_on_item_ids(by_type: dict[str, pd.DataFrame]) -> None:
    sys_, base = by_type["reflective"], by_type["directive"].iloc[::-1]  # order must not matter
    table = T.system_vs_baseline(sys_, base, system_name="reflective", baseline_name="directive")
    assert list(table["metric"]) == list(HEADLINE_METRICS)
    row = table.set_index("metric").loc["pct_adherence"]
    m = sys_[["pair_id", "pct_adherence"]].merge(base[["pair_id", "pct_adherence"]], on="pair_id")
    x, y = m["pct_adherence_x"].astype(float), m["pct_adherence_y"].astype(float)
    assert row["test"] == "paired t-test" and row["n"] == 8
    assert row["p_value"] == pytest.approx(sps.ttest_rel(x, y).pvalue)
    assert row["cohens_d"] == pytest.approx(S.cohens_d_paired(x, y)) and row["cohens_d"] > 0
    welch = T.system_vs_baseline(sys_, base, id_col=None).set_index("metric").loc["pct_adherence"]
    assert welch["test"] == "Welch t-test"
    assert welch["p_value"] == pytest.approx(sps.ttest_ind(x, y, equal_var=False).pvalue)
    view = T.format_system_vs_baseline(table)
    assert list(view.columns) == ["Metric", "reflective", "directive", "p-value", "Cohen's d"]


def test_a_metric_without_variance_gives_nan_with_its_reason(by_type: dict[str, pd.DataFrame]) -> None:
    a, b = by_type["reflective"].copy(), by_type["directive"].copy()
    a["flat"], b["flat"] = 0.5, 0.5
    b.loc[0, "flat"] = 0.25  # one differing item: the paired differences still vary
    for id_col in ("pair_id", None):  # paired and Welch
        a2 = a.assign(flat=0.5)
        row = T.system_vs_baseline(a2, a2, metrics=["flat"], id_col=id_col).iloc[0]
        assert np.isnan(row["p_value"]) and np.isnan(row["cohens_d"]) and "no variance" in row["note"]
    ok = T.system_vs_baseline(a, b, metrics=["flat"]).iloc[0]
    assert np.isfinite(ok["p_value"]) and ok["note"] == ""
    tidy = T.ablation_table(a.assign(flat=0.5), {"same": a.assign(flat=0.5)}, metrics=["flat"])
    assert "no variance" in tidy.iloc[1]["note"]
    anova, tukey = T.anova_tukey({"x": a.assign(flat=0.5), "y": a.assign(flat=0.5)}, metrics=["flat"])
    assert np.isnan(anova.iloc[0]["F"]) and "no variance" in anova.iloc[0]["note"]
    assert np.isnan(tukey.iloc[0]["p_value"]) and not tukey.iloc[0]["reject"]
    assert (
        T.format_system_vs_baseline(T.system_vs_baseline(a2, a2, metrics=["flat"]))["Cohen's d"][0] == "n/a"
    )


def test_compare_reports_a_constant_metric_instead_of_crashing(app, tmp_path: Path) -> None:
    flat = pd.DataFrame({"pair_id": range(6), **dict.fromkeys(HEADLINE_METRICS, 0.5)})
    for name in ("a", "b"):
        flat.to_csv(tmp_path / f"{name}.csv", index=False)
    res = CliRunner().invoke(
        app, ["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    svb = pd.read_csv(tmp_path / "o" / "system_vs_baseline.csv")
    assert svb["p_value"].isna().all() and svb["note"].str.contains("no variance").all()


def test_repeated_item_ids_are_refused(by_type: dict[str, pd.DataFrame]) -> None:
    twice = pd.concat([by_type["reflective"], by_type["reflective"]])
    with pytest.raises(CongruenceError, match="repeats item ids"):
        T.system_vs_baseline(twice, by_type["directive"])


def test_ablation_table_reports_change_p_and_d(by_type: dict[str, pd.DataFrame]) -> None:
    variants = {"generic": by_type["generic"], "directive": by_type["directive"]}
    tidy = T.ablation_table(by_type["reflective"], variants, full_name="reflective")
    assert set(tidy["condition"]) == {"reflective", "generic", "directive"}
    row = tidy[(tidy.metric == "pct_adherence") & (tidy.condition == "directive")].iloc[0]
    full = by_type["reflective"]["pct_adherence"].astype(float)
    assert row["change_pct"] == pytest.approx(
        S.percent_change(by_type["directive"]["pct_adherence"].mean(), full.mean())
    )
    # one sign convention: d = (first - other) / SD, positive when the full method scores higher
    assert row["cohens_d"] > 0 and row["p_value"] < 0.05
    svb = T.system_vs_baseline(by_type["reflective"], by_type["directive"]).set_index("metric")
    assert row["cohens_d"] == pytest.approx(svb.loc["pct_adherence", "cohens_d"])
    view = T.format_ablation(tidy)
    assert list(view.columns) == ["Metric", "", "reflective", "generic", "directive"]
    assert list(view[""][:4]) == ["Mean ± SD", "Change (%)", "p-value", "Cohen's d"]
    cell = view[(view.Metric == "PCT Adherence") & (view[""] == "Change (%)")]["directive"].iloc[0]
    assert cell.endswith("%*")  # notable change, marked as in E-THER


def test_anova_tukey_and_effect_plot(by_type: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    anova, tukey = T.anova_tukey(by_type)
    row = anova.set_index("metric").loc["pct_adherence"]
    ref = sps.f_oneway(*(g["pct_adherence"].astype(float) for g in by_type.values()))
    assert row["F"] == pytest.approx(ref.statistic) and row["df_between"] == 4 and row["df_within"] == 35
    assert len(tukey) == 4 * 10
    tidy = T.ablation_table(by_type["reflective"], {k: v for k, v in by_type.items() if k != "reflective"})
    png = T.effect_size_plot(tidy, tmp_path / "fig" / "effects.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(CongruenceError, match="No effect sizes"):
        T.effect_size_plot(tidy[tidy.condition == "Full Method"], tmp_path / "none.png")


def test_markdown_tables_escape_pipes() -> None:
    md = T.to_markdown(pd.DataFrame({"a": ["x|y"], "b": [0.12345]}))
    assert md.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | 0.123 |"]


# --- CLI -------------------------------------------------------------------------------------------
def test_evaluate_writes_scores_summary_and_provenance(
    app, contrast_table: pd.DataFrame, tmp_path: Path
) -> None:
    src = tmp_path / "responses.jsonl"
    contrast_table.rename(columns={"case": "pair_id"}).to_json(src, orient="records", lines=True)
    res = CliRunner().invoke(
        app, ["evaluate", str(src), "--similarity", "lexical", "--word-vectors", "none", "--no-bertscore"]
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "responses-eval"
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 40 and {"pair_id", "type", "pct_adherence", "pct_status"} <= set(scores.columns)
    summary = pd.read_csv(out / "summary.csv").set_index("metric")
    assert summary.loc["pct_adherence", "n"] == 40
    assert summary.loc["pct_adherence", "mean"] == pytest.approx(scores["pct_adherence"].mean())
    import json

    prov = json.loads((out / "provenance.json").read_text())
    assert prov["pct_adherence"]["kind"] == "proxy" and prov["n_words"]["kind"] == "measurement"
    assert "| metric | mean | sd | n |" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_evaluate_with_models_adds_bertscore(app, contrast_table: pd.DataFrame, tmp_path: Path) -> None:
    src = tmp_path / "few.csv"
    contrast_table.head(5).to_csv(src, index=False)
    out = {}
    for precision in ("float32", "bfloat16"):
        res = CliRunner().invoke(
            app,
            ["evaluate", str(src), "--out", str(tmp_path / precision), "--bertscore-model", "minilm",
             "--precision", precision],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        scores = pd.read_csv(tmp_path / precision / "scores.csv")
        assert scores["bertscore_f1"].notna().all() and scores["mirroring_similarity"].notna().all()
        prov = pd.read_json(tmp_path / precision / "provenance.json")
        assert prov.loc["estimator", "bertscore_f1"] == f"bertscore:all-MiniLM-L6-v2@L4(rescaled,{precision})"
        assert prov.loc["estimator", "mirroring_similarity"] == f"all-MiniLM-L6-v2 cosine ({precision})"
        out[precision] = scores
    for col in ("bertscore_f1", "mirroring_similarity", "pct_adherence"):  # the precision barely matters
        diff = (out["float32"][col] - out["bfloat16"][col]).abs().max()
        assert diff < 0.005, (col, diff)


def test_evaluate_reports_bad_input_without_traceback(app, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"text": ["hello"]}).to_csv(bad, index=False)
    res = CliRunner().invoke(app, ["evaluate", str(bad), "--no-bertscore", "--similarity", "lexical"])
    assert res.exit_code == 2
    assert "no response column" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path / "missing.csv")])
    assert res.exit_code == 2 and "Table not found" in res.output


def test_compare_writes_the_papers_tables_and_plot(
    app, by_type: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    paths = []
    for t in ("reflective", "generic", "directive"):
        p = tmp_path / t / "scores.csv"
        p.parent.mkdir()
        by_type[t].to_csv(p, index=False)
        paths.append(str(p))
    out = tmp_path / "cmp"
    res = CliRunner().invoke(app, ["compare", *paths, "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("system_vs_baseline", "ablation", "anova", "tukey"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.md").is_file()
    assert (out / "effect_sizes.png").stat().st_size > 10_000
    svb = pd.read_csv(out / "system_vs_baseline.csv")
    assert set(svb["baseline"]) == {"generic", "directive"} and (svb["test"] == "paired t-test").all()
    md = (out / "system_vs_baseline.md").read_text()
    assert "| Metric | reflective | directive | p-value | Cohen's d |" in md
    abl = (out / "ablation.md").read_text()
    assert "Mean ± SD" in abl and "Change (%)" in abl
    anova = pd.read_csv(out / "anova.csv")
    assert list(anova["metric"]) == list(HEADLINE_METRICS)
    assert np.isfinite(anova["F"]).all()


def test_compare_needs_scored_tables(app, contrast_table: pd.DataFrame, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    contrast_table.to_csv(a, index=False)
    contrast_table.to_csv(b, index=False)
    res = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "congruence evaluate" in res.output
    res = CliRunner().invoke(app, ["compare", str(a)])
    assert res.exit_code == 2 and "at least two" in res.output
