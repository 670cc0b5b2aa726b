"""Name -> factory registry, so models are chosen by name in configuration.

Estimators register under a family (``"face.detector"``, ``"voice.arousal"``, ...) and a name
(``"mediapipe"``). Registration happens when the defining module is imported; :func:`create`
imports the family's module lazily, so importing :mod:`congruence` loads no model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from congruence.errors import CongruenceError

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}

# family -> modules whose import registers that family's entries
_MODULES: dict[str, tuple[str, ...]] = {}


def register(family: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class/function decorator that registers a factory under ``family`` / ``name``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.setdefault(family, {})[name] = factory
        return factory

    return deco


def declare(family: str, *modules: str) -> None:
    """Declare which modules define the entries of ``family`` (imported on first lookup)."""
    _MODULES[family] = tuple(dict.fromkeys((*_MODULES.get(family, ()), *modules)))


def names(family: str) -> list[str]:
    """Registered names of a family."""
    seen: set[str] = set()
    while pending := [m for m in _MODULES.get(family, ()) if m not in seen]:
        for mod in pending:  # an imported module may declare more modules of the family
            seen.add(mod)
            importlib.import_module(mod)
    return sorted(_REGISTRY.get(family, {}))


def create(family: str, name: str, **kwargs: Any) -> Any:
    """Instantiate the entry ``name`` of ``family`` with keyword arguments."""
    known = names(family)
    if name not in known:
        raise CongruenceError(
            f"Unknown {family} '{name}'.", f"Choose one of: {', '.join(known) or '(none registered)'}."
        )
    return _REGISTRY[family][name](**kwargs)
