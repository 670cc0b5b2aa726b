"""The "disagreement first" queue key: largest modality mismatch first, missing pairs skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from congruence.app.disagreement import disagreement, disagreement_total, queue_key

score = st.one_of(st.none(), st.floats(0, 1), st.just(float("nan")))


def test_max_score_then_total_orders_the_queue() -> None:
    rows = [
        {"text_face_score": 0.3, "face_voice_score": 0.2},  # max 0.3
        {"text_face_score": 0.9, "text_face_dissonance": 1.0},  # max 0.9, total 1.9
        {"text_face_score": 0.9, "face_voice_score": 0.1},  # max 0.9, total 1.0
        {},  # no modality pair: last
    ]
    keys = [queue_key(disagreement(r), disagreement_total(r), i) for i, r in enumerate(rows)]
    assert sorted(range(4), key=lambda i: keys[i]) == [1, 2, 0, 3]


def test_missing_values_are_skipped_not_zero() -> None:
    assert (
        disagreement({"text_face_score": None, "face_voice_score": float("nan"), "text_voice_score": 0.4})
        == 0.4
    )
    assert disagreement({"text_face_score": None}) is None
    assert disagreement_total({}) is None


@given(
    st.fixed_dictionaries({"text_face_score": score, "face_voice_score": score, "text_voice_score": score})
)
def test_disagreement_is_the_largest_present_score(row: dict) -> None:
    present = [v for v in row.values() if v is not None and v == v]
    assert disagreement(row) == (max(present) if present else None)


def test_model_predictions_count_as_disagreement() -> None:
    agree = {"pred_text": "none", "pred_face": "none", "pred_fusion": "none"}
    split = {"pred_text": "none", "pred_face": "contradiction", "pred_fusion": "minimizing"}
    assert disagreement(agree) == 0.0 and disagreement(split) == 1.0
    assert disagreement({"pred_text": "none"}) is None  # one model cannot disagree with itself
    # a turn on which the models split outranks one with a mild modality mismatch
    mild = {"text_face_score": 0.3}
    keys = [queue_key(disagreement(r), disagreement_total(r), i) for i, r in enumerate([mild, split])]
    assert keys[1] < keys[0]
