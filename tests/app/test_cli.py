"""`congruence serve` and `congruence annotations ...` through the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
from typer.testing import CliRunner

from congruence.app.loadtest import wait_until_serving
from congruence.cli import app as cli

from .helpers import PASSWORD, login

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> str:
    res = runner.invoke(cli, list(args), env=env)
    assert res.exit_code == 0, res.output
    return res.output


def test_admin_commands_import_assign_and_export(tmp_path: Path, analysed_session: Path) -> None:
    d = ["--data-dir", str(tmp_path / "data")]
    run(
        "annotations", "add-user", "boss", "--role", "admin", "--password-env", "PW", *d, env={"PW": PASSWORD}
    )
    run(
        "annotations",
        "add-user",
        "ann1",
        "--role",
        "annotator",
        "--password-env",
        "PW",
        *d,
        env={"PW": PASSWORD},
    )
    out = run("annotations", "import-session", str(analysed_session), *d)
    assert json.loads(out)["pairs"] == 3
    assert json.loads(run("annotations", "assign", "--users", "ann1", *d))["assigned"] == 3
    responses = tmp_path / "r.csv"
    responses.write_text("session_id,turn_index,technique,response\ndemo,1,Reflection,You sound tired.\n")
    assert (
        json.loads(run("annotations", "import-responses", str(responses), "--system", "s1", *d))["added"] == 1
    )
    target = tmp_path / "ann.parquet"
    assert "0 rows" in run("annotations", "export", "annotations", "--out", str(target), *d)
    assert list(pd.read_parquet(target).columns)[:4] == [
        "session_id",
        "turn_index",
        "pair_index",
        "ann_incongruence",
    ]
    bad = runner.invoke(
        cli, ["annotations", "add-user", "ann1", "--password-env", "PW", *d], env={"PW": PASSWORD}
    )
    assert bad.exit_code == 2 and "exists already" in " ".join(bad.output.split())
    bad = runner.invoke(cli, ["annotations", "import-session", str(tmp_path), *d])
    assert bad.exit_code == 2 and "not an analysed session" in " ".join(bad.output.split())


def test_serve_starts_a_working_server_on_loopback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(
        "annotations",
        "add-user",
        "boss",
        "--role",
        "admin",
        "--password-env",
        "PW",
        "--data-dir",
        str(data),
        env={"PW": PASSWORD},
    )
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "congruence"
    proc = subprocess.Popen(
        [str(exe), "serve", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "CONGRUENCE_NO_PROGRESS": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until_serving(base, proc), "server did not start in 60 s: " + proc.stdout.read().decode()
        with httpx.Client(base_url=base) as c:
            login(c, "boss")
            assert c.get("/api/admin/users").json()[0]["username"] == "boss"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert (data / "app.sqlite3").exists()


def test_add_user_refuses_a_common_password_and_says_why(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path / "data")]
    bad = runner.invoke(
        cli, ["annotations", "add-user", "boss", "--password-env", "PW", *d], env={"PW": "iloveyou1"}
    )
    out = " ".join(bad.output.split())
    assert bad.exit_code == 2 and "common password" in out and "passphrase" in out
