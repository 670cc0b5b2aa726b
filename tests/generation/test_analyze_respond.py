"""`congruence analyze --respond`: a reply per client turn in the table, the summary and the report,
generated through a real OpenAI-protocol server on loopback, resumed on a re-run.

The demo is analysed once per module (``analysed``); a test that writes gets its own copy of that
folder, whose analysis cache makes its ``analyze --respond`` run add only the replies.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from congruence.cli import app
from congruence.examples import build_demo_session

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_demo_session(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def analysed(demo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo analysed once (table, report, analysis cache); tests copy it before writing."""
    media, transcript = demo
    out = tmp_path_factory.mktemp("analysed") / "out"
    res = runner.invoke(app, ["analyze", str(media), "--transcript", str(transcript), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _copy(analysed: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(analysed, tmp_path / "out"))


def _config(path: Path, base_url: str, *, send_images: bool = True, model: str = "echo") -> Path:
    path.write_text(
        '[respond]\nstrategy = "incongruence"\nbackend = "openai"\nn_samples = 3\n'
        f'backend_options = {{ base_url = "{base_url}", model = "{model}", '
        f"send_images = {str(send_images).lower()} }}\n"
    )
    return path


def test_analyze_respond_adds_replies_to_table_summary_and_report(demo, analysed, server, tmp_path) -> None:
    media, transcript = demo
    out = _copy(analysed, tmp_path)
    args = ["analyze", str(media), "--transcript", str(transcript), "--out", str(out),
            "--config", str(_config(tmp_path / "c.toml", server.base_url)), "--respond"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out / "turns.parquet")
    n = len(table)
    assert n >= 2
    assert server.calls("echo") == 3 * n  # E-THER's protocol: three samples per client turn
    assert table["response_status"].tolist() == ["generated"] * n
    assert table["response_technique"].tolist() == ["Reflection"] * n
    # the echo server answers the client's own words (each reply belongs to its own turn) and
    # says when the request carried an image: the client's key-frame face went with it
    cols = zip(table["text"], table["face_key_crop_file"], table["response_text"], strict=True)
    for text, crop, reply in cols:
        assert reply.startswith(f"It sounds like you said: {text.strip()}")
        assert ("(I see an image of 112x112 pixels.)" in reply) == isinstance(crop, str)
    assert table["face_key_crop_file"].notna().any()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["response_text"]["kind"] == "model"
    assert "openai" in summary["provenance"]["response_text"]["estimator"]
    html = (out / "report.html").read_text()
    assert 'id="response-table"' in html
    assert html.count('data-status="generated"') == n

    again = runner.invoke(app, args)  # a re-run resumes from the stored replies
    assert again.exit_code == 0, again.output
    assert server.calls("echo") == 3 * n


def test_degenerate_replies_are_failed_and_the_console_and_report_say_why(
    demo, analysed, server, tmp_path
) -> None:
    media, transcript = demo
    out = _copy(analysed, tmp_path)
    cfg = _config(tmp_path / "c.toml", server.base_url, model="junk")
    res = runner.invoke(
        app, ["analyze", str(media), "-t", str(transcript), "-o", str(out), "-c", str(cfg), "--respond"]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out / "turns.parquet")
    n = len(table)
    assert table["response_status"].tolist() == ["failed"] * n  # never "generated"
    assert table["response_flags"].str.contains("degenerate:repetition").all()
    assert f"{n} of {n} replies failed: repetition {n}" in " ".join(res.output.split())
    html = (out / "report.html").read_text()
    assert 'id="response-failures"' in html and f"{n} of {n} replies failed" in html


def test_faces_stay_on_the_machine_unless_the_backend_is_set_to_send_them(
    demo, analysed, server, tmp_path
) -> None:
    media, transcript = demo
    cfg = _config(tmp_path / "c.toml", server.base_url, send_images=False)
    args = [
        "analyze",
        str(media),
        "-t",
        str(transcript),
        "-o",
        str(_copy(analysed, tmp_path)),
        "-c",
        str(cfg),
    ]
    res = runner.invoke(app, [*args, "--respond"])
    assert res.exit_code == 0, res.output
    assert server.requests
    for body in server.requests:  # text only: no image part in any message
        assert all(isinstance(m["content"], str) for m in body["messages"])


def test_analyze_without_respond_has_no_reply_columns(analysed) -> None:
    assert not any(c.startswith("response_") for c in pd.read_parquet(analysed / "turns.parquet").columns)
    assert 'id="response-table"' not in (analysed / "report.html").read_text()


def test_a_bad_respond_setting_is_a_clear_error(demo, tmp_path) -> None:
    media, transcript = demo
    cfg = tmp_path / "c.toml"
    cfg.write_text("[respond]\nsamples = 3\n")
    args = ["analyze", str(media), "-t", str(transcript), "-o", str(tmp_path / "o"), "-c", str(cfg)]
    res = runner.invoke(app, [*args, "--respond"])
    assert res.exit_code == 2
    assert "Unknown setting in the [respond] config section" in res.output
    assert not (tmp_path / "o" / ".cache").exists()  # refused before any work started


def test_respond_takes_an_analysis_folder(analysed, server, tmp_path) -> None:
    out = _copy(analysed, tmp_path)
    args = ["respond", "--table", str(out), "--backend", "openai", "--base-url", server.base_url,
            "--model", "echo", "--image-text", "--table-out", str(tmp_path / "r.parquet")]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    replies = pd.read_parquet(tmp_path / "r.parquet")["response_text"]
    # the key-frame crops are found relative to the folder and go to the image-text server
    assert replies.str.contains("I see an image of 112x112 pixels").any()
    assert (out / "turns.responses.jsonl").is_file()
