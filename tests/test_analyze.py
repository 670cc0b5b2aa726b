"""`congruence analyze` / `demo` end to end through the CLI and the API, on real media."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_video
from typer.testing import CliRunner

from congruence.analyze import analyze, load_table
from congruence.cli import app
from congruence.config import AnalysisConfig
from congruence.examples import build_demo_session

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_demo_session(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, demo_session) -> Path:
    """`congruence demo` through the CLI, once for the module."""
    out = tmp_path_factory.mktemp("demo_out")
    res = runner.invoke(app, ["demo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.slow
def test_demo_writes_the_turn_table_summary_and_says_what_is_a_proxy(demo_run: Path) -> None:
    table, prov = load_table(demo_run / "turns.parquet")
    assert list(table["speaker"]) == ["Client", "Client", "Client"]
    assert table["counsellor_text"].iloc[0].startswith("It sounds like")
    # every modality present on every client turn of the demo
    assert set(table["face_status"]) == {"ok"} and set(table["voice_status"]) == {"ok"}
    assert set(table["text_status"]) == {"ok"}
    # provenance travels with the columns, and proxies are labelled as such
    assert prov["face_valence"].kind == "proxy" and prov["voice_arousal"].kind == "proxy"
    assert prov["face_expr_happy"].kind == "model"
    summary = json.loads((demo_run / "summary.json").read_text())
    assert "face_valence" in summary["proxies"] and summary["roles"] == {
        "Counsellor": "counsellor",
        "Client": "client",
    }
    csv = pd.read_csv(demo_run / "turns.csv")
    assert len(csv) == 3 and "text_embedding" not in csv.columns
    assert (demo_run / table["face_key_crop_file"].iloc[0]).exists()
    # E-THER annotation fields exist and are empty
    assert table[["ann_incongruence", "ann_engagement", "ann_valence", "ann_rater"]].isna().all().all()


@pytest.mark.slow
def test_the_declared_provenance_describes_the_written_table(demo_run: Path) -> None:
    """What the stages declare before any work is what the analysis writes: every column with a
    provenance is declared, with the same estimator and kind, and none is left unknown."""
    from congruence.pipeline import declared_provenance

    _, prov = load_table(demo_run / "turns.parquet")
    declared = declared_provenance()
    assert not [c for c, p in prov.items() if p.estimator == "unknown"]
    assert set(prov) <= set(declared)
    assert all((declared[c].estimator, declared[c].kind) == (p.estimator, p.kind) for c, p in prov.items())


@pytest.mark.slow
def test_demo_has_an_incongruent_and_a_congruent_turn(demo_run: Path) -> None:
    """Turn 1: 'I'm fine, everything is great' over a crying face; turn 2: happy words, smiling face."""
    t, _ = load_table(demo_run / "turns.parquet")
    first, second = t.iloc[0], t.iloc[1]
    assert first["text_valence"] > 0 and second["text_valence"] > 0
    assert first["face_valence"] < 0 < second["face_valence"]
    assert first["face_expr_happy"] < second["face_expr_happy"]


@pytest.mark.slow
def test_rerun_uses_the_cache_and_an_interrupted_run_resumes(demo_session, tmp_path: Path) -> None:
    media, transcript = demo_session
    cfg = AnalysisConfig()
    cfg.face.enabled = False  # keeps this test fast; the face path is covered by the demo test
    calls: list[int] = []

    def stop_after_first(stage: str, done: int, total: int) -> None:
        if stage == "voice":
            calls.append(done)
            if done == 1:  # after the first turn's voice is stored
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyze(media, transcript=transcript, out_dir=tmp_path, config=cfg, progress=stop_after_first)
    assert not (tmp_path / "turns.parquet").exists()  # no half-finished output that looks complete
    resumed = analyze(media, transcript=transcript, out_dir=tmp_path, config=cfg)
    assert resumed.stats["from_cache"] == 1 and resumed.stats["client_turns"] == 3
    again = analyze(media, transcript=transcript, out_dir=tmp_path, config=cfg)
    assert again.stats["from_cache"] == 3
    fresh = analyze(media, transcript=transcript, out_dir=tmp_path / "fresh", config=cfg)
    cols = ["text_valence", "voice_f0_median", "voice_arousal"]
    np.testing.assert_allclose(resumed.table[cols].to_numpy(float), fresh.table[cols].to_numpy(float))
    # a changed config recomputes instead of serving stale results
    cfg2 = AnalysisConfig()
    cfg2.face.enabled = False
    cfg2.voice.options = {"pitch_floor": 75.0}
    assert analyze(media, transcript=transcript, out_dir=tmp_path, config=cfg2).stats["from_cache"] == 0


def test_missing_media_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", str(tmp_path / "nope.mp4")])
    assert res.exit_code == 2
    assert "not found" in res.output and "Traceback" not in res.output


def test_transcript_that_runs_past_the_media(demo_session, tmp_path: Path) -> None:
    media, _ = demo_session
    bad = tmp_path / "t.csv"
    bad.write_text(
        "speaker,start,end,utterance\nCounsellor,0,1,Hi\nClient,100,110,Hello\nClient,200,210,Bye\n"
    )
    res = runner.invoke(app, ["analyze", str(media), "--transcript", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "start after the media ends" in res.output and "Fix:" in res.output


@pytest.mark.slow
def test_video_without_audio_and_without_a_face(tmp_path: Path) -> None:
    """A silent screen recording: explicit missing values for voice and face, words still analysed."""
    media = write_video(tmp_path / "screen.mp4", seconds=6, fps=10)
    transcript = tmp_path / "t.srt"
    transcript.write_text(
        "1\n00:00:00,000 --> 00:00:02,000\nCounsellor: How was your week?\n\n"
        "2\n00:00:02,500 --> 00:00:05,500\nClient: It was terrible, I feel hopeless.\n"
    )
    res = runner.invoke(app, ["analyze", str(media), "-t", str(transcript), "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "no audio track" in res.output
    t, _ = load_table(tmp_path / "o" / "turns.parquet")
    assert t["voice_status"].tolist() == ["no_audio"] and t["face_status"].tolist() == ["no_face"]
    assert pd.isna(t["voice_arousal"]).all() and pd.isna(t["face_valence"]).all()
    assert t["text_valence"].iloc[0] < 0


def test_transcript_without_speakers_asks_for_them(demo_session, tmp_path: Path) -> None:
    media, _ = demo_session
    srt = tmp_path / "nospk.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nhello there\n")
    res = runner.invoke(app, ["analyze", str(media), "-t", str(srt), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "names no speakers" in res.output


def test_copy_of_media_hits_the_same_cache(demo_session, tmp_path: Path) -> None:
    """The cache is keyed by content, not by path: a renamed copy is not re-analysed."""
    media, transcript = demo_session
    cfg = AnalysisConfig()
    cfg.face.enabled = cfg.voice.enabled = False
    analyze(media, transcript=transcript, out_dir=tmp_path, config=cfg)
    copy = tmp_path / "renamed.mp4"
    shutil.copyfile(media, copy)
    assert analyze(copy, transcript=transcript, out_dir=tmp_path, config=cfg).stats["from_cache"] == 3


def test_frames_are_streamed_turn_by_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory must not grow with session length: when a turn is analysed, later turns' frames
    have not been decoded yet. A spy wraps the real face analyzer (nothing is registered)."""
    from congruence.ingest import media as media_mod
    from congruence.perception.face.analyzer import FaceAnalyzer

    decoded = {"n": 0}
    real_iter = media_mod.iter_frames

    def counting(*args, **kwargs):
        for f in real_iter(*args, **kwargs):
            decoded["n"] += 1
            yield f

    seen: list[tuple[list[float], int]] = []
    real_analyze_turn = FaceAnalyzer.analyze_turn

    def spy(self, frames, key_time):
        frames = list(frames)
        seen.append(([f.time for f in frames], decoded["n"]))
        return real_analyze_turn(self, frames, key_time)

    monkeypatch.setattr(media_mod, "iter_frames", counting)
    monkeypatch.setattr(FaceAnalyzer, "analyze_turn", spy)
    media = write_video(tmp_path / "v.mp4", seconds=30, fps=10)
    rows = "".join(
        f"Counsellor,{k * 6},{k * 6 + 2},Hi\nClient,{k * 6 + 2},{k * 6 + 5},Fine\n" for k in range(5)
    )
    (tmp_path / "t.csv").write_text("speaker,start,end,utterance\n" + rows)
    cfg = AnalysisConfig()
    cfg.text.enabled = cfg.voice.enabled = False
    cfg.sample_fps, cfg.max_frames_per_turn = 10.0, 4
    r = analyze(media, transcript=tmp_path / "t.csv", out_dir=tmp_path / "o", config=cfg, report=False)
    assert list(r.table["face_status"]) == ["no_face"] * 5  # the real analyzer ran: bars, no face
    assert len(seen) == 5
    for k, (times, _) in enumerate(seen):  # each turn got its own frames, from inside the turn
        assert len(times) == 5 and all(6 * k + 2 - 1e-3 <= t <= 6 * k + 5 for t in times)
    first_turn_frames, decoded_by_then = len(seen[0][0]), seen[0][1]
    total = sum(len(t) for t, _ in seen)
    # decoded by then, at most: the first turn's frames, the next frame (read to see the turn end),
    # a full decode-ahead queue (max_frames_per_turn + 1) and the frame the decoder holds
    assert decoded_by_then <= first_turn_frames + 1 + (cfg.max_frames_per_turn + 1) + 1 < total


@pytest.mark.slow
def test_two_hour_recording_is_streamed(tmp_path: Path) -> None:
    """A 2-hour file: turns spread over it are reached by seeking; every turn gets its values."""
    media = write_video(tmp_path / "long.mp4", seconds=7200, fps=1, size=(64, 48))
    rows = "".join(
        f"Counsellor,{k * 900},{k * 900 + 5},How are you?\nClient,{k * 900 + 5},{k * 900 + 12},I am fine.\n"
        for k in range(8)
    )
    (tmp_path / "t.csv").write_text("speaker,start,end,utterance\n" + rows)
    cfg = AnalysisConfig()
    cfg.text.enabled = False
    r = analyze(media, transcript=tmp_path / "t.csv", out_dir=tmp_path / "o", config=cfg, report=False)
    assert r.stats["media_seconds"] == pytest.approx(7200, abs=2)
    assert list(r.table["face_status"]) == ["no_face"] * 8
    assert list(r.table["voice_status"]) == ["no_audio"] * 8
    assert r.table["end"].iloc[-1] == pytest.approx(6312)


@pytest.mark.slow
def test_transcript_only_through_the_cli(tmp_path: Path) -> None:
    """`congruence analyze transcript.csv`: the text-only turn table, face and voice marked
    missing, a session id of our choosing, and a report that renders it."""
    from congruence.examples import DEMO_DIR

    transcript = shutil.copy(DEMO_DIR / "transcript.csv", tmp_path / "session.csv")
    out = tmp_path / "o"
    res = runner.invoke(app, ["analyze", str(transcript), "--session-id", "client-7", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "text-only" in res.output
    t, prov = load_table(out / "turns.parquet")
    assert list(t["session_id"]) == ["client-7"] * 3 and list(t["turn_index"]) == [1, 3, 5]
    assert set(t["face_status"]) == {"no_video"} and set(t["voice_status"]) == {"no_audio"}
    assert set(t["text_status"]) == {"ok"} and t["text_valence"].notna().all()
    # every declared face / voice column is there and empty: missing, never a zero
    assert t["face_valence"].isna().all() and t["voice_arousal"].isna().all()
    assert prov["face_valence"].kind == "proxy"
    # no face / voice: the pairs cannot be scored, and do not pretend to be congruent
    assert t["text_face_score"].isna().all() and t["text_face_type"].isna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["media"] is None and summary["session_id"] == "client-7"
    assert summary["missing"]["face"] == {"no_video": 3} and summary["missing"]["voice"] == {"no_audio": 3}
    html = (out / "report.html").read_text()
    assert "text-only analysis" in html and html.count('<tr id="turn-') == 3
    # the Python API reads the same way: a transcript alone, or media=None
    cfg = AnalysisConfig()
    cfg.text.enabled = False  # the keys, not the values, are compared here
    r = analyze(None, transcript=transcript, out_dir=tmp_path / "api", config=cfg, report=False)
    assert r.session.session_id == "session" and list(r.table["face_status"]) == ["no_video"] * 3


def test_nothing_to_analyse_is_a_clear_error() -> None:
    from congruence.errors import CongruenceError

    with pytest.raises(CongruenceError, match="Nothing to analyse"):
        analyze(None)


@pytest.mark.slow
def test_truncated_mp4_warns_about_the_turns_it_lost(tmp_path: Path, wolfgang_video: Path) -> None:
    """The first half of a real mp4: probe still reads 19.7 s, but frames and audio stop near
    9.6 s, so the client turns after that lose their face and voice values, and say so."""
    data = wolfgang_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "t.csv").write_text(
        "speaker,start,end,utterance\nCounsellor,0,1.5,How are you?\nClient,2,5,I am sad today.\n"
        "Counsellor,5.5,7,Tell me more.\nClient,12,15,It has been a hard week.\n"
        "Counsellor,15.2,16,I see.\nClient,16.2,19.5,But I am laughing now.\n"
    )
    res = runner.invoke(app, ["analyze", str(cut), "-t", str(tmp_path / "t.csv"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "lost all or part of their voice values (turns 3, 5)" in flat
    assert "lost their face values (turns 3, 5)" in flat
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["stats"]["lost_to_truncation"] == {"voice": [3, 5], "face": [3, 5]}
    assert sum("truncated?" in w for w in summary["warnings"]) == 2
    t, _ = load_table(tmp_path / "o" / "turns.parquet")
    assert list(t["face_status"]) == ["ok", "no_frames", "no_frames"]  # turn 1 is before the cut


@pytest.mark.slow
def test_truncated_flac_warns_and_a_rerun_from_the_cache_warns_again(tmp_path: Path) -> None:
    """The demo's real speech recording cut in half (FLAC declares its full length)."""
    from congruence.examples import DEMO_DIR

    data = (DEMO_DIR / "speech.flac").read_bytes()
    cut = tmp_path / "speech.flac"
    cut.write_bytes(data[: len(data) // 2])
    cfg = AnalysisConfig()
    cfg.text.enabled = cfg.face.enabled = False
    transcript = DEMO_DIR / "transcript.csv"
    first = analyze(cut, transcript=transcript, out_dir=tmp_path / "o", config=cfg, report=False)
    again = analyze(cut, transcript=transcript, out_dir=tmp_path / "o", config=cfg, report=False)
    assert again.stats["from_cache"] == 3
    for r in (first, again):
        lost = [w for w in r.warnings if "truncated?" in w]
        assert len(lost) == 1 and "voice values (turns 3, 5)" in lost[0], r.warnings
        assert r.stats["lost_to_truncation"] == {"voice": [3, 5]}
    # an intact recording gives no such warning
    whole = analyze(
        DEMO_DIR / "speech.flac", transcript=transcript, out_dir=tmp_path / "w", config=cfg, report=False
    )
    assert not any("truncated?" in w for w in whole.warnings) and whole.stats["lost_to_truncation"] == {}
