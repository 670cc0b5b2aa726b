"""MediaPipe face mesh (468 points + 10 iris points) on a face crop, mapped back to frame pixels."""

from __future__ import annotations

from typing import Any

import numpy as np

from congruence.errors import ModelUnavailableError
from congruence.perception.face.geometry import N_LANDMARKS


def square_crop_box(
    box: tuple[float, float, float, float], scale: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Square box of side ``scale * max(w, h)`` around a detection's centre (may extend past the image).

    >>> square_crop_box((10, 10, 30, 50), 1.0, 100, 100)
    (0, 10, 40, 50)
    """
    x1, y1, x2, y2 = box
    side = scale * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx1, sy1 = round(cx - side / 2), round(cy - side / 2)
    s = max(round(side), 1)
    return sx1, sy1, sx1 + s, sy1 + s


def crop_padded(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Crop ``[x1, y1, x2, y2]`` from an image, padding with edge pixels where the box leaves it."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad:
        pad_spec = ((pad, pad), (pad, pad)) + ((0, 0),) * (image.ndim - 2)
        image = np.pad(image, pad_spec, mode="edge")
        x1, y1, x2, y2 = x1 + pad, y1 + pad, x2 + pad, y2 + pad
    return np.ascontiguousarray(image[y1:y2, x1:x2])


class FaceMesher:
    """478-point MediaPipe face mesh with irises on a square crop around a detected face.

    Args:
        crop_scale: crop side as a multiple of the detection's longer side; MediaPipe's own
            detector inside the mesh graph needs some context around the face.
        max_side: the crop is resized down to at most this side before the mesh runs.
    """

    def __init__(self, *, crop_scale: float = 1.8, max_side: int = 256) -> None:
        self.crop_scale = crop_scale
        self.max_side = max_side
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                import mediapipe as mp
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise ModelUnavailableError(
                    "mediapipe is not installed.", "Run `bash scripts/install.sh` (mediapipe==0.10.21)."
                ) from e
            self._model = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
            )
        return self._model

    def landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """Landmarks (478, 3) in frame pixels (z in x-pixel units), or None if no mesh was found."""
        import cv2

        h, w = image.shape[:2]
        cb = square_crop_box(box, self.crop_scale, w, h)
        crop = crop_padded(image, cb)
        side = crop.shape[0]
        if side > self.max_side:
            crop = cv2.resize(crop, (self.max_side, self.max_side), interpolation=cv2.INTER_AREA)
        res = self._load().process(crop)
        faces = res.multi_face_landmarks or []
        if not faces or len(faces[0].landmark) < N_LANDMARKS:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in faces[0].landmark[:N_LANDMARKS]], dtype=float)
        # normalised crop coordinates -> frame pixels (the crop is square, so one scale for x, y, z)
        return np.column_stack([cb[0] + pts[:, 0] * side, cb[1] + pts[:, 1] * side, pts[:, 2] * side])

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None
