"""Quiet by default: real commands in a subprocess, stderr checked for the runtimes' chatter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# lines the model runtimes print on their own (issue 13): TFLite / absl C++, Python warnings, bars
NOISE = (
    "XNNPACK",
    "W0000",
    "inference_feedback_manager",
    "absl::InitializeLog",
    "UserWarning",
    "FutureWarning",
    "Saving the dataset",
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def congruence(*args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real executable's entry point (``congruence.cli:app``) in a fresh process."""
    code = "import sys; sys.argv[0] = 'congruence'; from congruence.cli import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=timeout,
        cwd=ROOT,
    )


def test_native_writes_to_fd2_vanish_python_stderr_stays():
    # what TFLite and absl do: C code writing to file descriptor 2, from any thread, at any time
    code = (
        "import os, sys, threading\n"
        "from congruence import quiet\n"
        "assert quiet.redirect_native_stderr()\n"
        "os.write(2, b'W0000 00:00 inference_feedback_manager.cc:114] native\\n')\n"
        "t = threading.Thread(target=os.write, args=(2, b'INFO: Created TensorFlow Lite XNNPACK\\n'))\n"
        "t.start(); t.join()\n"
        "print('Error: our own message', file=sys.stderr)\n"
        "quiet.restore_native_stderr()\n"
        "os.write(2, b'after restore\\n')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert res.returncode == 0, res.stderr
    assert "Error: our own message" in res.stderr and "after restore" in res.stderr
    assert "W0000" not in res.stderr and "XNNPACK" not in res.stderr


def test_help_and_version_print_nothing_on_stderr():
    for args in (["--help"], ["--version"], ["analyze", "--help"]):
        res = congruence(*args)
        assert res.returncode == 0 and res.stderr == "", (args, res.stderr)


def test_user_errors_still_reach_stderr_when_native_output_is_silenced(tmp_path):
    res = congruence("report", str(tmp_path / "missing"))
    assert res.returncode == 2 and "Error:" in res.stderr and "Traceback" not in res.stderr


def test_verbose_undoes_exactly_what_silence_set(monkeypatch):
    import warnings

    from congruence import quiet

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("GLOG_minloglevel", "0")  # the user's own choice is kept either way
    before = list(warnings.filters)
    quiet.silence()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" and os.environ["GLOG_minloglevel"] == "0"  # noqa: SIM112 (glog spells it so)
    assert len(warnings.filters) > len(before)
    quiet.set_level("verbose")
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and os.environ["GLOG_minloglevel"] == "0"  # noqa: SIM112
    assert warnings.filters == before
    quiet.silence()  # the rest of the session as the CLI leaves it


@pytest.mark.slow
def test_demo_is_quiet_and_verbose_shows_the_runtime_logs(tmp_path):
    quiet_run = congruence("demo", "-o", str(tmp_path / "q"))
    assert quiet_run.returncode == 0, quiet_run.stderr
    assert [n for n in NOISE if n in quiet_run.stderr] == [], quiet_run.stderr
    assert "report:" in quiet_run.stdout
    loud = congruence("demo", "-o", str(tmp_path / "v"), "-v")
    assert loud.returncode == 0, loud.stderr
    # mediapipe's TFLite delegate and absl's pre-init lines are back
    assert "XNNPACK" in loud.stderr or "inference_feedback_manager" in loud.stderr, loud.stderr
