"""`congruence ablate` and `congruence train` end to end on a tiny dataset and a tiny random LM."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from congruence.cli import app
from congruence.training.config import ABLATION_CONDITIONS, config_from_dict
from congruence.training.dataset import build_instances, export_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(sessions_dir: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = build_instances(sessions_dir, eval_sessions=["s3", "s4"])
    out = tmp_path_factory.mktemp("dataset")
    export_dataset(df, out)
    return out


def write_config(path: Path, *, dataset: Path, model: Path, out: Path, **extra: str) -> Path:
    text = f"""
name = "full"
[data]
dataset = "{dataset}"
max_eval = 3
[model]
path = "{model}"
max_length = 64
visual_tokens = 2
projector_hidden = 16
[lora]
r = 4
alpha = 8
[train]
output_dir = "{out}"
max_steps = {extra.get("max_steps", "2")}
per_device_batch = {extra.get("batch", "4")}
learning_rate = 5e-3
save_steps = 100
threads = 1
[weights]
scheme = "{extra.get("scheme", "continuous")}"
[ablation]
max_new_tokens = {extra.get("max_new_tokens", "6")}
similarity = "lexical"
word_vectors = "none"
bertscore = true
bertscore_model = "minilm"
"""
    path.write_text(text)
    return path


def test_ablate_trains_scores_tabulates_and_resumes(dataset, tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CONGRUENCE_NO_PROGRESS", "1")
    cfg = write_config(tmp_path / "abl.toml", dataset=dataset, model=tiny_lm_dir, out=tmp_path / "run")
    res = runner.invoke(app, ["ablate", str(cfg)])
    assert res.exit_code == 0, res.output
    root = tmp_path / "run" / "ablation"
    for label in ABLATION_CONDITIONS.values():
        assert label in res.stdout
    assert "Mean ± SD" in res.stdout and "PCT Adherence" in res.stdout and "Cohen's d" in res.stdout

    tidy = pd.read_csv(root / "ablation.csv")
    metrics = ["empathic_authenticity", "responsive_engagement", "therapeutic_concision", "pct_adherence",
               "bertscore_f1"]  # fmt: skip
    assert tidy["metric"].drop_duplicates().tolist() == metrics
    assert set(tidy["condition"]) == set(ABLATION_CONDITIONS.values()) and (tidy["n"] == 3).all()
    full = tidy[tidy["condition"] == "Full Method"]
    assert full["change_pct"].isna().all()
    other = tidy[tidy["condition"] != "Full Method"]
    other = other.merge(full[["metric", "mean"]], on="metric", suffixes=("", "_f"))
    ok = other["mean_f"] != 0
    expect = 100 * (other["mean"] - other["mean_f"]) / other["mean_f"].abs()
    assert (other.loc[ok, "change_pct"] - expect[ok]).abs().max() < 1e-9
    assert (other["test"] == "paired t-test").all()

    # each condition trained with its own weighting: uniform = 1 exactly; text-only keeps the full scheme
    cond = pd.read_csv(root / "conditions.csv").set_index("key")
    assert cond.loc["no_incongruence", "mean_weight"] == 1.0
    assert cond.loc["full", "mean_weight"] > 1.0 and cond.loc["engagement", "mean_weight"] > 1.0
    assert cond.loc["engagement", "mean_weight"] != cond.loc["full", "mean_weight"]
    assert cond.loc["text_only", "mean_weight"] == pytest.approx(cond.loc["full", "mean_weight"])
    assert bool(cond.loc["text_only", "text_only"]) and not bool(cond.loc["full", "text_only"])
    ids = None
    for key in ABLATION_CONDITIONS:
        scores = pd.read_csv(root / key / "scores.csv")
        assert len(scores) == 3 and scores["response"].notna().all()
        assert {"pct_adherence", "bertscore_f1"} <= set(scores.columns)
        ids = ids if ids is not None else scores["pair_id"].tolist()
        assert scores["pair_id"].tolist() == ids  # the same held-out pairs everywhere (paired tests)
        assert pd.read_csv(root / key / "train" / "metrics.csv")["loss"].notna().sum() == 2
    assert (root / "ablation.md").read_text().count("Mean ± SD") == len(metrics)
    assert json.loads((root / "provenance.json").read_text())["pct_adherence"]["kind"] == "proxy"

    # a second run reuses every finished condition instead of training again
    stamp = (root / "text_only" / "scores.csv").stat().st_mtime_ns
    again = runner.invoke(app, ["ablate", str(cfg)])
    assert again.exit_code == 0, again.output
    assert again.output.count("finished earlier, reused") == 4
    assert (root / "text_only" / "scores.csv").stat().st_mtime_ns == stamp
    # ... and refuses to mix in a finished run of another configuration
    write_config(cfg, dataset=dataset, model=tiny_lm_dir, out=tmp_path / "run", max_new_tokens="9")
    changed = runner.invoke(app, ["ablate", str(cfg), "--conditions", "full,text_only"])
    assert changed.exit_code == 2 and "different configuration" in changed.output


def test_ablate_checks_every_condition_before_training(sessions_dir, tiny_lm_dir, tmp_path):
    df = build_instances(sessions_dir, eval_sessions=["s3", "s4"]).assign(engagement=None)
    export_dataset(df, tmp_path / "ds")
    cfg = write_config(tmp_path / "c.toml", dataset=tmp_path / "ds", model=tiny_lm_dir, out=tmp_path / "run")
    res = runner.invoke(app, ["ablate", str(cfg)])
    assert res.exit_code == 2 and "engagement" in res.output and "Fix:" in res.output
    assert not (tmp_path / "run" / "ablation" / "full" / "train").exists()  # failed before the first run
    with pytest.raises(Exception, match="conditions"):
        config_from_dict({"ablation": {"conditions": ["full", "no_vision"]}})


def test_train_cli_logs_every_step_and_fails_clearly(dataset, tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CONGRUENCE_NO_PROGRESS", "1")
    cfg = write_config(tmp_path / "t.toml", dataset=dataset, model=tiny_lm_dir, out=tmp_path / "run",
                       max_steps="3")  # fmt: skip
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "held-out loss" in res.stdout and "samples/s" in res.stdout
    assert res.stdout.count("'loss'") == 3  # the trainer's log line of every step
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["loss"].notna().sum() == 3
    big = write_config(tmp_path / "big.toml", dataset=dataset, model=tiny_lm_dir, out=tmp_path / "r2",
                       batch=str(10**7))  # fmt: skip
    res = runner.invoke(app, ["train", str(big)])
    assert res.exit_code == 2 and "GB" in res.output and "Fix:" in res.output
    (tmp_path / "ds").mkdir()
    for split in ("train", "eval"):  # a dataset without the score the continuous scheme needs
        part = pd.read_parquet(dataset / f"{split}.parquet").drop(columns=["score"])
        part.to_parquet(tmp_path / "ds" / f"{split}.parquet")
    bad = write_config(tmp_path / "bad.toml", dataset=tmp_path / "ds", model=tiny_lm_dir, out=tmp_path / "r3")
    res = runner.invoke(app, ["train", str(bad)])
    assert res.exit_code == 2 and "lacks the field(s) score" in res.output


@pytest.mark.slow
def test_train_runs_unchanged_under_a_distributed_launcher(dataset, tiny_lm_dir, tmp_path):
    """Two DDP processes (torchrun, gloo on the CPU; `accelerate launch` starts the same processes on
    GPUs): the data is shared out, one process writes the log and reports."""
    import os
    import subprocess
    import sys

    cfg = write_config(tmp_path / "ddp.toml", dataset=dataset, model=tiny_lm_dir, out=tmp_path / "run",
                       max_steps="3", batch="2")  # fmt: skip
    env = {**os.environ, "CONGRUENCE_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "congruence.training", "train", str(cfg)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("held-out loss") == 1  # rank 0 reports
    log = pd.read_csv(tmp_path / "run" / "metrics.csv")
    # 12 training instances, batch 2 per process: 3 steps are one epoch only if both processes trained
    assert log["loss"].notna().sum() == 3 and log["epoch"].max() == pytest.approx(1.0)
    assert (tmp_path / "run" / "final" / "trainable.safetensors").is_file()
