"""SORT tracking (Kalman + Hungarian IoU matching) and the choice of the client's track."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.perception.face.selection import TrackSummary, choose_track, validate_policy
from congruence.perception.face.sort import KalmanBox, SortTracker, associate, iou, iou_matrix

coord = st.floats(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw: st.DrawFn) -> np.ndarray:
    x1, y1 = draw(coord), draw(coord)
    w = draw(st.floats(min_value=0, max_value=500, allow_nan=False))
    h = draw(st.floats(min_value=0, max_value=500, allow_nan=False))
    return np.array([x1, y1, x1 + w, y1 + h])


@given(boxes(), boxes())
def test_iou_is_bounded_and_symmetric(a: np.ndarray, b: np.ndarray) -> None:
    v = iou(a, b)
    assert 0.0 <= v <= 1.0
    assert v == pytest.approx(iou(b, a), abs=1e-12)


@given(boxes())
def test_iou_of_a_box_with_itself_is_one(a: np.ndarray) -> None:
    area = (a[2] - a[0]) * (a[3] - a[1])
    assert iou(a, a) == pytest.approx(1.0 if area > 0 else 0.0)


def test_iou_known_values() -> None:
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert iou(a, np.array([5.0, 0.0, 15.0, 10.0])) == pytest.approx(50 / 150)
    assert iou(a, np.array([20.0, 20.0, 30.0, 30.0])) == 0.0
    assert iou_matrix(np.zeros((0, 4)), a[None]).shape == (0, 1)


def test_associate_matches_by_overlap_and_rejects_weak_pairs() -> None:
    dets = np.array([[100, 0, 150, 50], [0, 0, 50, 50], [500, 500, 520, 520.0]])
    preds = np.array([[2, 1, 52, 51], [103, 2, 152, 52.0]])
    matches, new, lost = associate(dets, preds, iou_threshold=0.3)
    assert sorted(matches) == [(0, 1), (1, 0)]
    assert new == [2] and lost == []


def test_a_box_moving_across_frames_keeps_one_id() -> None:
    tracker = SortTracker()
    ids = []
    for k in range(40):
        x = 10.0 + 8.0 * k  # 8 px per frame, a 60 px face: IoU between frames ~0.76
        (match,) = tracker.update(np.array([[x, 50.0, x + 60.0, 120.0]]))
        ids.append(match[0])
    assert set(ids) == {0}


def test_kalman_learns_the_velocity() -> None:
    kf = KalmanBox(np.array([0.0, 0.0, 50.0, 50.0]))
    for k in range(1, 15):
        kf.predict()
        kf.update(np.array([10.0 * k, 0.0, 10.0 * k + 50.0, 50.0]))
    # the prediction for the next frame is ahead of the last measurement, near x1 = 150
    assert kf.predict()[0] == pytest.approx(150.0, abs=5.0)


def test_two_boxes_keep_two_ids_numbered_left_to_right() -> None:
    tracker = SortTracker()
    seen: dict[int, list[float]] = {0: [], 1: []}
    for k in range(30):
        right = [300.0 - 3 * k, 40.0, 380.0 - 3 * k, 130.0]
        left = [20.0 + 3 * k, 60.0, 90.0 + 3 * k, 140.0]
        dets = np.array([right, left])  # the right face first: ids must still go left to right
        for tid, d in tracker.update(dets):
            seen[tid].append(dets[d][0])
    assert set(seen) == {0, 1}
    assert all(x < 200 for x in seen[0]) and all(x > 200 for x in seen[1])
    assert len(seen[0]) == len(seen[1]) == 30


def test_a_short_gap_keeps_the_id_and_a_long_one_starts_a_new_track() -> None:
    box = np.array([[100.0, 100.0, 160.0, 170.0]])
    tracker = SortTracker(max_age=3)
    tracker.update(box)
    for _ in range(3):
        tracker.update(np.empty((0, 4)))
    assert tracker.update(box) == [(0, 0)]
    for _ in range(4):
        tracker.update(np.empty((0, 4)))
    assert tracker.update(box) == [(1, 0)]


# ---------------------------------------------------------------- choice of the client's track

TRACKS = [
    TrackSummary(track_id=0, n_frames=10, mean_area=900.0, mean_cx=0.15),  # small, left
    TrackSummary(track_id=1, n_frames=10, mean_area=4000.0, mean_cx=0.55),  # large, centre
    TrackSummary(track_id=2, n_frames=10, mean_area=1600.0, mean_cx=0.85),  # right
    TrackSummary(track_id=3, n_frames=2, mean_area=9000.0, mean_cx=0.95),  # brief false alarm
]


@pytest.mark.parametrize(
    ("policy", "expected"), [("largest", 1), ("left", 0), ("right", 2), ("center", 1), (2, 2), (7, None)]
)
def test_choose_track_policies(policy: str | int, expected: int | None) -> None:
    assert choose_track(TRACKS, policy) == expected


def test_largest_weighs_area_by_presence() -> None:
    # a face twice as large but present in a quarter of the frames loses
    ts = [TrackSummary(0, 40, 1000.0, 0.3), TrackSummary(1, 10, 2000.0, 0.7)]
    assert choose_track(ts, "largest") == 0
    assert choose_track([], "largest") is None


@pytest.mark.parametrize("bad", ["biggest", -1, 1.5, True])
def test_unknown_policy_is_a_clear_error(bad: object) -> None:
    with pytest.raises(CongruenceError, match="client_track"):
        validate_policy(bad)  # type: ignore[arg-type]
