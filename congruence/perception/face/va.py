"""Facial valence / arousal behind the registry family ``"face.va"``.

- ``"proxy"`` (default): a PROXY from the FER-2013 expression distribution placed on Russell's
  circumplex, blended with lip-corner geometry. No facial valence/arousal regressor is installable
  offline, so this is what runs out of the box; it is not a calibrated estimate.
- ``"onnx"``: an HSEmotion/EmotiEffLib-style regressor exported to ONNX, run with onnxruntime.
- ``"emonet"`` / ``"torch"``: an EmoNet-style torch model (Toisoul et al., 2021, the model of the
  interventions paper) from a TorchScript file, a state dict plus a model factory, or (only when
  ``allow_pickle=True``) a pickled module.

Plug-in models read a local file, take an RGB face crop and return valence and arousal (and
expression logits where the model has them); their outputs are marked ``Kind.MODEL``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.perception.face.expression import EXPRESSIONS
from congruence.provenance import Kind

# Approximate positions (valence, arousal) of the FER-2013 classes on Russell's (1980) circumplex,
# read off the placement of the nearest emotion words ("happy/pleased", "angry", "afraid",
# "annoyed/disgusted", "sad/miserable", "astonished") in Russell (1980, Fig. 2) and the circumplex
# drawn by Posner, Russell & Peterson (2005, Fig. 1), rounded to one decimal. A documented choice,
# not values fitted to data.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": (-0.5, 0.7),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.7),
    "happy": (0.8, 0.3),
    "sad": (-0.7, -0.4),
    "surprise": (0.2, 0.8),
    "neutral": (0.0, 0.0),
}

# Lip-corner geometry weight and scale (au12 in inter-ocular units: smiles and laughs read 0.12-0.17
# on the test photos and video, neutral and sad mouths -0.03 to 0.05).
GEOMETRY_WEIGHT = 0.2
SMILE_SCALE = 0.08


def circumplex_va(probs: Sequence[float]) -> tuple[float, float]:
    """Expected circumplex position: ``V = sum_c p_c v_c``, ``A = sum_c p_c a_c``.

    ``probs`` follow :data:`~congruence.perception.face.expression.EXPRESSIONS`; coordinates are
    :data:`CIRCUMPLEX` (Russell, 1980; Posner et al., 2005).

    >>> circumplex_va([0, 0, 0, 1, 0, 0, 0])
    (0.8, 0.3)
    """
    p = np.asarray(probs, dtype=float)
    if p.shape != (len(EXPRESSIONS),):
        raise ValueError(f"expected {len(EXPRESSIONS)} probabilities, got shape {p.shape}")
    coords = np.array([CIRCUMPLEX[e] for e in EXPRESSIONS])
    v, a = (p / max(p.sum(), 1e-12)) @ coords
    return float(v), float(a)


def va_proxy(probs: Sequence[float], au12: float | None = None) -> tuple[float, float]:
    """Valence/arousal PROXY in [-1, 1] from expression probabilities and the lip-corner proxy.

    ``V = clip((1 - w) V_expr + w tanh(au12 / s), -1, 1)`` with ``w = 0.2``, ``s = 0.08``;
    ``A = A_expr``. ``(V_expr, A_expr)`` is :func:`circumplex_va`; ``au12`` (lip corner puller,
    inter-ocular units, see :func:`~congruence.perception.face.geometry.au_proxies`) adds the
    geometric smile cue of FACS (Ekman & Friesen, 1978) that the classifier may miss on partial
    smiles. Without a mesh (``au12=None``) the expression term alone is used.

    >>> va_proxy([0, 0, 0, 0, 0, 0, 1], au12=0.0)
    (0.0, 0.0)
    """
    v, a = circumplex_va(probs)
    if au12 is not None and math.isfinite(au12):
        v = (1 - GEOMETRY_WEIGHT) * v + GEOMETRY_WEIGHT * math.tanh(au12 / SMILE_SCALE)
    return float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1))


@dataclass(frozen=True)
class VAResult:
    """Valence and arousal of one face, and expression probabilities if the model has them."""

    valence: float
    arousal: float
    expression: tuple[float, ...] | None = None


class VAEstimator(Protocol):
    name: str
    kind: Kind

    def predict(
        self, *, face_rgb: np.ndarray, expr_probs: np.ndarray, aus: Mapping[str, float] | None
    ) -> VAResult: ...

    def config(self) -> dict[str, Any]: ...

    @property
    def estimator(self) -> str: ...


class ProxyVA:
    """Default: :func:`va_proxy` on the FER-2013 distribution and the AU12 proxy (``Kind.PROXY``)."""

    name = "proxy"
    kind = Kind.PROXY

    def __init__(self, *, model_path: str | Path | None = None) -> None:
        if model_path is not None:
            raise CongruenceError(
                "va_model_path was given, but the 'proxy' valence/arousal estimator uses no model file.",
                "Choose a plug-in: va='onnx' or va='emonet' (torch), or drop va_model_path.",
            )
        #: the expression model whose FER-2013-class probabilities it reads (set by the face analyzer)
        self.expression_source = "fer-2013"

    @property
    def estimator(self) -> str:
        return f"circumplex({self.expression_source})+au12-proxy"

    def config(self) -> dict[str, Any]:
        return {"va": "proxy", "circumplex": CIRCUMPLEX, "w": GEOMETRY_WEIGHT, "s": SMILE_SCALE}

    def predict(
        self, *, face_rgb: np.ndarray, expr_probs: np.ndarray, aus: Mapping[str, float] | None
    ) -> VAResult:
        v, a = va_proxy(expr_probs, None if aus is None else aus.get("au12"))
        return VAResult(v, a)


_NORMALIZE = {
    # name -> (mean, std) applied to RGB in [0, 1]
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # HSEmotion / timm models
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # EmoNet: RGB / 255
    "symmetric": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # [-1, 1]
}


def preprocess_face(face_rgb: np.ndarray, size: int, normalize: str) -> np.ndarray:
    """RGB uint8 crop -> float32 (1, 3, size, size): resize, scale to [0, 1], ``(x - mean) / std``."""
    import cv2

    if normalize not in _NORMALIZE:
        raise CongruenceError(f"Unknown normalisation '{normalize}'.", f"Use one of {sorted(_NORMALIZE)}.")
    mean, std = (np.array(v, dtype=np.float32) for v in _NORMALIZE[normalize])
    x = cv2.resize(np.asarray(face_rgb, dtype=np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    x = (x.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _softmax(x: np.ndarray) -> tuple[float, ...]:
    e = np.exp(x - x.max())
    return tuple(float(v) for v in e / e.sum())


def split_outputs(
    outputs: Mapping[str, np.ndarray], *, valence_index: int = -2, arousal_index: int = -1
) -> VAResult:
    """Map a regressor's outputs to valence, arousal and expression probabilities.

    Named outputs ``valence`` / ``arousal`` (and ``expression``) are used when present (EmoNet's
    dict); otherwise the first output is flattened: 2 values are ``(valence, arousal)``; more values
    are expression logits followed by valence and arousal at ``valence_index`` / ``arousal_index``
    (HSEmotion's ``*_va_mtl`` layout: 8 logits, V, A). Values are clipped to [-1, 1].

    >>> split_outputs({"out": np.array([[0.1, 2.0, -0.5, 0.7]])}).valence
    -0.5
    """
    named = {k.lower(): np.asarray(v, dtype=float).reshape(-1) for k, v in outputs.items()}
    if "valence" in named and "arousal" in named:
        v, a = float(named["valence"][0]), float(named["arousal"][0])
        expr = named.get("expression")
        return VAResult(
            float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1)), None if expr is None else _softmax(expr)
        )
    if not named:
        raise CongruenceError("The valence/arousal model returned no outputs.", "Check the model file.")
    flat = next(iter(named.values()))
    if flat.size < 2:
        raise CongruenceError(
            f"The valence/arousal model returned {flat.size} value(s); 2 or more are needed.",
            "Use a model whose output holds valence and arousal (e.g. HSEmotion *_va_mtl or EmoNet).",
        )
    v, a = float(flat[valence_index]), float(flat[arousal_index])
    rest = np.delete(flat, [valence_index % flat.size, arousal_index % flat.size])
    return VAResult(float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1)), _softmax(rest) if rest.size else None)


def _require_file(path: str | Path | None, family_name: str) -> Path:
    if path is None:
        raise CongruenceError(
            f"The '{family_name}' valence/arousal model needs a model file.",
            "Pass va_model_path=<local file> (no model is downloaded at run time).",
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelUnavailableError(
            f"Valence/arousal model file not found: {p}.", "Check va_model_path; the file must be local."
        )
    return p


class _PluginVA:
    kind = Kind.MODEL
    name = "plugin"

    def __init__(
        self,
        *,
        model_path: str | Path | None,
        input_size: int | None,
        normalize: str,
        valence_index: int,
        arousal_index: int,
    ) -> None:
        self.path = _require_file(model_path, self.name)
        if normalize not in _NORMALIZE:
            raise CongruenceError(
                f"Unknown normalisation '{normalize}'.", f"Use one of {sorted(_NORMALIZE)}."
            )
        self.input_size = input_size
        self.normalize = normalize
        self.valence_index = valence_index
        self.arousal_index = arousal_index

    @property
    def estimator(self) -> str:
        return f"{self.name}:{self.path.name}"

    def config(self) -> dict[str, Any]:
        st = self.path.stat()
        return {
            "va": self.name,
            "path": str(self.path.resolve()),
            "size": st.st_size,
            "mtime": int(st.st_mtime),
            "input_size": self.input_size,
            "normalize": self.normalize,
            "valence_index": self.valence_index,
            "arousal_index": self.arousal_index,
        }


class OnnxVA(_PluginVA):
    """ONNX valence/arousal regressor (e.g. HSEmotion ``enet_b0_8_va_mtl.onnx``) via onnxruntime.

    Args:
        model_path: local ``.onnx`` file.
        input_size: square input side; default: read from the model's input shape, else 224.
        normalize: ``"imagenet"`` (HSEmotion), ``"unit"`` (EmoNet) or ``"symmetric"``.
        valence_index, arousal_index: positions in a single flat output (see :func:`split_outputs`).
    """

    name = "onnx"

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        input_size: int | None = None,
        normalize: str = "imagenet",
        valence_index: int = -2,
        arousal_index: int = -1,
    ) -> None:
        super().__init__(
            model_path=model_path,
            input_size=input_size,
            normalize=normalize,
            valence_index=valence_index,
            arousal_index=arousal_index,
        )
        self._session: Any = None

    def _load(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            try:
                self._session = ort.InferenceSession(
                    str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as e:  # onnxruntime raises its own exception types
                raise ModelUnavailableError(
                    f"onnxruntime cannot load {self.path}: {e}", "Check that the file is a valid ONNX model."
                ) from e
            inp = self._session.get_inputs()[0]
            self._input_name = inp.name
            if self.input_size is None:
                dims = [d for d in inp.shape[2:] if isinstance(d, int)]
                self.input_size = dims[0] if dims else 224
        return self._session

    def predict(
        self, *, face_rgb: np.ndarray, expr_probs: np.ndarray, aus: Mapping[str, float] | None
    ) -> VAResult:
        sess = self._load()
        x = preprocess_face(face_rgb, int(self.input_size or 224), self.normalize)
        outs = sess.run(None, {self._input_name: x})
        names = [o.name for o in sess.get_outputs()]
        return split_outputs(
            dict(zip(names, outs, strict=True)),
            valence_index=self.valence_index,
            arousal_index=self.arousal_index,
        )


def _resolve_factory(factory: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(factory):
        return factory
    module, _, attr = str(factory).partition(":")
    if not attr:
        raise CongruenceError(
            f"Model factory '{factory}' is not of the form 'package.module:ClassName'.",
            "Give the class that builds the network, e.g. 'emonet.models:EmoNet'.",
        )
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ModelUnavailableError(
            f"Cannot import the model factory '{factory}'.", "Install the package that defines it."
        ) from e


class TorchVA(_PluginVA):
    """EmoNet-style torch regressor from a local file.

    The file is, in order of preference: a TorchScript archive (``torch.jit.save``); a state dict
    (``torch.save(model.state_dict())``, optionally under ``"state_dict"``, ``module.`` prefixes
    removed) loaded into ``model_factory(**factory_kwargs)``; or a pickled module, only with
    ``allow_pickle=True`` (unpickling runs code from the file: trusted files only).

    Outputs may be a dict with ``valence``/``arousal`` (EmoNet), a tuple, or one tensor (see
    :func:`split_outputs`). Defaults follow EmoNet: 256 x 256 RGB scaled to [0, 1].
    """

    name = "torch"

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model_factory: str | Callable[..., Any] | None = None,
        factory_kwargs: Mapping[str, Any] | None = None,
        input_size: int = 256,
        normalize: str = "unit",
        valence_index: int = -2,
        arousal_index: int = -1,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(
            model_path=model_path,
            input_size=input_size,
            normalize=normalize,
            valence_index=valence_index,
            arousal_index=arousal_index,
        )
        self.model_factory = model_factory
        self.factory_kwargs = dict(factory_kwargs or {})
        self.allow_pickle = allow_pickle
        self._model: Any = None

    def config(self) -> dict[str, Any]:
        factory = self.model_factory
        name = (
            factory if isinstance(factory, str) or factory is None else getattr(factory, "__qualname__", "")
        )
        return {**super().config(), "factory": name, "factory_kwargs": self.factory_kwargs}

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        import torch

        try:
            model = torch.jit.load(str(self.path), map_location="cpu")
        except Exception:  # not a TorchScript archive: try the other formats
            model = None
        if model is None:
            try:
                obj = torch.load(str(self.path), map_location="cpu", weights_only=True)
            except Exception as e:
                if not self.allow_pickle:
                    raise CongruenceError(
                        f"{self.path} is not a TorchScript archive or a plain state dict.",
                        "Save the model with torch.jit.save or save its state_dict; or pass "
                        "allow_pickle=True for a pickled module you trust.",
                    ) from e
                obj = torch.load(str(self.path), map_location="cpu", weights_only=False)
            if isinstance(obj, torch.nn.Module):
                model = obj
            else:
                state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
                if state is None or self.model_factory is None:
                    raise CongruenceError(
                        f"{self.path} holds a state dict, which needs the network class to load into.",
                        "Pass model_factory='package.module:ClassName' (and factory_kwargs).",
                    )
                model = _resolve_factory(self.model_factory)(**self.factory_kwargs)
                state = {k.removeprefix("module."): v for k, v in state.items()}
                model.load_state_dict(state)
        model.eval()
        self._model = model
        return model

    def predict(
        self, *, face_rgb: np.ndarray, expr_probs: np.ndarray, aus: Mapping[str, float] | None
    ) -> VAResult:
        import torch

        model = self._load()
        x = torch.from_numpy(preprocess_face(face_rgb, int(self.input_size or 256), self.normalize))
        with torch.no_grad():
            out = model(x)
        if isinstance(out, Mapping):
            arrays = {str(k): v.detach().cpu().numpy() for k, v in out.items() if torch.is_tensor(v)}
        elif isinstance(out, list | tuple):
            arrays = {f"out{i}": v.detach().cpu().numpy() for i, v in enumerate(out) if torch.is_tensor(v)}
            if len(arrays) > 1:  # several tensors: concatenate in order (e.g. logits, valence, arousal)
                arrays = {"out": np.concatenate([a.reshape(-1) for a in arrays.values()])}
        else:
            arrays = {"out": out.detach().cpu().numpy()}
        return split_outputs(arrays, valence_index=self.valence_index, arousal_index=self.arousal_index)
