"""Diarization of a two-voice espeak-ng conversation, and the role heuristic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.ingest.asr import transcribe, words_of
from congruence.ingest.diarize import (
    Diarizer,
    SpeakerWindow,
    apply_roles,
    assign_roles,
    cluster_embeddings,
    counsellor_scores,
    is_question,
    label_words,
    merge_words,
    window_spans,
)
from congruence.ingest.media import Audio
from congruence.schema import Role, Turn, Word

CONVERSATION = [
    ("counsellor", "How have you been feeling since we last met?"),
    ("client", "Honestly I have been struggling with sleep and my work has been really stressful."),
    ("counsellor", "What do you think is making work so stressful right now?"),
    ("client", "My manager keeps changing the deadlines and I never know what to expect."),
    ("counsellor", "That sounds exhausting. How do you usually cope with that?"),
    ("client", "I go for long walks in the evening, and sometimes I call my sister."),
]
VOICES = {
    "counsellor": dict(voice="en-us", pitch=35, speed=150),
    "client": dict(voice="en-us+f3", pitch=70, speed=165),
}


@pytest.fixture(scope="module")
def conversation(speak):
    """(audio, truth): 16 kHz audio of alternating voices with 0.6 s pauses; truth = (role, start, end)."""
    import soxr

    chunks, truth, t = [], [], 0.0
    for role, text in CONVERSATION:
        y, sr = sf.read(speak(text, **VOICES[role]), dtype="float32")
        y = soxr.resample(y, sr, 16000).astype(np.float32)
        truth.append((role, t, t + len(y) / 16000))
        chunks += [y, np.zeros(int(0.6 * 16000), np.float32)]
        t += len(y) / 16000 + 0.6
    return Audio(np.concatenate(chunks), 16000, offset=3.0), [(r, s + 3.0, e + 3.0) for r, s, e in truth]


@pytest.fixture(scope="module")
def diarizer() -> Diarizer:
    return Diarizer()


@pytest.fixture(scope="module")
def segments(conversation):
    return transcribe(conversation[0])


@pytest.fixture(scope="module")
def diarized(conversation, segments, diarizer) -> list[Turn]:
    return diarizer.diarize(conversation[0], segments)


def _true_role(word: Word, truth) -> str:
    mid = (word.start + word.end) / 2
    return min(truth, key=lambda r: 0 if r[1] <= mid <= r[2] else min(abs(mid - r[1]), abs(mid - r[2])))[0]


def _word_accuracy(turns: list[Turn], truth, speaker_to_role: dict[str, str]) -> float:
    pairs = [(speaker_to_role.get(t.speaker), _true_role(w, truth)) for t in turns for w in t.words]
    return sum(a == b for a, b in pairs) / len(pairs)


@pytest.mark.slow
@pytest.mark.parametrize("num_speakers", [None, 2])
def test_two_voices_are_two_speakers_with_words_on_the_right_one(
    conversation, segments, diarized, num_speakers
):
    audio, truth = conversation
    turns = diarized if num_speakers is None else Diarizer(num_speakers=num_speakers).diarize(audio, segments)
    speakers = {t.speaker for t in turns}
    assert speakers == {"S1", "S2"}
    assert turns[0].speaker == "S1"  # named by first appearance
    # S1 opens the session: the counsellor's voice
    accuracy = _word_accuracy(turns, truth, {"S1": "counsellor", "S2": "client"})
    assert accuracy >= 0.9
    # consecutive words of one speaker are merged; the six utterances alternate
    assert all(a.speaker != b.speaker for a, b in itertools.pairwise(turns))
    assert 4 <= len(turns) <= 8
    assert [t.index for t in turns] == list(range(len(turns)))
    for t in turns:
        assert t.start <= t.end and t.words
        assert t.text == " ".join(w.text for w in t.words)
    n_words = sum(len(t.words) for t in turns)
    assert n_words == len(words_of(segments))


@pytest.mark.slow
def test_roles_from_the_heuristic_and_the_override(diarized):
    turns = diarized
    roles = assign_roles(turns)
    assert roles == {"S1": Role.COUNSELLOR, "S2": Role.CLIENT}
    assert assign_roles(turns, override={"S1": "client"}) == {"S1": Role.CLIENT, "S2": Role.COUNSELLOR}
    with_roles = apply_roles(turns, roles)
    assert {t.role for t in with_roles if t.speaker == "S2"} == {Role.CLIENT}
    assert turns[0].role is None  # the input turns are not modified


@pytest.mark.slow
def test_one_voice_is_one_speaker_and_no_asr_gives_vad_turns(speak, diarizer):
    import soxr

    parts = []
    for text in ("I have been thinking about it a lot.", "It keeps coming back to me at night."):
        y, sr = sf.read(speak(text, voice="en-us", pitch=40), dtype="float32")
        parts += [soxr.resample(y, sr, 16000).astype(np.float32), np.zeros(8000, np.float32)]
    audio = Audio(np.concatenate(parts), 16000)
    turns = diarizer.diarize(audio)  # no ASR segments: speaker turns from voice activity
    assert {t.speaker for t in turns} == {"S1"}
    assert len(turns) == 1 and turns[0].text == "" and turns[0].words == []
    assert 0.0 <= turns[0].start < 0.5 and turns[0].end > audio.duration - 1.0
    assert assign_roles(turns) == {"S1": Role.CLIENT}
    assert diarizer.diarize(Audio(np.zeros(16000, np.float32), 16000)) == []


@pytest.fixture(scope="module")
def one_voice(speak) -> Audio:
    """A real one-voice espeak-ng recording: one speaker, four sentences with pauses."""
    import soxr

    parts = []
    for text in (
        "I have been thinking about it a lot.",
        "It keeps coming back to me at night.",
        "Sometimes I wonder what I should have said to her.",
        "Then I try to sleep, but it does not work.",
    ):
        y, sr = sf.read(speak(text, voice="en-us", pitch=40), dtype="float32")
        parts += [soxr.resample(y, sr, 16000).astype(np.float32), np.zeros(9600, np.float32)]
    return Audio(np.concatenate(parts), 16000)


@pytest.mark.slow
def test_analyze_default_keeps_one_voice_whole_and_finds_two(one_voice, conversation, segments) -> None:
    """`congruence analyze`'s diarization settings decide the number of speakers from the data."""
    from congruence.config import AnalysisConfig

    cfg = AnalysisConfig()
    assert cfg.num_speakers is None  # not forced
    d = Diarizer(num_speakers=cfg.num_speakers, max_speakers=cfg.max_speakers)
    windows = d.speaker_windows(one_voice)
    assert len(windows) >= 4 and {w.label for w in windows} == {0}
    turns = d.diarize(conversation[0], segments)
    assert {t.speaker for t in turns} == {"S1", "S2"}
    assert _word_accuracy(turns, conversation[1], {"S1": "counsellor", "S2": "client"}) >= 0.9
    # forcing two speakers (the former default) splits the one voice: what the default avoids
    assert len({w.label for w in Diarizer(num_speakers=2).speaker_windows(one_voice)}) == 2


def test_max_speakers_caps_the_clusters_the_threshold_finds():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    emb = np.stack([centres[i % 3] + 0.05 * rng.normal(size=16) for i in range(9)])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert len(set(cluster_embeddings(emb, threshold=0.3).tolist())) == 3
    assert len(set(cluster_embeddings(emb, threshold=0.3, max_speakers=2).tolist())) == 2
    # a cap does not split one voice
    one = np.stack([centres[0] + 0.05 * rng.normal(size=16) for _ in range(5)])
    one /= np.linalg.norm(one, axis=1, keepdims=True)
    assert cluster_embeddings(one, max_speakers=2).tolist() == [0] * 5


def test_window_spans_cover_regions():
    spans = window_spans([(0.0, 3.2), (5.0, 5.3)], window_s=1.5, hop_s=0.75, min_window_s=0.8, bounds=(0, 6))
    assert spans[:4] == [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0), (1.7, 3.2)]
    assert spans[4] == (4.75, 5.55)  # a short region widened to min_window_s around its centre
    assert window_spans([(0.0, 0.2)], window_s=1.5, hop_s=0.75, min_window_s=0.8, bounds=(0, 0.5)) == [
        (0.0, 0.5)
    ]


def test_cluster_embeddings_by_threshold_or_count():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    emb = np.stack(
        [a + 0.05 * rng.normal(size=16) for _ in range(3)]
        + [b + 0.05 * rng.normal(size=16) for _ in range(3)]
    )
    emb = emb[[3, 0, 4, 1, 5, 2]]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert cluster_embeddings(emb, threshold=0.3).tolist() == [0, 1, 0, 1, 0, 1]
    assert cluster_embeddings(emb, threshold=5.0).tolist() == [0] * 6
    assert cluster_embeddings(emb, num_speakers=2).tolist() == [0, 1, 0, 1, 0, 1]
    assert cluster_embeddings(emb[:1]).tolist() == [0]
    assert cluster_embeddings(np.zeros((0, 16))).tolist() == []


def test_words_take_the_speaker_with_most_overlap_and_merge():
    windows = [SpeakerWindow(0.0, 1.5, 0), SpeakerWindow(1.4, 3.0, 1), SpeakerWindow(5.0, 6.0, 0)]
    words = [Word("hi", 0.1, 0.4), Word("there", 1.3, 1.6), Word("well", 2.0, 2.5), Word("ok", 4.5, 4.8)]
    labels = label_words(words, windows)
    assert labels == [0, 1, 1, 0]  # "there" overlaps S2's window more; "ok" takes the nearest window
    turns = merge_words(words, labels)
    assert [(t.speaker, t.text) for t in turns] == [("S1", "hi"), ("S2", "there well"), ("S1", "ok")]
    assert turns[1].start == 1.3 and turns[1].end == 2.5


def _turn(i: int, speaker: str, text: str) -> Turn:
    return Turn(index=i, speaker=speaker, text=text, start=float(i), end=float(i) + 1)


def test_counsellor_is_the_speaker_who_asks_and_talks_less():
    turns = [
        _turn(0, "S1", "I don't really know where to start, everything has been a lot lately."),
        _turn(1, "S2", "What feels most pressing for you right now?"),
        _turn(2, "S1", "Probably my job, I keep feeling like I am failing at it every single day."),
        _turn(3, "S2", "It sounds like that weighs on you. How long has it felt this way?"),
    ]
    scores = counsellor_scores(turns)
    assert scores["S2"] > scores["S1"]  # S2 asks; S1 opened but talks more and asks nothing
    assert assign_roles(turns) == {"S2": Role.COUNSELLOR, "S1": Role.CLIENT}
    # overriding one speaker decides the rest
    assert assign_roles(turns, override={"S1": Role.COUNSELLOR}) == {"S1": Role.COUNSELLOR, "S2": Role.CLIENT}
    three = [*turns, _turn(4, "S3", "Can I add something?")]
    roles = assign_roles(three, override={"S2": "counsellor"})
    assert roles == {"S2": Role.COUNSELLOR, "S1": Role.CLIENT, "S3": Role.CLIENT}


def test_bad_overrides_are_clear_errors():
    turns = [_turn(0, "S1", "Hello."), _turn(1, "S2", "How are you?")]
    with pytest.raises(CongruenceError, match="S9"):
        assign_roles(turns, override={"S9": Role.CLIENT})
    with pytest.raises(CongruenceError, match="therapist"):
        assign_roles(turns, override={"S1": "therapist"})
    assert assign_roles([]) == {}


def test_is_question():
    assert is_question("Do you want to talk about it")
    assert is_question("and then?")
    assert not is_question("Whatever happens, I am fine.")
    assert not is_question("I do not know.")


def test_diarizer_rejects_bad_settings():
    with pytest.raises(CongruenceError):
        Diarizer(num_speakers=0)
    with pytest.raises(CongruenceError):
        Diarizer(window_s=1.0, hop_s=2.0)


def test_asr_words_join_without_a_space_inside_hyphenated_words_and_contractions():
    # issue 13: "cold -hearted" (Whisper gives "cold" + "-hearted", word text stripped)
    pieces = ["I", "feel", "cold", "-hearted,", "and", "I", "don", "'t", "know", "why", "."]
    words = [Word(text=w, start=i, end=i + 0.5) for i, w in enumerate(pieces)]
    turns = merge_words(words, [0] * len(words))
    assert turns[0].text == "I feel cold-hearted, and I don't know why."






@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC", min_size=1, max_size=8), min_size=1))
def test_plain_words_join_with_single_spaces(pieces):
    from congruence.ingest.diarize import join_word

    text = ""
    for p in pieces:
        text = join_word(text, p)
    assert text == " ".join(pieces)
