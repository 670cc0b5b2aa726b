"""Face perception per client turn: detection, tracking, expression, valence/arousal, AU proxies,
head pose, gaze and engagement (see :mod:`congruence.perception.face.analyzer`).

Importing this package loads no model. Its registry families (:data:`congruence.registry.ENTRIES`):

- ``"face.analyzer"``: ``"default"`` -> :class:`~congruence.perception.face.analyzer.FaceAnalyzer`
- ``"face.detector"``: ``"mediapipe"`` (default), ``"mtcnn"``
- ``"face.va"``: ``"proxy"`` (default), ``"onnx"``, ``"emonet"`` / ``"torch"``

Options of the analyzer chosen by name (``[face]`` config section): ``expression`` =
``"ensemble"`` (default; mean of fer and facex), ``"fer"``, ``"facex"``
(:mod:`.expression`); ``au_source`` = ``"blendshapes"`` (default; MediaPipe FaceLandmarker v2,
:mod:`.blendshapes`), ``"mesh"`` (geometric proxies, :mod:`.geometry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from congruence.perception.face.analyzer import FaceAnalyzer

__all__ = ["FaceAnalyzer"]


def __getattr__(name: str) -> Any:
    # lazy so that `import congruence.perception.face` stays cheap (no cv2 / pandas / scipy)
    if name == "FaceAnalyzer":
        from congruence.perception.face.analyzer import FaceAnalyzer

        return FaceAnalyzer
    raise AttributeError(name)
