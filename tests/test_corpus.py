"""`congruence corpus analyze` on a local Ray instance with 2 workers, on real sessions.

One corpus run is shared by the module: the example session under two names (video + speech), an
espeak recording (audio only), three transcript-only sessions, a truncated mp4, and a recording
without transcript. During that run one worker is killed mid-session (Ray restarts it and retries
the session) and another twice (the session is recorded as failed, the corpus goes on).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from congruence import table as turn_table
from congruence.cli import app
from congruence.config import AnalysisConfig
from congruence.corpus import analyze_corpus, load_sources
from congruence.corpus import run as corpus_run
from congruence.corpus.report import incongruence_rates
from congruence.corpus.run import WORKER_PID_FILE, stage
from congruence.corpus.sources import is_uri
from congruence.errors import CongruenceError
from congruence.examples import DEMO_DIR, build_demo_session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
runner = CliRunner()
DEMO_TRANSCRIPT = DEMO_DIR / "transcript.csv"


def _killer(out: Path, sid: str, times: int, killed: list[int]) -> threading.Thread:
    """SIGKILL the worker process analysing ``sid`` (its pid file), ``times`` times: each time
    Ray restarts the worker and retries the session, the new process is the next victim."""
    pid_file = out / "sessions" / sid / ".cache" / WORKER_PID_FILE

    def work() -> None:
        deadline = time.monotonic() + 600
        while len(killed) < times and time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text())
            except (OSError, ValueError):
                pid = None
            if pid is not None and pid not in killed and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    return threading.Thread(target=work, daemon=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, speak) -> Path:
    root = tmp_path_factory.mktemp("corpus_src")
    media, transcript = build_demo_session(tmp_path_factory.mktemp("demo"))
    for name in ("demo-a", "demo-b"):
        shutil.copy(media, root / f"{name}.mp4")
        shutil.copy(transcript, root / f"{name}.csv")
    wav = speak("How are you today? I am fine, thank you, everything is good.", speed=140)
    shutil.copy(wav, root / "speech.wav")
    dur = sf.info(str(wav)).duration
    (root / "speech.csv").write_text(
        "Speaker,Start Time,End Time,Utterance\n"
        "Counsellor,0.00,1.40,How are you today?\n"
        f'Client,1.50,{dur:.2f},"I am fine, thank you, everything is good."\n'
    )
    for name in ("text-1", "text-2", "text-killed"):
        shutil.copy(DEMO_TRANSCRIPT, root / f"{name}.csv")
    (root / "broken.mp4").write_bytes(media.read_bytes()[:20_000])  # a truncated download
    shutil.copy(DEMO_TRANSCRIPT, root / "broken.csv")
    shutil.copy(wav, root / "lonely.wav")  # no transcript
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, source: Path) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("corpus_out")
    events: list[tuple[str, str]] = []
    killed: dict[str, list[int]] = {"demo-b": [], "text-killed": []}
    threads = {"demo-b": _killer(out, "demo-b", 1, killed["demo-b"]),
               "text-killed": _killer(out, "text-killed", 2, killed["text-killed"])}  # fmt: skip

    def on_event(kind: str, sid: str, rec: dict[str, Any]) -> None:
        events.append((kind, sid))
        if kind == "started" and sid in threads:
            threads[sid].start()

    result = analyze_corpus(source, out, workers=2, on_event=on_event)
    return {"out": out, "result": result, "events": events, "killed": killed}


@pytest.mark.slow
def test_the_corpus_completes_despite_killed_workers_and_bad_inputs(corpus: dict[str, Any]) -> None:
    out: Path = corpus["out"]
    manifest = json.loads((out / "corpus.json").read_text())
    status = {sid: r["status"] for sid, r in manifest["sessions"].items()}
    assert status == {
        "broken": "failed",
        "demo-a": "done",
        "demo-b": "done",
        "speech": "done",
        "text-1": "done",
        "text-2": "done",
        "text-killed": "failed",
    }
    s = manifest["sessions"]
    # killed once: Ray restarted the worker and the session ran again, to the end
    assert len(corpus["killed"]["demo-b"]) == 1 and s["demo-b"]["worker_restarted"] is True
    assert s["demo-b"]["worker_pid"] != corpus["killed"]["demo-b"][0]
    # killed twice: recorded with the reason, not retried forever
    assert len(corpus["killed"]["text-killed"]) == 2
    assert "died twice" in s["text-killed"]["reason"]
    assert "Cannot read broken.mp4" in s["broken"]["reason"]
    assert [p["session_id"] for p in manifest["problems"]] == ["lonely"]
    assert "no transcript for lonely.wav" in manifest["problems"][0]["reason"]
    # counts and timings of every finished session
    assert s["demo-a"]["client_turns"] == 3 and s["demo-a"]["media_seconds"] == pytest.approx(19.7, abs=0.1)
    assert s["speech"]["client_turns"] == 1 and s["text-1"]["media_seconds"] is None
    assert all(s[k]["seconds"] > 0 and s[k]["peak_rss_mib"] > 0 for k in status if status[k] == "done")
    # every session folder is what `congruence analyze` writes
    for sid in ("demo-a", "speech", "text-1"):
        folder = out / "sessions" / sid
        assert {"turns.parquet", "turns.csv", "summary.json", "report.html"} <= {
            f.name for f in folder.iterdir()
        }
    demo = turn_table.read(out / "sessions" / "demo-a")
    assert set(demo.table["face_status"]) == {"ok"} and demo.table["voice_arousal"].notna().all()
    speech = turn_table.read(out / "sessions" / "speech")
    assert set(speech.table["face_status"]) == {"no_video"} and set(speech.table["voice_status"]) == {"ok"}
    assert set(turn_table.read(out / "sessions" / "text-2").table["voice_status"]) == {"no_audio"}
    # in flight never more sessions than workers
    running = peak = 0
    for kind, _ in corpus["events"]:
        running += {"started": 1, "done": -1, "failed": -1}.get(kind, 0)
        peak = max(peak, running)
    assert peak == 2


@pytest.mark.slow
def test_the_corpus_table_is_the_concatenation_of_the_session_tables(corpus: dict[str, Any]) -> None:
    out: Path = corpus["out"]
    table, prov = turn_table.read_corpus(out)
    sessions = [turn_table.read(f) for f in turn_table.discover(out)]
    assert [a.session_id for a in sessions] == ["demo-a", "demo-b", "speech", "text-1", "text-2"]
    expected = pd.concat([a.table for a in sessions], ignore_index=True)
    pd.testing.assert_frame_equal(table[expected.columns], expected, check_dtype=False)
    assert list(table.columns) == list(expected.columns)
    # the provenance of the session tables travels with the dataset
    assert prov["face_valence"] == sessions[0].provenance["face_valence"]
    assert prov["text_face_type"].kind == "proxy"
    # any Parquet reader sees one dataset partitioned by session
    import pyarrow.dataset as ds

    d = ds.dataset(out / "turns", format="parquet", partitioning="hive")
    assert sorted(set(d.to_table(columns=["session_id"])["session_id"].to_pylist())) == [
        "demo-a", "demo-b", "speech", "text-1", "text-2",
    ]  # fmt: skip


@pytest.mark.slow
def test_a_rerun_recomputes_nothing_and_starts_no_model(
    corpus: dict[str, Any], source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out: Path = corpus["out"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}

    def no_ray(*a: Any, **k: Any) -> None:
        raise AssertionError("a re-run of a finished corpus must not start Ray or a model")

    monkeypatch.setattr(corpus_run, "_init_ray", no_ray)
    again = analyze_corpus(source, out, workers=2)
    assert again.ran == [] and sorted(again.skipped) == sorted(again.sessions)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before
    # the CLI says what was skipped and why
    res = runner.invoke(app, ["corpus", "analyze", str(source), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "0 session(s) done" not in res.output and "5 finished before" in res.output
    assert "no transcript for lonely.wav" in res.output and "--retry-failed" in res.output


@pytest.mark.slow
def test_corpus_report_links_sessions_and_lists_failures(corpus: dict[str, Any]) -> None:
    out: Path = corpus["out"]
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    for sid in ("demo-a", "demo-b", "speech", "text-1", "text-2"):
        assert f'href="sessions/{sid}/report.html"' in html
        assert (out / "sessions" / sid / "report.html").is_file()
    assert "died twice" in html and "Cannot read broken.mp4" in html and "lonely.wav" in html
    assert "proxies" in html and "<script" not in html
    rates = pd.read_csv(out / "corpus_rates.csv").set_index("session_id")
    demo = turn_table.read(out / "sessions" / "demo-a").table
    assert rates.loc["demo-a", "text_face_rate"] == pytest.approx((demo["text_face_dissonance"] > 0.5).mean())
    assert rates.loc["all", "client_turns"] == 3 + 3 + 1 + 3 + 3
    assert rates.loc["text-1", "text_face_scored"] == 0  # no face: not scored, not congruent


@pytest.mark.slow
def test_later_stages_read_the_corpus_folder(corpus: dict[str, Any], tmp_path: Path) -> None:
    from congruence.incongruence.detector import read_tables
    from congruence.training.dataset import read_turn_tables

    out: Path = corpus["out"]
    corpus_table, _ = turn_table.read_corpus(out)
    # detect train / eval and disagreement read their tables with read_tables
    t = read_tables([out])
    assert len(t) == len(corpus_table) and set(t["session_id"]) == set(corpus_table["session_id"])
    # dataset build reads with read_turn_tables
    assert sorted(str(x.iloc[0]["session_id"]) for x, _ in read_turn_tables([out])) == [
        "demo-a", "demo-b", "speech", "text-1", "text-2",
    ]  # fmt: skip
    res = runner.invoke(app, ["dataset", "build", str(out), "--out", str(tmp_path / "ds"), "--n-eval", "1"])
    assert res.exit_code == 0, res.output
    assert "train" in res.output
    labels = corpus_table[["session_id", "turn_index"]].copy()
    labels["incongruence"] = ["contradiction", "none", "minimizing"] * (len(labels) // 3) + ["none"] * (
        len(labels) % 3
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    res = runner.invoke(
        app, ["detect", "train", str(out), "--labels", str(tmp_path / "labels.csv"), "--folds", "0",
              "--no-embedding", "--no-egemaps", "--out", str(tmp_path / "det.joblib")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "det.joblib").is_file()
    # annotations import-session: every finished session of the corpus
    db = tmp_path / "app"
    res = runner.invoke(app, ["annotations", "import-session", str(out), "--data-dir", str(db)])
    assert res.exit_code == 0, res.output
    imported = [json.loads(b) for b in res.output.replace("}\n{", "}\x00{").split("\x00")]
    assert [(r["session_id"], r["pairs"]) for r in imported] == [
        ("demo-a", 3), ("demo-b", 3), ("speech", 1), ("text-1", 3), ("text-2", 3),
    ]  # fmt: skip
    res = runner.invoke(
        app, ["annotations", "import-session", str(out), "--session-id", "x", "--data-dir", str(db)]
    )
    assert res.exit_code == 2 and "corpus holds several" in res.output


# ------------------------------------------------------------------------------ no Ray needed


def test_bad_inputs_of_a_folder_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.csv", "sub/a.csv", "b.csv", "b.srt", "c.csv"):
        shutil.copy(DEMO_TRANSCRIPT, tmp_path / name)
    (tmp_path / "d.wav").write_bytes(b"RIFF")
    (tmp_path / ".hidden.csv").write_text("x")
    sessions, problems = load_sources(tmp_path)
    assert [s.session_id for s in sessions] == ["c"] and sessions[0].media is None
    reasons = {p.session_id: p.reason for p in problems}
    assert "used 2 times" in reasons["a"] and "share the name 'b'" in reasons["b"]
    assert "no transcript for d.wav" in reasons["d"]


def test_bad_rows_of_a_manifest_are_reported_with_their_line(tmp_path: Path) -> None:
    shutil.copy(DEMO_TRANSCRIPT, tmp_path / "t.csv")
    (tmp_path / "m.csv").write_text(
        "media,transcript,session_id,roles\n"
        ',t.csv,one,"Counsellor=counsellor,Client=client"\n'
        ",missing.csv,two,\n"
        ",,three,\n"
        ",t.csv,four,x,extra\n"
        ",t.csv,../up,\n"
        ",s3://bucket/t.csv,remote,\n"
    )
    sessions, problems = load_sources(tmp_path / "m.csv")
    assert [(s.session_id, s.roles) for s in sessions] == [
        ("one", "Counsellor=counsellor,Client=client"), ("remote", None),
    ]  # fmt: skip
    assert sessions[0].transcript == str(tmp_path / "t.csv") and sessions[1].transcript == "s3://bucket/t.csv"
    lines = {p.origin: p.reason for p in problems}
    assert (
        "file not found" in lines["m.csv line 3"] and "neither media nor transcript" in lines["m.csv line 4"]
    )
    assert (
        "5 cells for 4 columns" in lines["m.csv line 5"] and "cannot name a folder" in lines["m.csv line 6"]
    )
    (tmp_path / "m.jsonl").write_text('{"transcript": "t.csv"}\nnot json\n[1]\n{"transcript": "t.csv"}\n')
    sessions, problems = load_sources(tmp_path / "m.jsonl")
    assert sessions == [] and len(problems) == 3
    assert "not valid JSON" in problems[0].reason and "not a JSON object" in problems[1].reason
    assert "'t' is used 2 times" in problems[2].reason


def test_unusable_sources_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    (tmp_path / "nohead.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty").mkdir()
    for src, says in (
        (tmp_path / "x.txt", "neither a folder nor a manifest"),
        (tmp_path / "nohead.csv", "no media or transcript column"),
        (tmp_path / "empty", "holds no session"),
        (tmp_path / "nowhere", "No folder or manifest"),
    ):
        with pytest.raises(CongruenceError, match=says):
            load_sources(src)
    res = runner.invoke(app, ["corpus", "analyze", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "No folder or manifest" in res.output and "Traceback" not in res.output
    res = runner.invoke(
        app, ["corpus", "analyze", str(tmp_path / "x.txt"), "--out", str(tmp_path / "o"), "-w", "0"]
    )
    assert res.exit_code == 2


def test_a_source_of_problems_only_records_them_without_starting_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.wav").write_bytes(b"RIFF")
    monkeypatch.setattr(corpus_run, "_init_ray", lambda *a, **k: pytest.fail("Ray started"))
    res = runner.invoke(app, ["corpus", "analyze", str(tmp_path / "src"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "Skipped input a.wav: no transcript" in res.output
    manifest = json.loads((tmp_path / "o" / "corpus.json").read_text())
    assert manifest["sessions"] == {} and manifest["problems"][0]["session_id"] == "a"


def test_object_store_paths_are_fetched_through_pyarrow_fs(tmp_path: Path) -> None:
    uri = (tmp_path / "t.csv").as_uri()
    shutil.copy(DEMO_TRANSCRIPT, tmp_path / "t.csv")
    local = stage(uri, tmp_path / "cache")
    assert local is not None and Path(local).read_bytes() == DEMO_TRANSCRIPT.read_bytes()
    assert stage(uri, tmp_path / "cache") == local and stage("/a/b.mp4", tmp_path) == "/a/b.mp4"
    with pytest.raises(CongruenceError, match="No file at"):
        stage((tmp_path / "nope.csv").as_uri(), tmp_path / "cache")


@given(st.text(max_size=30))
def test_is_uri_only_for_scheme_paths(s: str) -> None:
    assert is_uri(f"s3://{s}") and is_uri(f"file://{s}")
    assert not is_uri(f"/{s}") and not is_uri(f"C:/{s}") and not is_uri(f"data/{s}")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.one_of(st.none(), st.sampled_from([0.0, 1.0])),
            st.one_of(st.none(), st.sampled_from(["none", "minimizing", "contradiction"])),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_rates_are_shares_of_the_scored_turns(rows: list[tuple[str, float | None, str | None]]) -> None:
    t = pd.DataFrame(rows, columns=["session_id", "text_face_dissonance", "text_face_type"])
    r = incongruence_rates(t).set_index("session_id")
    assert r.loc["all", "client_turns"] == len(t) == r.drop(index="all")["client_turns"].sum()
    flagged = sum(1 for _, d, _ in rows if d == 1.0)
    scored = sum(1 for _, d, _ in rows if d is not None)
    assert r.loc["all", "text_face_scored"] == scored
    if scored:
        assert r.loc["all", "text_face_rate"] == pytest.approx(flagged / scored)
    typed = r[["text_face_none", "text_face_minimizing", "text_face_contradiction"]].dropna()
    assert ((typed.sum(axis=1) - 1).abs() < 1e-9).all()


@pytest.mark.slow
def test_ctrl_c_keeps_finished_sessions_and_a_rerun_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("s1", "s2", "s3"):
        shutil.copy(DEMO_TRANSCRIPT, src / f"{name}.csv")
    cfg = AnalysisConfig()
    cfg.text.enabled = False  # the orchestration is under test here, not the models

    def interrupt(kind: str, sid: str, rec: dict[str, Any]) -> None:
        if kind == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze_corpus(src, tmp_path / "o", workers=1, config=cfg, on_event=interrupt)
    import ray

    assert not ray.is_initialized()
    status = {
        k: v["status"]
        for k, v in json.loads((tmp_path / "o" / "corpus.json").read_text())["sessions"].items()
    }
    assert status == {"s1": "done", "s2": "pending", "s3": "pending"}
    again = analyze_corpus(src, tmp_path / "o", workers=1, config=cfg)
    assert sorted(again.ran) == ["s2", "s3"] and again.skipped == ["s1"] and again.count("done") == 3
