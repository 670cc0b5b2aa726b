"""`congruence evaluate --judge openai`: the LLM judge through a real OpenAI-protocol server on loopback,
and its correlation with expert ratings (the interventions paper's Table 3) from `--human-ratings`."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from congruence.cli import app

runner = CliRunner()

RESPONSES = [
    "It sounds like you are carrying a lot right now.",
    "You should just try to relax more.",
    "I hear how tired you are, and how much you have been holding together for everyone else.",
    "You should talk to your boss.",
    "It sounds like part of you is relieved and part of you is sad.",
    "Okay.",
]


@pytest.fixture
def responses(tmp_path):
    path = tmp_path / "responses.csv"
    pd.DataFrame(
        {
            "session_id": "s1",
            "turn_index": range(len(RESPONSES)),
            "client_text": "I'm fine, it's just been a long month at work.",
            "response": RESPONSES,
        }
    ).to_csv(path, index=False)
    return path


def test_judge_rates_every_response_through_the_http_backend(server, responses, tmp_path) -> None:
    args = ["evaluate", str(responses), "--out", str(tmp_path / "ev"), "--no-bertscore",
            "--similarity", "lexical", "--word-vectors", "none", "--judge", "openai",
            "--judge-opt", f"base_url={server.base_url}", "--judge-opt", "model=judge"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(tmp_path / "ev" / "scores.csv")
    assert server.calls("judge") >= len(RESPONSES)
    # the judge server rates directive replies 2 on applicability and reflective ones 5 on empathy
    directive = scores["response"].str.contains("should")
    assert (scores.loc[directive, "judge_applicability"] == 2).all()
    assert (scores.loc[~directive, "judge_applicability"] == 4).all()
    assert scores.loc[scores["response"].str.contains("sounds"), "judge_empathy"].eq(5).all()


def test_judge_vs_human_correlation_table(server, responses, tmp_path) -> None:
    # two experts who broadly agree with the judge's rules, with their own noise
    experts = []
    for rater, shift in (("e1", 0), ("e2", 1)):
        for i, r in enumerate(RESPONSES):
            experts.append(
                {"session_id": "s1", "turn_index": i, "rater": rater,
                 "applicability": (1 if "should" in r else 4) + shift * (i % 2),
                 "empathy": (5 if ("sounds" in r or "hear" in r) else 1) - shift * (i % 2),
                 "comprehensiveness": min(5, 1 + len(r.split()) // 5)}
            )  # fmt: skip
    human = tmp_path / "ratings.csv"
    pd.DataFrame(experts).to_csv(human, index=False)
    args = ["evaluate", str(responses), "--out", str(tmp_path / "ev"), "--no-bertscore",
            "--similarity", "lexical", "--word-vectors", "none", "--judge", "openai",
            "--judge-opt", f"base_url={server.base_url}", "--judge-opt", "model=judge",
            "--human-ratings", str(human)]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "ev" / "judge_vs_human.csv").set_index("criterion")
    assert list(table.index) == ["applicability", "empathy", "comprehensiveness"]
    assert (table["n"] == 2 * len(RESPONSES)).all()  # every expert rating paired with the judge's
    assert (table[["r", "rho", "tau"]] > 0.6).all().all()
    assert "Judge vs human ratings" in res.output


def test_human_ratings_without_a_judge_is_a_clear_error(responses, tmp_path) -> None:
    res = runner.invoke(app, ["evaluate", str(responses), "--human-ratings", str(responses)])
    assert res.exit_code == 2
    assert "--human-ratings needs --judge" in res.output
