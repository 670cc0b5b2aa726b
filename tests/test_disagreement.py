"""Mixed-signals disagreement analysis: quadrants, disagreement rates, Welch t-tests, figures, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from test_detector import synthetic_turns
from typer.testing import CliRunner

from congruence.errors import CongruenceError
from congruence.incongruence.disagreement import (
    QUADRANTS,
    agreement_by_quadrant,
    analyze_disagreement,
    correct_confidence,
    direction,
    disagreement_matrix,
    disagreement_rate,
    project_embeddings,
    quadrant,
    quadrant_ttests,
    quadrants,
    welch,
)
from congruence.incongruence.disagreement_report import write_disagreement

conf = st.floats(0.0, 1.0, allow_nan=False)


# ------------------------------------------------------------------------------ pure functions
@settings(max_examples=200, deadline=None)
@given(u=conf, f=conf, threshold=st.floats(0.05, 0.95))
def test_quadrant_follows_the_paper_definition(u: float, f: float, threshold: float) -> None:
    q = quadrant(u, f, threshold=threshold)
    uni_right, fus_right = u > threshold, f > threshold
    expected = {(True, True): "blue", (False, False): "yellow", (False, True): "green", (True, False): "red"}
    assert q == expected[(uni_right, fus_right)]
    # swapping the two models swaps green and red and keeps blue / yellow
    swapped = {"green": "red", "red": "green"}.get(q, q)
    assert quadrant(f, u, threshold=threshold) == swapped


def test_quadrant_of_a_missing_confidence_is_none() -> None:
    assert quadrant(float("nan"), 0.9) is None
    assert quadrants([0.9, np.nan, 0.1], [0.9, 0.9, 0.9]).tolist() == ["blue", None, "green"]


def test_correct_confidence_picks_the_true_label_column() -> None:
    p = pd.DataFrame(
        {"p_none": [0.6, 0.1, 0.2], "p_minimizing": [0.3, 0.2, 0.2], "p_contradiction": [0.1, 0.7, 0.6]}
    )
    c = correct_confidence(p, ["none", "none", None], ["none", "minimizing", "contradiction"])
    assert c[:2].tolist() == [0.6, 0.1] and math.isnan(c[2])


def test_disagreement_matrix_counts_differing_predictions() -> None:
    preds = {
        "text": ["none", "none", "contradiction", "minimizing", None],
        "voice": ["none", "minimizing", "contradiction", "none", "none"],
        "fusion": ["none", "none", "none", "none", "none"],
    }
    m = disagreement_matrix(preds)
    assert m.loc["text", "voice"] == pytest.approx(2 / 4)  # the row where text is missing is skipped
    assert m.loc["text", "fusion"] == pytest.approx(2 / 4)
    assert m.loc["voice", "fusion"] == pytest.approx(2 / 5)
    assert np.allclose(m.to_numpy(), m.to_numpy().T, equal_nan=True) and np.isnan(np.diag(m)).all()
    assert math.isnan(disagreement_rate([None], ["x"]))


@settings(max_examples=40, deadline=None)
@given(
    a=st.lists(st.floats(-100, 100), min_size=2, max_size=30),
    b=st.lists(st.floats(-100, 100), min_size=2, max_size=30),
)
def test_welch_matches_its_formula(a: list[float], b: list[float]) -> None:
    x, y = np.asarray(a), np.asarray(b)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if va + vb < 1e-9:
        return  # no spread: t undefined
    t_ref = (x.mean() - y.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    p_ref = 2 * stats.t.sf(abs(t_ref), df)
    t, p = welch(a, b)
    assert t == pytest.approx(t_ref, rel=1e-6, abs=1e-9) and p == pytest.approx(p_ref, rel=1e-6, abs=1e-12)


def test_welch_needs_two_values_per_group_and_direction_reads_like_the_paper() -> None:
    assert all(math.isnan(v) for v in welch([1.0], [1.0, 2.0]))
    assert direction(3.0, 1.0, "red", "blue") == "μ_red > μ_blue"
    assert direction(1.0, 3.0, "green", "blue") == "μ_blue > μ_green"


def test_ttests_find_a_planted_difference_with_its_direction() -> None:
    rng = np.random.default_rng(0)
    q = np.array(["red"] * 30 + ["blue"] * 40 + ["green"] * 30, dtype=object)
    pitch = np.where(q == "blue", 200.0, 180.0) + rng.normal(0, 5, q.size)  # blue has higher pitch
    au04 = np.where(q == "red", 0.6, 0.3) + rng.normal(0, 0.05, q.size)  # red frowns more
    table = pd.DataFrame(
        {"voice_f0_median": pitch, "face_au04": au04, "text_valence": rng.normal(0, 1, q.size)}
    )
    table.loc[:4, "face_au04"] = np.nan  # missing values are left out, not zeros
    res = quadrant_ttests(table, q).set_index("column")
    assert res.loc["voice_f0_median", "p_red_vs_blue"] < 1e-6
    assert res.loc["voice_f0_median", "dir_red_vs_blue"] == "μ_blue > μ_red"
    assert res.loc["face_au04", "dir_red_vs_blue"] == "μ_red > μ_blue"
    assert res.loc["face_au04", "n_red__red_vs_blue"] == 25
    assert res.loc["face_au04", "p_green_vs_blue"] > 0.01  # green and blue do not differ on AU04
    assert res.loc["text_valence", "p_red_vs_blue"] > 0.01
    assert "voice_jitter" not in res.index  # absent columns are skipped
    assert res["p_red_vs_blue"].is_monotonic_increasing


def test_agreement_by_quadrant() -> None:
    a = ["none", "minimizing", "none", "contradiction", "none", "none"]
    b = ["none", "minimizing", "contradiction", "none", "none", None]
    q = ["blue", "blue", "red", "red", "green", "green"]
    res = agreement_by_quadrant(a, b, q).set_index("quadrant")
    assert res.loc["blue", "kappa"] == pytest.approx(1.0) and res.loc["blue", "n"] == 2
    assert res.loc["red", "agreement"] == 0.0 and res.loc["red", "kappa"] < 0
    assert res.loc["green", "n"] == 1 and math.isnan(res.loc["green", "kappa"])  # one label: undefined
    assert res.loc["yellow", "n"] == 0


def test_projection_falls_back_to_pca_for_few_points() -> None:
    x = np.random.default_rng(0).normal(size=(12, 8))
    xy, method = project_embeddings(x)
    assert method == "pca" and xy.shape == (12, 2)
    with pytest.raises(CongruenceError):
        project_embeddings(x[:2])


# ---------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def turns() -> pd.DataFrame:
    return synthetic_turns(n_sessions=6, turns=16, seed=2)


def test_analysis_is_consistent_and_writes_tables_and_figures(tmp_path, turns: pd.DataFrame) -> None:
    opts = {"epochs": 15, "lr": 1e-3, "min_steps": 0}  # a consistency check: a short schedule suffices
    res = analyze_disagreement(turns, fusion="gated", fusion_options=opts, n_splits=3)
    p = res.predictions
    assert len(p) == len(turns) and list(res.disagreement.index) == ["text", "face", "voice", "fusion"]
    for m in ("text", "face", "voice"):
        expected = quadrants(p[f"conf_{m}"], p["conf_fusion"])
        assert (p[f"quadrant_{m}"].fillna("-") == pd.Series(expected).fillna("-").to_numpy()).all()
        assert res.quadrant_counts.loc[m].sum() == p[[f"conf_{m}", "conf_fusion"]].notna().all(axis=1).sum()
        # a confidence above 0.5 in the true label means the model's prediction is that label
        sure = p[f"conf_{m}"] > 0.5
        assert (p.loc[sure, f"pred_{m}"] == p.loc[sure, "label"]).all()
    assert res.evaluations["fusion"].n == len(turns)
    files = write_disagreement(res, turns, tmp_path / "out", projection="pca")
    for key in ("report_md", "disagreement_matrix", "ttests_voice_md", "predictions"):
        assert (tmp_path / "out" / files[key].split("/")[-1]).stat().st_size > 0
    png = tmp_path / "out" / "confidence_quadrants.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "out" / "text_projection.svg").read_text()[:2000]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Pairwise disagreement rates" in report and "μ_" in report


@pytest.fixture(scope="module")
def tables(tmp_path_factory, turns: pd.DataFrame):
    """Per-session turns.parquet files without labels, and a labels CSV from two raters."""
    root = tmp_path_factory.mktemp("tables")
    for sid, g in turns.groupby("session_id"):
        d = root / sid
        d.mkdir()
        g.assign(ann_incongruence=None).to_parquet(d / "turns.parquet")
    rng = np.random.default_rng(0)
    lab = turns[["session_id", "turn_index", "ann_incongruence"]].rename(
        columns={"ann_incongruence": "incongruence"}
    )
    second = lab.copy()
    flip = rng.random(len(second)) < 0.2  # the second rater disagrees on a fifth of the turns
    second.loc[flip, "incongruence"] = "none"
    labels = pd.concat([lab.assign(rater="r1"), second.assign(rater="r2")])
    labels.to_csv(root / "labels.csv", index=False)
    return root


def test_cli_detect_train_eval_predict(tmp_path, tables) -> None:
    from congruence.cli import app

    runner = CliRunner()
    model = tmp_path / "det.joblib"
    r = runner.invoke(
        app, ["detect", "train", str(tables), "--labels", str(tables / "labels.csv"), "--rater", "r1",
              "--out", str(model), "--folds", "3", "--report", str(tmp_path / "cv.json")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "3-fold session-level cross-validation" in r.output and model.exists()
    assert (tmp_path / "cv.json").exists()
    r = runner.invoke(
        app, ["detect", "eval", str(model), str(tables), "--labels", str(tables / "labels.csv")]
    )
    assert r.exit_code == 0, r.output
    assert "Cohen's kappa" in r.output and "| human \\ predicted |" in r.output
    r = runner.invoke(app, ["detect", "predict", str(model), str(tables), "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 96 and set(pred["pred"]) <= {"none", "minimizing", "contradiction"}
    prov = json.loads((tmp_path / "p.provenance.json").read_text())
    assert prov["pred"]["kind"] == "model" and set(prov) <= set(pred.columns)
    # the gated model trains through the same command and is saved as a torch file
    r = runner.invoke(
        app, ["detect", "train", str(tables), "--labels", str(tables / "labels.csv"), "--model", "gated",
              "--epochs", "2", "--min-steps", "0", "--folds", "0", "--out", str(tmp_path / "fusion.pt")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (tmp_path / "fusion.pt").stat().st_size > 1000


@pytest.mark.slow  # UMAP's numba compilation takes ~15 s
def test_cli_disagreement_with_two_raters_and_umap(tmp_path, tables) -> None:
    from congruence.cli import app

    out = tmp_path / "dis"
    r = CliRunner().invoke(
        app, ["disagreement", str(tables), "--labels", str(tables / "labels.csv"), "--out", str(out),
              "--fusion", "logreg", "--folds", "3"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Rater agreement per quadrant" in r.output
    agree = pd.read_csv(out / "agreement_text.csv")
    assert list(agree["quadrant"]) == list(QUADRANTS) and agree["n"].sum() > 0
    proj = pd.read_csv(out / "text_projection.csv")
    assert len(proj) == 96 and proj[["x", "y"]].notna().all().all()
    assert "(UMAP)" in (out / "text_projection.svg").read_text()  # 96 points: UMAP, the paper's method


def test_a_collapsed_fusion_model_is_reported_not_hidden(tmp_path, tables) -> None:
    """One class for every turn: a warning on the console, in report.md, evaluation.csv, summary.json."""
    from congruence.cli import app

    out = tmp_path / "dis"
    r = CliRunner().invoke(
        app, ["disagreement", str(tables), "--labels", str(tables / "labels.csv"), "--rater", "r1",
              "--out", str(out), "--folds", "3", "--epochs", "1", "--lr", "1e-9", "--min-steps", "0",
              "--projection", "pca"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Warning: fusion model predicts" in r.output
    assert "## Warning: degenerate model(s)" in (out / "report.md").read_text()
    ev = pd.read_csv(out / "evaluation.csv").set_index("model")
    assert bool(ev.loc["fusion", "degenerate"]) and ev.loc["fusion", "kappa"] == 0.0
    assert not ev.loc["text", "degenerate"]  # the text model still learns something here
    summary = json.loads((out / "summary.json").read_text())
    assert summary["degenerate"]["fusion"] is True
    assert len(summary["warnings"]) == sum(summary["degenerate"].values())  # one line per flagged model


def test_cli_without_labels_is_a_clear_error(tmp_path, tables) -> None:
    from congruence.cli import app

    r = CliRunner().invoke(app, ["disagreement", str(tables), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "no ann_incongruence" in r.output.lower() or "no turn has a human" in r.output.lower()
    assert "Fix:" in r.output


def test_a_modality_missing_everywhere_is_left_out_with_a_note(turns: pd.DataFrame) -> None:
    no_audio = turns.assign(voice_status="no_audio")  # e.g. sessions recorded without sound
    res = analyze_disagreement(no_audio, fusion="logreg", n_splits=3)
    assert list(res.disagreement.index) == ["text", "face", "fusion"]
    assert any(n.startswith("voice: observed in 0") for n in res.notes)
    assert res.fusion_name == "logreg[text+face]"
