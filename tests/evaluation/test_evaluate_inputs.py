"""`evaluate` reads what the project's own stages write: analysis folders, turns.parquet, respond --out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from congruence.evaluation.cli import register
from congruence.evaluation.suite import load_responses
from congruence.generation.respond import Responder

GOOD = "[Reflection] Since the move the nights have become long and sleepless for you."
FAILS = "Clarification: This encourages the patient to elaborate on their feelings."
FAST = ["--similarity", "lexical", "--word-vectors", "none", "--no-bertscore"]


class Scripted:
    """A chat backend standing in for a model: an explanation for "I'm fine", a reply otherwise."""

    name = "scripted"

    def complete(self, messages, *, temperature=0.7, max_tokens=160, seed=None):
        return FAILS if "fine, really" in messages[-1]["content"] else GOOD


@pytest.fixture(scope="module")
def responded(tmp_path_factory) -> tuple[Path, Path]:
    """An analysis folder whose turns.parquet has replies, and the JSONL of the same respond run."""
    root = tmp_path_factory.mktemp("pipeline")
    turns = pd.DataFrame(
        {
            "session_id": ["s1"] * 4,
            "turn_index": [0, 1, 2, 3],
            "role": ["client", "counsellor", "client", "counsellor"],
            "text": ["I can't sleep since the move.", "Tell me more.", "I'm fine, really.", "Okay."],
        }
    )
    out = root / "replies.jsonl"
    table = Responder(backend=Scripted(), strategy="base", retry_budget=0, n_samples=1).respond_table(
        turns, out=out
    )
    folder = root / "session-analysis"
    folder.mkdir()
    table.to_parquet(folder / "turns.parquet")
    return folder, out


def test_turn_table_is_recognised_and_failed_replies_skipped(responded) -> None:
    folder, _ = responded
    for path in (folder, folder / "turns.parquet"):
        r = load_responses(path)
        assert (r.source, r.response_col, r.client_col) == ("turn table", "response_text", "text")
        assert r.skipped == {"failed": 1} and len(r.table) == 1
        assert r.table["response_text"].iloc[0] == GOOD.removeprefix("[Reflection] ")
    assert len(load_responses(folder, include_failed=True).table) == 2


def test_respond_out_jsonl_is_recognised(responded) -> None:
    _, jsonl = responded
    r = load_responses(jsonl)
    assert (r.source, r.response_col, r.client_col) == ("respond --out", "response_text", None)
    assert r.skipped == {"failed": 1}
    assert r.table[["session_id", "turn_index"]].iloc[0].tolist() == ["s1", 0]


def test_evaluate_cli_on_each_output_without_flags(responded, tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    folder, jsonl = responded
    res = CliRunner().invoke(app, ["evaluate", str(folder), "--out", str(tmp_path / "a"), *FAST])
    assert res.exit_code == 0, res.output
    assert "Skipped 1 replies that are not 'generated' (1 failed)" in res.output
    scores = pd.read_csv(tmp_path / "a" / "scores.csv")
    assert len(scores) == 1 and scores["responsive_engagement"].notna().all()

    res = CliRunner().invoke(
        app, ["evaluate", str(folder), "--out", str(tmp_path / "b"), "--include-failed", *FAST]
    )
    assert res.exit_code == 0 and "Skipped" not in res.output
    scores = pd.read_csv(tmp_path / "b" / "scores.csv").set_index("response_status")
    # the failed reply, scored on request, falls far below the reply (its explanation is role talk)
    assert scores.loc["failed", "pct_adherence"] < scores.loc["generated", "pct_adherence"]

    res = CliRunner().invoke(app, ["evaluate", str(jsonl), "--out", str(tmp_path / "c"), *FAST])
    assert res.exit_code == 0, res.output
    assert "No client utterance column" in res.output and "--client-col" in res.output
    assert pd.read_csv(tmp_path / "c" / "scores.csv")["pct_status"].tolist() == ["no_client_utterance"]


def test_errors_name_the_cli_flags(responded, tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"text": ["hello"]}).to_csv(bad, index=False)
    res = CliRunner().invoke(app, ["evaluate", str(bad), *FAST])
    assert res.exit_code == 2 and "--response-col" in res.output and "response_col=" not in res.output
    res = CliRunner().invoke(app, ["evaluate", str(bad), "--response-col", "reply", *FAST])
    assert res.exit_code == 2 and "Pass --response-col with one of: text" in res.output
    folder, _ = responded
    res = CliRunner().invoke(app, ["evaluate", str(folder), "--client-col", "nope", *FAST])
    assert res.exit_code == 2 and "--client-col" in res.output
