"""`congruence respond` through Typer's CliRunner, on an app made here with `register(app)`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from congruence.generation.cli import register
from congruence.generation.safety import SAFE_MESSAGE


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # a group, so the command is addressed by name as in `congruence respond`
        pass

    return app


runner = CliRunner()


def run(app, *args):
    return runner.invoke(app, ["respond", *args])


def test_crisis_utterance_gets_the_safe_message_without_any_model(app):
    res = run(app, "Some days I want to die.", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
              "--model", "unreachable", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["text"] == SAFE_MESSAGE and data["status"] == "safe_message" and "crisis" in data["flags"]
    assert "not therapy or clinical advice" in data["disclaimer"]


def test_one_utterance_with_precomputed_affect_over_http(app, server):
    affect = json.dumps({"face_valence": -0.6, "text_valence": 0.4, "text_face_type": "contradiction"})
    res = run(app, "I'm fine, really.", "--affect", affect, "--backend", "openai",
              "--base-url", server.base_url, "--model", "echo", "--samples", "1")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (
        "Technique: Reflection" in res.stdout and "It sounds like you said: I'm fine, really." in res.stdout
    )
    assert (
        "Patient (incongruence: contradiction): I'm fine, really."
        in server.requests[0]["messages"][0]["content"]
    )


def test_affect_can_come_from_a_file(app, server, tmp_path):
    f = tmp_path / "affect.json"
    f.write_text(json.dumps({"face_voice_dissonance": 1}))
    res = run(app, "All good.", "--affect", str(f), "--strategy", "dissonance", "--backend", "openai",
              "--base-url", server.base_url, "--model", "echo", "--samples", "1", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Patient (emotional dissonance): All good." in server.requests[0]["messages"][0]["content"]


@pytest.mark.slow
def test_face_image_is_analysed_into_the_prompt(app, server, tmp_path, astronaut):
    from PIL import Image

    img = tmp_path / "face.png"
    Image.fromarray(astronaut).save(img)
    res = run(app, "I feel so hopeless and sad about everything.", "--face-image", str(img), "--strategy",
              "discrete", "--backend", "openai", "--base-url", server.base_url, "--model", "echo",
              "--samples", "1", "--json", "--image-text")  # fmt: skip
    assert res.exit_code == 0, res.output
    text_part, image_part = server.requests[0]["messages"][0]["content"]
    # the smiling astronaut's expression reaches the prompt as a label from the real face analyzer
    assert "Patient (face: happy): I feel so hopeless and sad about everything." in text_part["text"]
    # and the image itself goes to a backend that takes images
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert json.loads(res.stdout)["status"] == "generated"


def test_whole_table_with_resume(app, server, tmp_path):
    table = tmp_path / "turns.csv"
    pd.DataFrame(
        [
            {"session_id": "s", "turn_index": 1, "role": "client", "text": "Work is a lot.",
             "text_face_type": "none"},
            {"session_id": "s", "turn_index": 3, "role": "client", "text": "It's fine though.",
             "text_face_type": "minimizing"},
            {"session_id": "s", "turn_index": 5, "role": "client",
             "text": "I have thought about killing myself."},
        ]
    ).to_csv(table, index=False)  # fmt: skip
    args = ["--table", str(table), "--table-out", str(tmp_path / "out.parquet"), "--backend", "openai",
            "--base-url", server.base_url, "--model", "echo"]  # fmt: skip
    res = run(app, *args)
    assert res.exit_code == 0, res.output
    assert "3 client turn(s) answered; 1 answered with the safe message." in res.stdout
    assert server.calls("echo") == 6  # 3 samples x 2 turns; the crisis turn never reaches the model
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["response_status"].tolist() == ["generated", "generated", "safe_message"]
    assert out.loc[1, "response_text"] == "It sounds like you said: It's fine though."
    assert (tmp_path / "turns.responses.jsonl").is_file()
    again = run(app, *args)
    assert again.exit_code == 0 and server.calls("echo") == 6  # resumed: nothing regenerated


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "either an utterance or --table"),
        (["hi", "--backend", "openai"], "needs --base-url and --model"),
        (["hi", "--strategy", "socratic", "--backend", "openai", "--base-url", "http://x/v1", "--model", "m"],
         "Unknown prompt strategy"),
        (["hi", "--affect", "{not json"], "--affect is neither"),
        (["--table", "missing.parquet"], "not found"),
        (["hi", "--backend", "transformers"], "needs --model PATH"),
    ],
)  # fmt: skip
def test_user_errors_exit_2_with_problem_and_fix(app, args, message):
    res = run(app, *args)
    assert res.exit_code == 2
    assert message in res.output and "Error:" in res.output


@pytest.mark.slow
def test_fast_embedded_model_answers_one_utterance(app):
    res = run(app, "My mum died last month but honestly I'm fine.", "--backend", "smollm2", "--samples", "1",
              "--max-tokens", "24", "--json")  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["backend"].startswith("smollm2-135m-instruct") and data["attempts"] >= 1
    assert data["strategy"] == "incongruence"
