"""Turn merging, time checks against the media, roles and E-THER dialogue pairs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import TranscriptError
from congruence.ingest.turns import assign_roles, check_times, merge_consecutive, parse_roles
from congruence.schema import Role, Session, Turn


def T(i, spk, start, end, text="w"):
    return Turn(index=i, speaker=spk, text=text, start=start, end=end)


turn_lists = st.lists(
    st.tuples(
        st.sampled_from("AB"), st.floats(0, 5), st.floats(0, 5), st.text("xyz ", min_size=0, max_size=8)
    ),
    min_size=0,
    max_size=20,
).map(
    lambda rows: [
        T(
            i,
            s,
            round(sum(r[1] + r[2] for r in rows[:i]), 3),
            round(sum(r[1] + r[2] for r in rows[:i]) + d, 3),
            w,
        )
        for i, (s, _, d, w) in enumerate(rows)
    ]
)


@given(turn_lists)
def test_merge_leaves_no_two_consecutive_turns_by_one_speaker(turns) -> None:
    merged = merge_consecutive(turns)
    assert all(a.speaker != b.speaker for a, b in itertools.pairwise(merged))
    # nothing is lost: the words in order, and the covered span
    assert (
        " ".join(" ".join(t.text.split()) for t in merged).split() == " ".join(t.text for t in turns).split()
    )
    if turns:
        assert merged[0].start == turns[0].start
        assert max(t.end for t in merged) == max(t.end for t in turns)
    assert [t.index for t in merged] == list(range(len(merged)))


@given(turn_lists)
def test_merge_is_idempotent(turns) -> None:
    once = merge_consecutive(turns)
    assert merge_consecutive(once) == once


def test_merge_respects_max_gap() -> None:
    turns = [T(0, "A", 0, 1), T(1, "A", 1.5, 2), T(2, "A", 10, 11)]
    assert len(merge_consecutive(turns, max_gap=2.0)) == 2
    assert len(merge_consecutive(turns)) == 1


def test_transcript_running_past_the_media_is_an_error() -> None:
    turns = [T(0, "A", 0, 2), T(1, "B", 300, 305)]
    with pytest.raises(TranscriptError) as info:
        check_times(turns, duration=60.0)
    assert "start after the media ends" in info.value.problem
    assert "time unit" in info.value.fix


def test_turn_ending_slightly_past_the_media_is_clipped() -> None:
    turns, warnings = check_times([T(0, "A", 0, 2), T(1, "B", 58, 60.4)], duration=60.0)
    assert turns[-1].end == 60.0
    assert any("clipped" in w for w in warnings)


def test_overlaps_and_empty_utterances_are_reported_not_dropped() -> None:
    turns, warnings = check_times([T(0, "A", 0, 3), T(1, "B", 2, 4, ""), T(2, "A", 4, 5)], duration=10)
    assert len(turns) == 3
    assert any("overlap" in w for w in warnings) and any("no words" in w for w in warnings)


def test_end_before_start_names_the_row() -> None:
    with pytest.raises(TranscriptError, match="Turn 2"):
        check_times([T(0, "A", 0, 1), T(1, "B", 5, 4)], duration=10)


def test_unsorted_transcript_is_sorted() -> None:
    turns, _ = check_times([T(0, "A", 5, 6), T(1, "B", 0, 1)], duration=10)
    assert [t.speaker for t in turns] == ["B", "A"]


def test_roles_from_names_override_and_heuristic() -> None:
    turns = [T(0, "Therapist", 0, 1, "How are you?"), T(1, "Patient", 1, 2, "Okay, so a two")]
    _, roles, how = assign_roles(turns)
    assert roles == {"Therapist": Role.COUNSELLOR, "Patient": Role.CLIENT} and how == "names"

    anon = [
        T(0, "S1", 0, 1, "What brings you here today?"),
        T(1, "S2", 1, 5, "I have been struggling a lot at work lately."),
    ]
    _, roles, how = assign_roles(anon)
    assert roles == {"S1": Role.COUNSELLOR, "S2": Role.CLIENT} and how == "guessed"

    _, roles, how = assign_roles(anon, parse_roles("S1=client,S2=therapist"))
    assert roles == {"S1": Role.CLIENT, "S2": Role.COUNSELLOR} and how == "given"
    # a given counsellor leaves the other speaker the client by deduction, not by a guess
    _, roles, how = assign_roles(anon, parse_roles("S2=counsellor"))
    assert roles == {"S1": Role.CLIENT, "S2": Role.COUNSELLOR} and how == "given"
    # a given client alone leaves the counsellor to the heuristic: guessed
    three = [*anon, T(2, "S3", 5, 6, "Can I add something?")]
    _, roles, how = assign_roles(three, parse_roles("S2=client"))
    assert roles["S2"] == Role.CLIENT and how == "guessed"
    # a client who asks the questions is guessed to be the counsellor: the method says so
    asking = [
        T(0, "S1", 0, 4, "I have been thinking about my job and my family for weeks now."),
        T(1, "S2", 4, 5, "Mm."),
        T(2, "S1", 5, 6, "Why do I keep doing this? What is wrong with me?"),
    ]
    _, roles, how = assign_roles(asking)
    assert how == "guessed"
    # one speaker: taken to be the client, and that is a guess too
    _, roles, how = assign_roles(anon[1:])
    assert roles == {"S2": Role.CLIENT} and how == "guessed"

    with pytest.raises(TranscriptError, match="not in the transcript"):
        assign_roles(anon, parse_roles("S9=client"))
    with pytest.raises(TranscriptError, match="Unknown role"):
        parse_roles("S1=friend")


def test_dialogue_pairs_follow_ether() -> None:
    turns, _, _ = assign_roles(
        [T(0, "Counsellor", 0, 1), T(1, "Client", 1, 2), T(2, "Counsellor", 2, 3), T(3, "Client", 3, 4)]
    )
    pairs = Session("s", turns).pairs()
    assert [(p.client.index, p.counsellor.index if p.counsellor else None) for p in pairs] == [
        (1, 2),
        (3, None),
    ]
    assert pairs[0].annotation.incongruence is None and pairs[0].annotation.engagement is None
