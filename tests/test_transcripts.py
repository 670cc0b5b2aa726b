"""Transcript readers: every format, the paper's layout, encodings, and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import TranscriptError
from congruence.ingest.transcripts import (
    parse_json,
    parse_srt,
    parse_table,
    parse_time,
    parse_vtt,
    read_transcript,
)

# Figure 2 of the interventions paper, as published (tab separated, HH:MM:SS)
PAPER_TSV = (
    "Speaker\tStart Time\tEnd Time\tUtterance\n"
    "Therapist\t00:01:09\t00:01:12\tWhat would you rate your mood right now?\n"
    "Patient\t00:01:17\t00:01:19\tOkay, so a two\n"
    "Therapist\t00:01:20\t00:01:23\tAnd what's going on right now to make it a two?\n"
    "Patient\t00:01:29\t00:01:41\tI was able to get up today. Yesterday I couldn't get up. I got here\n"
)


def test_paper_layout_tsv() -> None:
    turns = parse_table(PAPER_TSV)
    assert [t.speaker for t in turns] == ["Therapist", "Patient", "Therapist", "Patient"]
    assert (turns[1].start, turns[1].end) == (77.0, 79.0)
    assert turns[3].text.startswith("I was able to get up today.")


def test_srt_with_speaker_prefix_and_multiline() -> None:
    srt = (
        "1\n00:00:01,000 --> 00:00:03,500\nCounsellor: How are you?\n\n"
        "2\n00:00:04,000 --> 00:00:07,250\nClient: I'm fine,\nreally.\n"
    )
    turns = parse_srt(srt)
    assert [(t.speaker, t.start, t.end, t.text) for t in turns] == [
        ("Counsellor", 1.0, 3.5, "How are you?"),
        ("Client", 4.0, 7.25, "I'm fine, really."),
    ]


def test_vtt_voice_tags_notes_and_cue_settings() -> None:
    vtt = (
        "WEBVTT\n\nNOTE recorded in room 2\n\n"
        "intro\n00:01.000 --> 00:02.500 align:start\n<v Counsellor>How are you?</v>\n\n"
        "00:00:03.000 --> 00:00:05.000\n<v.loud Client>Fine.\n"
    )
    turns = parse_vtt(vtt)
    assert [(t.speaker, t.start, t.end, t.text) for t in turns] == [
        ("Counsellor", 1.0, 2.5, "How are you?"),
        ("Client", 3.0, 5.0, "Fine."),
    ]


def test_json_list_and_object_forms() -> None:
    items = [
        {"speaker": "A", "start": 0, "end": 1.5, "text": "Hi"},
        {"speaker": "B", "start": "00:00:02", "end": 3, "text": "Hello"},
    ]
    assert [(t.speaker, t.start, t.text) for t in parse_json(json.dumps(items))] == [
        ("A", 0.0, "Hi"),
        ("B", 2.0, "Hello"),
    ]
    turns = parse_json(json.dumps({"turns": [{"speaker": "A", "start": 0, "end": 1.5, "utterance": "Hi"}]}))
    assert (turns[0].speaker, turns[0].end, turns[0].text) == ("A", 1.5, "Hi")


@pytest.mark.parametrize(
    ("text", "reader", "message"),
    [
        ("speaker,start\nA,1\n", parse_table, "no utterance"),
        ("1\n00:00:01,000 --> later\nhello\n", parse_srt, "Bad cue time"),
        ("hello there\n", parse_vtt, "WEBVTT"),
        ("{not json", parse_json, "Invalid JSON"),
        ('{"x": 1}', parse_json, "list of objects"),
        ("speaker,start,end,utterance\nA,abc,2,hi\n", parse_table, "cannot read start"),
    ],
)
def test_malformed_transcripts_name_the_problem(text, reader, message) -> None:
    with pytest.raises(TranscriptError) as info:
        reader(text)
    assert message.lower() in str(info.value).lower()
    assert info.value.fix


def test_non_utf8_transcript_is_read_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes("speaker,start,end,utterance\nClient,0,2,Je suis déçu\n".encode("cp1252"))
    turns, warnings = read_transcript(p)
    assert turns[0].text == "Je suis déçu"
    assert warnings and "UTF-8" in warnings[0]


def test_unknown_extension_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "t.docx").write_text("x")
    with pytest.raises(TranscriptError, match="Unknown transcript format"):
        read_transcript(tmp_path / "t.docx")
    (tmp_path / "e.srt").write_text("   \n")
    with pytest.raises(TranscriptError, match="empty"):
        read_transcript(tmp_path / "e.srt")


times = st.floats(min_value=0, max_value=36_000, allow_nan=False).map(lambda x: round(x, 3))


def _hms(t: float, sep: str = ".") -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


@given(times)
def test_parse_time_round_trips_clock_formats(t: float) -> None:
    assert parse_time(_hms(t)) == pytest.approx(t, abs=1e-3)
    assert parse_time(_hms(t, ",")) == pytest.approx(t, abs=1e-3)
    assert parse_time(str(t)) == pytest.approx(t)


speakers = st.sampled_from(["Client", "Counsellor", "Speaker 1", "B"])
words = (
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N", "Zs", "Po"), blacklist_characters=',"\n\r\t:'),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
rows = st.lists(
    st.tuples(speakers, times, st.floats(0, 30).map(lambda x: round(x, 3)), words), min_size=1, max_size=12
)


@given(rows)
def test_every_format_round_trips_the_same_turns(data) -> None:
    """Writing the same turns as CSV, TSV, SRT, WebVTT and JSON and reading them back agrees."""
    expected = [(s, a, round(a + d, 3), w) for s, a, d, w in data]
    csv_text = "speaker,start,end,utterance\n" + "".join(f'{s},{a},{e},"{w}"\n' for s, a, e, w in expected)
    tsv_text = "Speaker\tStart Time\tEnd Time\tUtterance\n" + "".join(
        f"{s}\t{_hms(a)}\t{_hms(e)}\t{w}\n" for s, a, e, w in expected
    )
    srt_text = "".join(
        f"{i + 1}\n{_hms(a, ',')} --> {_hms(e, ',')}\n{s}: {w}\n\n" for i, (s, a, e, w) in enumerate(expected)
    )
    vtt_text = "WEBVTT\n\n" + "".join(
        f"{_hms(a)} --> {_hms(e)}\n<v {s}>{w}</v>\n\n" for s, a, e, w in expected
    )
    json_text = json.dumps([{"speaker": s, "start": a, "end": e, "utterance": w} for s, a, e, w in expected])
    for turns in (
        parse_table(csv_text),
        parse_table(tsv_text),
        parse_srt(srt_text),
        parse_vtt(vtt_text),
        parse_json(json_text),
    ):
        got = [(t.speaker, t.start, t.end, t.text) for t in turns]
        assert [g[0] for g in got] == [x[0] for x in expected]
        assert [g[3] for g in got] == [" ".join(x[3].split()) for x in expected]
        assert all(
            g[1] == pytest.approx(x[1], abs=1e-3) and g[2] == pytest.approx(x[2], abs=1e-3)
            for g, x in zip(got, expected, strict=True)
        )


def test_negative_time_is_called_negative_not_unreadable() -> None:
    # issue 13: "-1.0" was reported as "cannot read start time"
    with pytest.raises(TranscriptError) as info:
        parse_table("Speaker,Start,End,Utterance\nClient,-1.0,2,Hello\n")
    assert info.value.problem == "Row 1 of the transcript table: the start time '-1.0' is negative."
    assert "0 or more seconds" in info.value.fix
    with pytest.raises(TranscriptError, match="cannot read end time 'soon'"):
        parse_table("Speaker,Start,End,Utterance\nClient,1.0,soon,Hello\n")
