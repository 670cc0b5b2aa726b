"""Face geometry from the 478-point MediaPipe face mesh: action-unit proxies, head pose and gaze.

No action-unit intensity model (OpenFace, LibreFace, py-feat) is installable offline, so the
``au*`` values here are geometric PROXIES: distances between mesh landmarks in a face-aligned
frame, divided by the inter-ocular distance (outer eye corners), in the spirit of the FACS
appearance changes each action unit produces (Ekman & Friesen, 1978). They are oriented so that a
larger value means more of the action; a distance that shrinks with the action is negated. Their
raw level depends on the person's face shape: compare them within a person (``finalize`` z-scores
them against the person's most neutral turns), not across people.

All functions take landmarks as an array (478, 3) in pixels of the full frame:
``x = x_norm * W``, ``y = y_norm * H``, ``z = z_norm * W`` (MediaPipe's z uses the x scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_LANDMARKS = 478  # 468 mesh points + 2 x 5 iris points (refine_landmarks=True)

# MediaPipe canonical face mesh indices; "r" is the subject's right (image left in a selfie view).
EYE_R_OUTER, EYE_R_INNER, EYE_L_OUTER, EYE_L_INNER = 33, 133, 263, 362
LID_R_UPPER, LID_R_LOWER, LID_L_UPPER, LID_L_LOWER = 159, 145, 386, 374
# Eye aspect ratio points (p1..p6 of Soukupova & Cech, 2016): corner, 2 upper, corner, 2 lower.
EAR_R = (33, 160, 158, 133, 153, 144)
EAR_L = (362, 385, 387, 263, 373, 380)
IRIS_R, IRIS_L = 468, 473
BROW_R_INNER, BROW_R_OUTER, BROW_L_INNER, BROW_L_OUTER = 107, 70, 336, 300
MOUTH_R, MOUTH_L = 61, 291
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
NOSE_TIP, SUBNASALE, CHIN, FOREHEAD = 1, 2, 152, 10
CHEEK_R, CHEEK_L = 118, 347

AU_NAMES = ("au01", "au02", "au04", "au05", "au06", "au12", "au15", "au25", "au26", "au45")
AU_LABELS = {
    "au01": "inner brow raiser",
    "au02": "outer brow raiser",
    "au04": "brow lowerer",
    "au05": "upper lid raiser",
    "au06": "cheek raiser",
    "au12": "lip corner puller",
    "au15": "lip corner depressor",
    "au25": "lips part",
    "au26": "jaw drop",
    "au45": "blink (eye closure)",
}

# Mouth width / IOD of a non-smiling mouth (0.48-0.58 on skimage's astronaut and py-feat's test media)
MOUTH_WIDTH_AT_REST = 0.55
# Eye aspect ratio of an open and of a closed eye; Soukupova & Cech (2016) threshold blinks near 0.2.
EAR_OPEN, EAR_CLOSED = 0.28, 0.12


def face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """A face-aligned orthonormal frame and the inter-ocular distance.

    ``ex`` runs from the right to the left outer eye corner, ``ey`` from forehead to chin
    (orthogonalised against ``ex``) and ``ez = ex x ey``. Returns ``(origin, R, iod)`` with ``R``
    rows ``ex, ey, ez``; ``(lm - origin) @ R.T`` are coordinates in that frame, which removes roll
    and most of the yaw/pitch foreshortening from the distances below.
    """
    lm = np.asarray(lm, dtype=float)
    ex = lm[EYE_L_OUTER] - lm[EYE_R_OUTER]
    iod = float(np.linalg.norm(ex))
    if iod < 1e-6:
        raise ValueError("degenerate landmarks: eye corners coincide")
    ex = ex / iod
    down = lm[CHIN] - lm[FOREHEAD]
    ey = down - (down @ ex) * ex
    ey = ey / max(float(np.linalg.norm(ey)), 1e-9)
    ez = np.cross(ex, ey)
    origin = (lm[EYE_L_OUTER] + lm[EYE_R_OUTER]) / 2
    return origin, np.stack([ex, ey, ez]), iod


def eye_aspect_ratio(lm: np.ndarray, idx: tuple[int, int, int, int, int, int]) -> float:
    """EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) (Soukupova & Cech, 2016); ~0.3 open, ~0 closed."""
    p = np.asarray(lm, dtype=float)[list(idx), :2]
    width = np.linalg.norm(p[0] - p[3])
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * max(width, 1e-9)))


def eye_closure(ear: float, ear_open: float = EAR_OPEN, ear_closed: float = EAR_CLOSED) -> float:
    """AU45 proxy: ``clip((EAR_open - EAR) / (EAR_open - EAR_closed), 0, 1)``; 0 open, 1 closed.

    >>> eye_closure(0.30), eye_closure(0.05)
    (0.0, 1.0)
    """
    return float(np.clip((ear_open - ear) / (ear_open - ear_closed), 0.0, 1.0))


def au_proxies(lm: np.ndarray) -> dict[str, float]:
    """Action-unit PROXIES from one face mesh, in inter-ocular-distance (IOD) units.

    With ``y`` pointing down the face (face-aligned frame, see :func:`face_frame`) and each value
    averaged over the left and right side:

    - ``au01`` inner brow raiser: height of the inner brow end above the inner eye corner / IOD.
    - ``au02`` outer brow raiser: height of the outer brow end above the outer eye corner / IOD.
    - ``au04`` brow lowerer: ``-(inner brow gap + inner brow height) / IOD`` (brows drawn together
      and down).
    - ``au05`` upper lid raiser: height of the upper lid above the iris centre / IOD.
    - ``au06`` cheek raiser: ``-(lower lid to cheek distance) / IOD`` (the cheek rises toward the eye).
    - ``au12`` lip corner puller: height of the lip corners above the inner-lip midpoint / IOD plus
      half the mouth width in excess of 0.55 IOD (corners move up and out; 0.55 is a typical
      non-smiling width, 0.48-0.58 on the test photos, smiles reach 0.7-0.78).
    - ``au15`` lip corner depressor: depth of the lip corners below the upper-lip centre line / IOD
      (sad mouths have corners below the lips' midline).
    - ``au25`` lips part: inner-lip gap / IOD.
    - ``au26`` jaw drop: subnasale-to-chin distance / IOD.
    - ``au45`` blink: eye closure from the eye aspect ratio, in [0, 1] (:func:`eye_closure`).

    These are geometric proxies of FACS actions (Ekman & Friesen, 1978), not calibrated intensities.
    """
    lm = np.asarray(lm, dtype=float)
    origin, rot, iod = face_frame(lm)
    f = (lm - origin) @ rot.T / iod  # face-aligned coordinates in IOD units

    def up(a: int, b: int) -> float:  # how far landmark a lies above landmark b
        return float(f[b, 1] - f[a, 1])

    au01 = (up(BROW_R_INNER, EYE_R_INNER) + up(BROW_L_INNER, EYE_L_INNER)) / 2
    au02 = (up(BROW_R_OUTER, EYE_R_OUTER) + up(BROW_L_OUTER, EYE_L_OUTER)) / 2
    brow_gap = float(np.linalg.norm(f[BROW_L_INNER, :2] - f[BROW_R_INNER, :2]))
    au04 = -(brow_gap + au01)
    au05 = (up(LID_R_UPPER, IRIS_R) + up(LID_L_UPPER, IRIS_L)) / 2
    au06 = (
        -(
            float(np.linalg.norm(f[CHEEK_R, :2] - f[LID_R_LOWER, :2]))
            + float(np.linalg.norm(f[CHEEK_L, :2] - f[LID_L_LOWER, :2]))
        )
        / 2
    )
    lip_mid_y = (f[LIP_UPPER_INNER, 1] + f[LIP_LOWER_INNER, 1]) / 2
    corner_y = (f[MOUTH_R, 1] + f[MOUTH_L, 1]) / 2
    width = float(np.linalg.norm(f[MOUTH_L, :2] - f[MOUTH_R, :2]))
    au12 = float(lip_mid_y - corner_y) + 0.5 * (width - MOUTH_WIDTH_AT_REST)
    au15 = float(corner_y - f[LIP_UPPER_INNER, 1])
    au25 = float(np.linalg.norm(f[LIP_LOWER_INNER, :2] - f[LIP_UPPER_INNER, :2]))
    au26 = float(np.linalg.norm(f[CHIN, :2] - f[SUBNASALE, :2]))
    ear = (eye_aspect_ratio(lm, EAR_R) + eye_aspect_ratio(lm, EAR_L)) / 2
    au45 = eye_closure(ear)
    return {
        "au01": au01,
        "au02": au02,
        "au04": au04,
        "au05": au05,
        "au06": au06,
        "au12": au12,
        "au15": au15,
        "au25": au25,
        "au26": au26,
        "au45": au45,
    }


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees relative to the camera's line of sight to the face.

    ``yaw`` > 0: the face turns toward image right; ``pitch`` > 0: the face tilts up; ``roll`` > 0:
    the head tilts clockwise in the image. ``to_camera_deg`` is the angle between the face's
    forward direction and the line to the camera (0 = facing the camera).
    """

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray  # 3x3, face frame -> camera axes (x right, y down, z away from the camera)
    to_camera_deg: float


def head_pose(lm: np.ndarray) -> HeadPose:
    """Head pose from the mesh's own 3D landmarks (MediaPipe's z is a depth in the x scale).

    The face frame of :func:`face_frame` (eye-corner line, forehead-to-chin line, their normal)
    *is* the head rotation: its axes as columns map face axes to camera axes. Because the mesh runs
    on a crop centred on the face, the angles are relative to the line of sight to the face,
    which is what "facing the camera" needs. The forehead-chin line leans back a little on most
    faces, so a face looking straight into the camera reads a pitch of about -1 to -11 degrees
    (measured on skimage's astronaut and py-feat's frontal test photos): compare pitch within a
    person. Roll and yaw have no such offset for a symmetric face.
    """
    _, rows, _ = face_frame(lm)
    return pose_from_rotation(rows.T)


def pose_from_rotation(rot: np.ndarray) -> HeadPose:
    """Yaw/pitch/roll (degrees) and the face-to-camera angle from a face->camera rotation.

    Decomposition ``R = Rz(c) Ry(b) Rx(a)`` in camera axes (x right, y down, z away):
    ``b = asin(-R[2,0])``, ``a = atan2(R[2,1], R[2,2])``, ``c = atan2(R[1,0], R[0,0])``;
    reported as ``yaw = -b``, ``pitch = -a``, ``roll = c`` so the documented directions are
    positive. The face looks along its own ``-z``, so its forward direction is ``-R[:, 2]`` and
    the angle to the camera (along ``-z`` of the camera) is ``acos(R[2, 2])``.

    >>> p = pose_from_rotation(np.eye(3))
    >>> p.yaw, p.pitch, p.roll, p.to_camera_deg
    (0.0, 0.0, 0.0, 0.0)
    """
    rot = np.asarray(rot, dtype=float)
    b = math.asin(float(np.clip(-rot[2, 0], -1.0, 1.0)))
    a = math.atan2(rot[2, 1], rot[2, 2])
    c = math.atan2(rot[1, 0], rot[0, 0])
    return HeadPose(
        yaw=0.0 - math.degrees(b),  # 0.0 - x avoids printing -0.0
        pitch=0.0 - math.degrees(a),
        roll=math.degrees(c),
        rotation=rot,
        to_camera_deg=math.degrees(math.acos(float(np.clip(rot[2, 2], -1.0, 1.0)))),
    )


# Eyeball radius ~12 mm and half palpebral-fissure width ~15 mm (adult averages): an iris offset of
# r eye half-widths is a rotation of about asin(15/12 * r).
_EYE_HALF_WIDTH_OVER_RADIUS = 1.25
# The iris centre sits above the line between the eye corners when a person looks straight ahead:
# 0.03-0.20 half-widths (mean ~0.13) on skimage's astronaut and py-feat's frontal test photos.
IRIS_Y_AT_REST = 0.13


@dataclass(frozen=True)
class Gaze:
    """Iris position within the eye and the resulting gaze direction.

    ``x``: horizontal iris offset from the eye centre in eye half-widths (> 0 toward image right);
    ``y``: vertical offset in eye half-widths, relative to the resting position (> 0 up);
    ``yaw`` / ``pitch``: eye-in-head angles in degrees; ``at_camera``: score in [0, 1] that the
    gaze (head and eyes together) points at the camera.
    """

    x: float
    y: float
    yaw: float
    pitch: float
    at_camera: float


def iris_offsets(lm: np.ndarray) -> tuple[float, float]:
    """Mean iris-centre offset from the eye-corner midpoint, in eye half-widths, face-aligned frame.

    ``x > 0``: toward image right (the subject's left); ``y > 0``: up, minus :data:`IRIS_Y_AT_REST`.
    """
    lm = np.asarray(lm, dtype=float)
    origin, rot, _ = face_frame(lm)
    f = (lm - origin) @ rot.T
    xs, ys = [], []
    for outer, inner, iris in ((EYE_R_OUTER, EYE_R_INNER, IRIS_R), (EYE_L_OUTER, EYE_L_INNER, IRIS_L)):
        center = (f[outer, :2] + f[inner, :2]) / 2
        half = max(float(np.linalg.norm(f[outer, :2] - f[inner, :2])) / 2, 1e-9)
        xs.append((f[iris, 0] - center[0]) / half)
        ys.append(-(f[iris, 1] - center[1]) / half)
    return float(np.mean(xs)), float(np.mean(ys)) - IRIS_Y_AT_REST


def gaze_at_camera_score(angle_deg: float, sigma_deg: float = 12.0) -> float:
    """``exp(-angle^2 / (2 sigma^2))``: 1 when gaze points at the camera, ~0.6 at sigma.

    People judge gaze as direct within a cone a few degrees wide (Gamer & Hecht, 2007); sigma is
    wider to absorb the error of a monocular landmark estimate.

    >>> gaze_at_camera_score(0.0), round(gaze_at_camera_score(12.0), 3)
    (1.0, 0.607)
    """
    return float(math.exp(-0.5 * (angle_deg / sigma_deg) ** 2))


def gaze(lm: np.ndarray, pose: HeadPose) -> Gaze:
    """Gaze from iris offsets (eye-in-head) combined with the head pose (head-in-camera).

    Eye-in-head angles: ``yaw_e = asin(clip(1.25 x))``, ``pitch_e = asin(clip(1.25 y))`` (offsets in
    half-widths; 1.25 = half eye width / eyeball radius). The gaze ray is the head's forward
    direction ``-z`` turned by those angles inside the head frame, then rotated into camera axes;
    ``at_camera`` scores its angle to the line of sight with :func:`gaze_at_camera_score`.
    """
    x, y = iris_offsets(lm)
    yaw_e = math.degrees(math.asin(float(np.clip(_EYE_HALF_WIDTH_OVER_RADIUS * x, -1, 1))))
    pitch_e = math.degrees(math.asin(float(np.clip(_EYE_HALF_WIDTH_OVER_RADIUS * y, -1, 1))))
    ay, ap = math.radians(yaw_e), math.radians(pitch_e)
    # head axes: x image right, y down, z away; eyes turned right (+x) and up (-y)
    d_head = np.array([math.sin(ay) * math.cos(ap), -math.sin(ap), -math.cos(ay) * math.cos(ap)])
    d_cam = pose.rotation @ d_head
    angle = math.degrees(math.acos(float(np.clip(-d_cam[2], -1.0, 1.0))))
    return Gaze(x=x, y=y, yaw=yaw_e, pitch=pitch_e, at_camera=gaze_at_camera_score(angle))
