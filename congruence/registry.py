"""Name -> class registry, so every choosable part is picked by name in configuration.

A static table (the pyannote pattern): family -> {name: ``"module:Class"``}. Nothing registers
itself on import, so the answer never depends on what happened to be imported first, and importing
:mod:`congruence` loads no model: :func:`create` imports the one module it needs.

>>> names("incongruence.detector")
['gated', 'hgb', 'logreg']
>>> target("generation.backend", "openai")
'congruence.generation.backends:OpenAIBackend'
>>> create("face.detector", "dlib")
Traceback (most recent call last):
...
congruence.errors.CongruenceError: Unknown face.detector 'dlib'. Fix: Choose one of: mediapipe, mtcnn.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from congruence.errors import CongruenceError

_FACE = "congruence.perception.face"
_VOICE = "congruence.perception.voice"
_TEXT = "congruence.perception.text"
_INC = "congruence.incongruence"
_GEN = "congruence.generation.backends"

#: family -> name -> "module:Class". Names are what configs and CLI options accept.
ENTRIES: dict[str, dict[str, str]] = {
    "face.analyzer": {"default": f"{_FACE}.analyzer:FaceAnalyzer"},
    "face.detector": {
        "mediapipe": f"{_FACE}.detectors:MediaPipeDetector",
        "mtcnn": f"{_FACE}.detectors:MTCNNDetector",
    },
    "face.va": {
        "proxy": f"{_FACE}.va:ProxyVA",
        "onnx": f"{_FACE}.va:OnnxVA",
        "emonet": f"{_FACE}.va:TorchVA",
        "torch": f"{_FACE}.va:TorchVA",
    },
    "voice.analyzer": {"default": f"{_VOICE}.analyzer:VoiceAnalyzer"},
    "voice.ser": {"proxy": f"{_VOICE}.ser:ProxySER", "wav2vec2": f"{_VOICE}.ser:Wav2Vec2SER"},
    "text.analyzer": {"default": f"{_TEXT}.analyzer:TextAnalyzer"},
    "text.classifier": {"hf": f"{_TEXT}.classifier:HFTextClassifier"},
    # incongruence detectors and the fusion model of `congruence disagreement` (same choices)
    "incongruence.detector": {
        "logreg": f"{_INC}.detector:IncongruenceDetector",
        "hgb": f"{_INC}.detector:IncongruenceDetector",
        "gated": f"{_INC}.fusion:FusionDetector",
    },
    "generation.backend": {
        "transformers": f"{_GEN}:TransformersBackend",
        "onnx": f"{_GEN}:OnnxGenAIBackend",
        "llamacpp": f"{_GEN}:LlamaCppBackend",
        "openai": f"{_GEN}:OpenAIBackend",
        "qwen": f"{_GEN}:QwenBackend",
        "smollm2": f"{_GEN}:SmolLM2Backend",
    },
}

#: entries that are one class with a fixed keyword argument (the calibrated detector's model)
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("incongruence.detector", "logreg"): {"model": "logreg"},
    ("incongruence.detector", "hgb"): {"model": "hgb"},
}

# added at run time by :func:`register` (plugins, test doubles); never by importing a module
_EXTRA: dict[str, dict[str, Callable[..., Any]]] = {}


def families() -> list[str]:
    """Every family name."""
    return sorted({*ENTRIES, *_EXTRA})


def names(family: str) -> list[str]:
    """The names of a family (an unknown family is an error listing the families)."""
    if family not in ENTRIES and family not in _EXTRA:
        raise CongruenceError(
            f"Unknown registry family '{family}'.", f"Choose one of: {', '.join(families())}."
        )
    return sorted({*ENTRIES.get(family, {}), *_EXTRA.get(family, {})})


def _check(family: str, name: str) -> None:
    known = names(family)
    if name not in known:
        raise CongruenceError(f"Unknown {family} '{name}'.", f"Choose one of: {', '.join(known)}.")


def target(family: str, name: str) -> str:
    """The ``"module:Class"`` of a static entry."""
    _check(family, name)
    if name not in ENTRIES.get(family, {}):
        raise CongruenceError(f"{family} '{name}' was registered at run time.", "Use resolve() for it.")
    return ENTRIES[family][name]


def resolve(family: str, name: str) -> Callable[..., Any]:
    """The class (factory) of an entry, importing its module."""
    _check(family, name)
    if name in _EXTRA.get(family, {}):
        return _EXTRA[family][name]
    module, _, attr = ENTRIES[family][name].partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return factory


def create(family: str, name: str, **kwargs: Any) -> Any:
    """Instantiate the entry ``name`` of ``family`` with keyword arguments."""
    factory = resolve(family, name)
    return factory(**{**PRESETS.get((family, name), {}), **kwargs})


def keywords(family: str, name: str) -> frozenset[str]:
    """The keyword arguments an entry accepts (its constructor's parameters, presets excluded)."""
    params = inspect.signature(resolve(family, name)).parameters
    return frozenset(params) - set(PRESETS.get((family, name), {}))


def register(family: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add a factory at run time (a plugin, a test double): ``register("face.analyzer", "x")(cls)``.

    The package's own parts are in :data:`ENTRIES`; a static name cannot be replaced.
    """

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in ENTRIES.get(family, {}):
            raise CongruenceError(f"{family} '{name}' is built in.", "Register under another name.")
        _EXTRA.setdefault(family, {})[name] = factory
        return factory

    return deco


__all__ = ["ENTRIES", "PRESETS", "create", "families", "keywords", "names", "register", "resolve", "target"]
