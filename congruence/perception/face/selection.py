"""Choosing the client's face track within a turn.

Counselling videos often show two people (client and counsellor, side by side or in split
screen) or one person. Policies:

- ``"largest"`` (default): the track with the largest ``mean box area x frames present`` - the
  face closest to the camera that stays longest, usually the person the camera is on;
- ``"left"`` / ``"right"`` / ``"center"``: among tracks present in at least half as many frames as
  the most present track (so a passing false detection does not win), the one whose mean box
  centre is leftmost / rightmost / closest to the image centre - for split-screen or two-shot
  recordings where the client always sits on one side;
- an ``int`` ``k``: the k-th track to appear in the turn (ids are given in order of appearance,
  left to right among faces that appear together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from congruence.errors import CongruenceError

POLICIES = ("largest", "left", "right", "center")
TrackPolicy = str | int


@dataclass(frozen=True)
class TrackSummary:
    """What the choice needs to know of a track: frames present, mean area, mean centre (0-1 of width)."""

    track_id: int
    n_frames: int
    mean_area: float
    mean_cx: float


def validate_policy(policy: TrackPolicy) -> TrackPolicy:
    """Return the policy if valid, else raise a :class:`CongruenceError` naming the valid choices."""
    if isinstance(policy, bool) or not (
        (isinstance(policy, int) and policy >= 0) or (isinstance(policy, str) and policy in POLICIES)
    ):
        raise CongruenceError(
            f"Unknown client_track policy {policy!r}.",
            f"Use one of {', '.join(POLICIES)} or a track index >= 0.",
        )
    return policy


def choose_track(tracks: Sequence[TrackSummary], policy: TrackPolicy = "largest") -> int | None:
    """Track id of the client's face under ``policy``, or None if there is no such track.

    >>> ts = [TrackSummary(0, 10, 900.0, 0.2), TrackSummary(1, 10, 2500.0, 0.7)]
    >>> choose_track(ts, "largest"), choose_track(ts, "left"), choose_track(ts, 0)
    (1, 0, 0)
    """
    validate_policy(policy)
    if not tracks:
        return None
    if isinstance(policy, int):
        return policy if any(t.track_id == policy for t in tracks) else None
    if policy == "largest":
        return max(tracks, key=lambda t: (t.mean_area * t.n_frames, -t.track_id)).track_id
    most = max(t.n_frames for t in tracks)
    steady = [t for t in tracks if 2 * t.n_frames >= most]
    if policy == "left":
        return min(steady, key=lambda t: (t.mean_cx, t.track_id)).track_id
    if policy == "right":
        return max(steady, key=lambda t: (t.mean_cx, -t.track_id)).track_id
    return min(steady, key=lambda t: (abs(t.mean_cx - 0.5), t.track_id)).track_id
