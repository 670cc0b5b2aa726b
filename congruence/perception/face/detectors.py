"""Face detectors behind the registry family ``"face.detector"``.

- ``"mediapipe"`` (default): MediaPipe BlazeFace (Bazarevsky et al., 2019) from the
  ``mediapipe==0.10.21`` wheel, which carries the short- and full-range models.
- ``"mtcnn"``: MTCNN (Zhang et al., 2016) from ``facenet-pytorch``, the detector of the
  interventions paper (docs/references.md#interventions, appendix). torchvision is not
  installable beside the pinned torch, so pure-torch stand-ins for the two functions it imports are
  put in ``sys.modules`` only while it is imported (see ``_torchvision_shim``).

Both return :class:`Detection` boxes in pixels with the detector's confidence; models load on the
first call and are cached per instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from congruence.errors import ModelUnavailableError


@dataclass(frozen=True)
class Detection:
    """A face box ``[x1, y1, x2, y2]`` in pixels of the frame and the detector's confidence."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image (H, W, 3)."""
        ...

    def config(self) -> dict[str, Any]: ...


def _clip_box(box: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))


class MediaPipeDetector:
    """MediaPipe face detection (BlazeFace).

    Args:
        model_range: ``"short"`` (faces within ~2 m of the camera) or ``"full"`` (up to ~5 m).
        min_confidence: detections below this score are dropped by MediaPipe itself.
    """

    name = "mediapipe"

    def __init__(self, *, model_range: str = "full", min_confidence: float = 0.5) -> None:
        if model_range not in ("short", "full"):
            raise ValueError(f"model_range must be 'short' or 'full', got {model_range!r}")
        self.model_range = model_range
        self.min_confidence = min_confidence
        self._model: Any = None

    def config(self) -> dict[str, Any]:
        return {"detector": "mediapipe-blazeface-0.10.21", "range": self.model_range}

    def _load(self) -> Any:
        if self._model is None:
            try:
                import mediapipe as mp
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise ModelUnavailableError(
                    "mediapipe is not installed.", "Run `bash scripts/install.sh` (mediapipe==0.10.21)."
                ) from e
            self._model = mp.solutions.face_detection.FaceDetection(
                model_selection=1 if self.model_range == "full" else 0,
                min_detection_confidence=self.min_confidence,
            )
        return self._model

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        res = self._load().process(np.ascontiguousarray(image))
        out = []
        for det in res.detections or []:
            bb = det.location_data.relative_bounding_box
            box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h])
            clipped = _clip_box(box, w, h)
            if clipped[2] - clipped[0] >= 2 and clipped[3] - clipped[1] >= 2:
                out.append(Detection(clipped, float(det.score[0])))
        return out

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


class MTCNNDetector:
    """MTCNN from facenet-pytorch (reference detector of the interventions paper).

    Args:
        min_face_size: smallest face side in pixels that is searched for.
        min_confidence: detections below this probability are dropped.
    """

    name = "mtcnn"

    def __init__(self, *, min_face_size: int = 20, min_confidence: float = 0.5) -> None:
        self.min_face_size = min_face_size
        self.min_confidence = min_confidence
        self._model: Any = None

    def config(self) -> dict[str, Any]:
        return {"detector": "facenet-pytorch-2.6.0-mtcnn", "min_face_size": self.min_face_size}

    def _load(self) -> Any:
        if self._model is None:
            from congruence.perception.face._torchvision_shim import torchvision_standins

            try:
                with torchvision_standins():
                    from facenet_pytorch import MTCNN
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise ModelUnavailableError(
                    "facenet-pytorch is not installed.",
                    "pip install --no-deps facenet-pytorch==2.6.0 (its metadata pins an old torch).",
                ) from e
            self._model = MTCNN(keep_all=True, device="cpu", min_face_size=self.min_face_size)
        return self._model

    def detect(self, image: np.ndarray) -> list[Detection]:
        import torch

        h, w = image.shape[:2]
        with torch.no_grad():
            boxes, probs = self._load().detect(np.ascontiguousarray(image))
        if boxes is None:
            return []
        out = []
        for box, p in zip(boxes, probs, strict=True):
            if p is None or float(p) < self.min_confidence:
                continue
            clipped = _clip_box(np.asarray(box, dtype=float), w, h)
            if clipped[2] - clipped[0] >= 2 and clipped[3] - clipped[1] >= 2:
                out.append(Detection(clipped, float(p)))
        return out
