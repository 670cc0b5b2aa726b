"""Dataset builder: instances, label sources, session-level splits, export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from congruence.errors import CongruenceError
from congruence.training.dataset import build_instances, check_instances, export_dataset, split_sessions


def test_instances_carry_targets_labels_and_their_sources(sessions_dir: list[Path]):
    df = build_instances(sessions_dir, n_eval=2, seed=1)
    assert len(df) == 5 * 4
    assert set(df.groupby("session_id")["split"].nunique()) == {1}  # a session never straddles splits
    assert (df["split"] == "eval").groupby(df["session_id"]).first().sum() == 2
    s0 = df[df.session_id == "s0"].set_index("turn_index")
    # human annotation wins: "minimizing" (human) where the model said "contradiction"; s = I
    assert s0.loc[5, "incongruence_type"] == "minimizing" and s0.loc[5, "incongruence_source"] == "human"
    assert s0.loc[5, "score"] == 1.0 and s0.loc[5, "score_source"] == "human"
    assert s0.loc[1, "engagement"] == 0.5 and (s0["label_source"] == "human").all()
    other = df[df.session_id == "s1"].set_index("turn_index")
    assert other.loc[1, "score"] == pytest.approx(0.95) and other.loc[1, "score_source"] == "model"
    assert (other["label_source"] == "model").all() and other["dominance"].isna().all()
    assert Path(df.loc[0, "frame_path"]).is_file() and len(df.loc[0, "face_features"]) == 19


def test_export_writes_parquet_and_hf_dataset(sessions_dir: list[Path], tmp_path: Path):
    from datasets import load_from_disk

    df = build_instances(sessions_dir, eval_sessions=["s3", "s4"])
    paths = export_dataset(df, tmp_path / "ds")
    hf = load_from_disk(str(paths["hf"]))
    assert hf["train"].num_rows == 12 and hf["eval"].num_rows == 8
    assert set(hf["eval"]["session_id"]) == {"s3", "s4"}
    assert len(pd.read_parquet(paths["train"])) == 12


def test_bad_inputs_are_clear_errors(sessions_dir: list[Path], tmp_path: Path):
    with pytest.raises(CongruenceError, match="Cannot hold out"):
        split_sessions(["a", "b"], n_eval=2)
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"session_id": ["x"], "turn_index": [1], "text": ["hi"]}).to_parquet(bad)
    with pytest.raises(CongruenceError, match="counsellor_text"):
        build_instances([bad])
    df = build_instances(sessions_dir).assign(engagement=None)
    with pytest.raises(CongruenceError, match="engagement"):
        check_instances(df, scheme="engagement", needs_face=True)
