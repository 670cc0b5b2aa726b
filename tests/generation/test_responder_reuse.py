"""A corpus worker analyses many sessions with one reply model: ``analyze(responder=...)`` reuses it."""

from __future__ import annotations

import pytest

import congruence.pipeline.run as run_mod
from congruence.config import AnalysisConfig
from congruence.examples import DEMO_DIR
from congruence.generation.respond import Responder
from congruence.pipeline.run import analyze

from .test_respond import _through_http, cycle  # noqa: F401  (autouse: cycle() replies through the local server)


def test_a_given_responder_is_reused_and_none_is_built(tmp_path, monkeypatch):
    def no_second_model(config):
        pytest.fail("analyze built a new responder although one was given")

    monkeypatch.setattr(run_mod, "responder_from_config", no_second_model)
    backend = cycle("[Reflection] It sounds like a lot is sitting with you right now.")
    responder = Responder(backend=backend, n_samples=1, topic_check=False)
    # text off too: only the transcript and the replies are under test here
    config = AnalysisConfig.from_dict({"text": {"enabled": False}})
    per_session = []
    for sid in ("a", "b"):
        before = len(backend.calls)
        result = analyze(
            None, transcript=DEMO_DIR / "transcript.csv", out_dir=tmp_path / sid, config=config,
            session_id=sid, report=False, respond=True, responder=responder,
        )  # fmt: skip
        per_session.append(len(backend.calls) - before)
        assert (result.table["response_status"] == "generated").all()
    assert per_session[0] == per_session[1] == len(result.table)  # one call per client turn, both sessions
