"""SORT-style multi-face tracking: a Kalman filter per face and Hungarian matching on IoU.

SORT (Bewley, Ge, Ott, Ramos & Upcroft, 2016, "Simple Online and Realtime Tracking") predicts
every track's box with a constant-velocity Kalman filter, matches detections to predictions by
maximum total IoU (Hungarian algorithm) and starts a track for every unmatched detection. The
interventions paper (docs/references.md#interventions, appendix) tracks MTCNN boxes this way.

This is a fresh implementation (the original SORT code is GPL and was not used). Design choices
that differ from it: the state is ``[cx, cy, w, h, vcx, vcy, vw, vh]`` and the process and
measurement noise scale with the box height, as in ByteTrack / DeepSORT, so one set of constants
works for faces of any size.

>>> t = SortTracker()
>>> [m[0] for m in t.update(np.array([[10, 10, 50, 60.0]]))]
[0]
>>> [m[0] for m in t.update(np.array([[14, 11, 54, 61.0]]))]
[0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes ``[x1, y1, x2, y2]``.

    ``IoU = |A ∩ B| / |A ∪ B|``; 0 for disjoint or degenerate boxes, 1 for identical ones.

    >>> iou(np.array([0, 0, 2, 2.0]), np.array([1, 0, 3, 2.0]))
    0.3333333333333333
    """
    return float(iou_matrix(np.asarray(a, float)[None], np.asarray(b, float)[None])[0, 0])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4) as ``[x1, y1, x2, y2]`` -> (N, M) in [0, 1]."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    # rounding can push inter/union a hair above 1 for identical boxes
    return np.clip(out, 0.0, 1.0)


def associate(
    detections: np.ndarray, predictions: np.ndarray, iou_threshold: float = 0.3
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Match detections to predicted track boxes by maximum total IoU (Hungarian algorithm).

    Returns ``(matches as (detection, track) pairs, unmatched detections, unmatched tracks)``;
    a pair whose IoU is below ``iou_threshold`` is not a match.
    """
    n_det, n_trk = len(detections), len(predictions)
    if n_det == 0 or n_trk == 0:
        return [], list(range(n_det)), list(range(n_trk))
    overlap = iou_matrix(detections, predictions)
    rows, cols = linear_sum_assignment(-overlap)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= iou_threshold]
    matched_d = {m[0] for m in matches}
    matched_t = {m[1] for m in matches}
    return (
        matches,
        [d for d in range(n_det) if d not in matched_d],
        [t for t in range(n_trk) if t not in matched_t],
    )


def _to_state(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=float)


def _to_box(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = z[:4]
    w, h = max(w, 1e-3), max(h, 1e-3)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class KalmanBox:
    """Constant-velocity Kalman filter over ``[cx, cy, w, h]`` and their velocities (per step).

    Noise standard deviations are fractions of the box height (position 1/20, velocity 1/160,
    the weights ByteTrack uses), so a large and a small face are tracked with the same constants.
    """

    box: np.ndarray
    pos_std: float = 1 / 20
    vel_std: float = 1 / 160
    x: np.ndarray = field(init=False)
    p: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        z = _to_state(np.asarray(self.box, dtype=float))
        self.x = np.concatenate([z, np.zeros(4)])
        h = max(z[3], 1.0)
        std = np.array([2 * self.pos_std * h] * 4 + [10 * self.vel_std * h] * 4)
        self.p = np.diag(std**2)
        self._f = np.eye(8)
        self._f[:4, 4:] = np.eye(4)
        self._h = np.eye(4, 8)

    def predict(self) -> np.ndarray:
        h = max(self.x[3], 1.0)
        q = np.diag(np.array([self.pos_std * h] * 4 + [self.vel_std * h] * 4) ** 2)
        self.x = self._f @ self.x
        self.p = self._f @ self.p @ self._f.T + q
        return _to_box(self.x)

    def update(self, box: np.ndarray) -> None:
        z = _to_state(np.asarray(box, dtype=float))
        r = np.diag(np.full(4, self.pos_std * max(self.x[3], 1.0)) ** 2)
        s = self._h @ self.p @ self._h.T + r
        k = np.linalg.solve(s, self._h @ self.p).T  # P H^T S^-1 (S symmetric)
        self.x = self.x + k @ (z - self._h @ self.x)
        self.p = (np.eye(8) - k @ self._h) @ self.p

    @property
    def current(self) -> np.ndarray:
        return _to_box(self.x)


@dataclass
class _Track:
    track_id: int
    kf: KalmanBox
    hits: int = 1
    misses: int = 0


class SortTracker:
    """Online tracker: call :meth:`update` once per frame with that frame's detections.

    Args:
        iou_threshold: minimum IoU between a detection and a predicted box to continue a track.
        max_age: frames a track survives without a matching detection before it is dropped.

    Track ids are 0, 1, 2, ... in order of creation; detections that start tracks in the same
    frame are numbered left to right, so ids are reproducible.
    """

    def __init__(self, *, iou_threshold: float = 0.3, max_age: int = 3) -> None:
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self._tracks: list[_Track] = []
        self._next_id = 0

    def update(self, boxes: np.ndarray) -> list[tuple[int, int]]:
        """Advance one frame; returns ``(track_id, detection_index)`` for every detection."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        predictions = np.array([t.kf.predict() for t in self._tracks]).reshape(-1, 4)
        matches, new_dets, lost = associate(boxes, predictions, self.iou_threshold)
        out: list[tuple[int, int]] = []
        for d, t in matches:
            track = self._tracks[t]
            track.kf.update(boxes[d])
            track.hits += 1
            track.misses = 0
            out.append((track.track_id, d))
        for t in lost:
            self._tracks[t].misses += 1
        self._tracks = [t for t in self._tracks if t.misses <= self.max_age]
        for d in sorted(new_dets, key=lambda i: (boxes[i, 0], boxes[i, 1])):
            self._tracks.append(_Track(self._next_id, KalmanBox(boxes[d])))
            out.append((self._next_id, d))
            self._next_id += 1
        return sorted(out, key=lambda m: m[1])

    @property
    def active_ids(self) -> list[int]:
        return [t.track_id for t in self._tracks]
