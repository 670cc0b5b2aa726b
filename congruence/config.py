"""Analysis configuration: which estimators run, by name, and the sampling settings.

A config is plain data (TOML or JSON on disk), validated before any work: a misspelt key, a value
of the wrong type or out of range is refused with one line naming the key, the value and what is
allowed. Its hash is part of every cache key, so changing an estimator or a threshold recomputes
exactly the affected results.

The sections are pydantic dataclasses (``extra="forbid"``, strict types, bounds): they validate
like pydantic models and stay plain dataclasses for :func:`dataclasses.asdict`, which the cache
keys are made from.

>>> AnalysisConfig.from_dict({"face": {"detectr": "mtcnn"}})
Traceback (most recent call last):
...
congruence.errors.CongruenceError: Unknown key 'detectr' in [face] (face.analyzer 'default'). Fix: ...
>>> AnalysisConfig.from_dict({"sample_fps": "fast"})
Traceback (most recent call last):
...
congruence.errors.CongruenceError: sample_fps = 'fast' is invalid: Input should be a valid number. Fix: ...
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tomllib
import typing
from dataclasses import asdict, field, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from congruence.errors import CongruenceError

S = TypeVar("S")

#: every config section: unknown keys refused, no silent coercion ("8" is not 8), checked on assignment
SECTION = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


def _ops(meta: Any) -> list[str]:
    names = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "of length >="}
    return [f"{sym} {getattr(meta, k)}" for k, sym in names.items() if getattr(meta, k, None) is not None]


def _type_text(hint: Any) -> str:
    """A field type in words: ``Annotated[float, Field(gt=0)] | None`` -> "float > 0.0, or unset"."""
    if typing.get_origin(hint) is Annotated:
        base, *metas = typing.get_args(hint)
        bounds = [b for m in metas for fm in getattr(m, "metadata", [m]) for b in _ops(fm)]
        return _type_text(base) + (f" {' and '.join(bounds)}" if bounds else "")
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if args and type(None) in args:
        return " or ".join(_type_text(a) for a in args if a is not type(None)) + ", or unset"
    return getattr(hint, "__name__", None) if not args else str(hint).replace("typing.", "")  # type: ignore[return-value]


def _bounds(cls: type) -> dict[str, str]:
    """Field -> what it takes, from the class annotations (``Annotated[..., Field(...)]``)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _type_text(hints[f.name]) for f in fields(cls)}


def _where(section: str | None, key: str) -> str:
    return f"{section}.{key}" if section else key


def validation_error(exc: ValidationError, cls: type, section: str | None) -> CongruenceError:
    """The first problem of a pydantic error as one line: key, bad value, what is allowed."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = loc[0] if loc else "?"
    label = f"[{section}]" if section else "the config"
    if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        known = ", ".join(f.name for f in fields(cls))
        return CongruenceError(f"Unknown key {key!r} in {label}.", f"Known keys: {known}.")
    msg = err["msg"].rstrip(".")
    where = _where(section, ".".join(loc))
    allowed = _bounds(cls).get(key)
    fix = f"{_where(section, key)} takes {allowed}." if allowed else "See README, Configuration."
    return CongruenceError(f"{where} = {err.get('input')!r} is invalid: {msg}.", fix)


def config_section(cls: type[S], values: Any, name: str | None) -> S:
    """A config section as (pydantic) dataclass ``cls``; any problem is a one-line CongruenceError."""
    if not isinstance(values, dict):
        raise CongruenceError(f"Config section [{name}] must be a table.", "See README, Configuration.")
    try:
        return cls(**values)
    except ValidationError as exc:
        raise validation_error(exc, cls, name) from None


def check_options(family: str, name: str, options: dict[str, Any], where: str) -> None:
    """Refuse keyword options that the registry entry ``family``/``name`` does not take.

    Types are checked where the constructor's annotations resolve; a parameter ``p`` with a
    registry family ``<modality>.p`` must name one of its entries, and ``p_options`` are checked
    against that entry in turn (``[face] va = "onnx"``, ``va_options = {...}``).
    """
    from congruence import registry

    if not options:
        return
    factory = registry.resolve(family, name)
    accepted = registry.keywords(family, name)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise CongruenceError(
            f"Unknown key {unknown[0]!r} in [{where}] ({family} '{name}').",
            f"Known keys: {', '.join(sorted(accepted))}.",
        )
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # an annotation only importable under TYPE_CHECKING: check names only
        hints = {}
    params = inspect.signature(factory).parameters
    modality = family.partition(".")[0]
    for key, value in options.items():
        if key in hints:
            try:
                TypeAdapter(hints[key], config=ConfigDict(strict=True)).validate_python(value)
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"].rstrip(".")
                default = params[key].default
                raise CongruenceError(
                    f"{where}.{key} = {value!r} is invalid: {msg}.",
                    f"{where}.{key} takes {_type_text(hints[key])} (default {default!r}).",
                ) from None
        sub = f"{modality}.{key}"
        if sub in registry.families() and isinstance(value, str):
            if value not in registry.names(sub):
                raise CongruenceError(
                    f"{where}.{key} = {value!r} is not a {sub}.",
                    f"Choose one of: {', '.join(registry.names(sub))}.",
                )
            nested = options.get(f"{key}_options")
            if isinstance(nested, dict):
                check_options(sub, value, nested, f"{where}.{key}_options")
        elif key.endswith("_options") and f"{modality}.{key[: -len('_options')]}" in registry.families():
            base = key[: -len("_options")]
            if base not in options and isinstance(nested := options.get(key), dict):
                default = params[base].default if base in params else None
                if isinstance(default, str):
                    check_options(f"{modality}.{base}", default, nested, f"{where}.{key}")


@dataclass(config=SECTION)
class ModalityConfig:
    """One modality's analyzer: registry name plus keyword arguments for its constructor."""

    name: str = "default"
    options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(config=SECTION)
class IncongruenceConfig:
    """Settings of the incongruence scores (see :mod:`congruence.incongruence.scores`).

    ``lam`` is E-THER's lambda (weight of the category-cosine term), ``threshold`` the dissonance
    indicator's T (interventions paper: 0.5), ``tau_e`` the fixed mismatch scale of the scores
    (``None``: :data:`congruence.incongruence.scores.TAU_FIXED` = 2 sqrt 2, the diameter of the
    valence-arousal square). Never a session statistic, so a turn's score does not depend on the
    other turns; E-THER's batch median is for training weights only.
    """

    lam: Annotated[float, Field(ge=0.0)] = 0.5
    threshold: Annotated[float, Field(ge=0.0)] = 0.5
    tau_e: Annotated[float, Field(gt=0.0)] | None = None


@dataclass(config=SECTION)
class AnalysisConfig:
    """Settings of ``congruence analyze``.

    ``sample_fps`` frames per second are sampled across each client turn (the interventions paper
    averages its face estimates over the segment), at most ``max_frames_per_turn`` of them, evenly
    spread; the E-THER key frame is taken ``key_frame_offset`` seconds after the client starts
    speaking (the moment of the verbal response).
    """

    sample_fps: Annotated[float, Field(gt=0.0, le=120.0)] = 2.0
    max_frames_per_turn: Annotated[int, Field(ge=1)] = 24
    key_frame_offset: Annotated[float, Field(ge=0.0)] = 0.3
    max_frame_width: Annotated[int, Field(ge=16)] = 960
    merge_max_gap: Annotated[float, Field(ge=0.0)] | None = None
    asr_model: Annotated[str, Field(min_length=1)] = "tiny.en"
    # None: decided from the data (one voice stays one speaker); a number forces it
    num_speakers: Annotated[int, Field(ge=1)] | None = None
    max_speakers: Annotated[int, Field(ge=1)] | None = 2  # with num_speakers None: at most this many
    parallel: bool = True  # decode frames and analyse voice in threads beside the face analysis
    face: ModalityConfig = field(default_factory=ModalityConfig)
    voice: ModalityConfig = field(default_factory=ModalityConfig)
    text: ModalityConfig = field(default_factory=ModalityConfig)
    incongruence: IncongruenceConfig = field(default_factory=IncongruenceConfig)
    #: keyword arguments of :class:`congruence.generation.respond.Responder` for ``--respond``
    #: (strategy, backend, backend_options, n_samples, temperature, max_tokens, seed, ...)
    respond: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        """Stable short hash of everything that changes results.

        >>> AnalysisConfig().digest() == AnalysisConfig.from_dict({"sample_fps": 2}).digest()
        True
        """
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

    def check(self) -> None:
        """Check the estimators' names and options against the registry (imports their modules)."""
        from congruence import registry

        for m in ("face", "voice", "text"):
            mod: ModalityConfig = getattr(self, m)
            family = f"{m}.analyzer"
            if mod.name not in registry.names(family):
                raise CongruenceError(
                    f"{m}.name = {mod.name!r} is not a {family}.",
                    f"Choose one of: {', '.join(registry.names(family))}.",
                )
            if mod.enabled:
                check_options(family, mod.name, mod.options, m)
        if self.respond:
            _check_respond(self.respond)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisConfig:
        """A validated config from a mapping (TOML tables); the first problem is a one-line error."""
        if not isinstance(data, dict):
            raise CongruenceError("A config must be a table of settings.", "See README, Configuration.")
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            if k in ("face", "voice", "text"):
                if not isinstance(v, dict):
                    raise CongruenceError(
                        f"Config section [{k}] must be a table.", "See README, Configuration."
                    )
                opts = {kk: vv for kk, vv in v.items() if kk not in ("name", "enabled")}
                named = {kk: v[kk] for kk in ("name", "enabled") if kk in v}
                kwargs[k] = config_section(ModalityConfig, {**named, "options": opts}, k)
            elif k == "incongruence":
                kwargs[k] = config_section(IncongruenceConfig, v, k)
            elif k == "respond" and not isinstance(v, dict):
                raise CongruenceError("Config section [respond] must be a table.", "See README.")
            else:
                kwargs[k] = v
        cfg: AnalysisConfig = config_section(cls, kwargs, None)
        cfg.check()
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> AnalysisConfig:
        """Read a TOML or JSON config file; ``None`` gives the defaults."""
        if path is None:
            return cls()
        p = Path(path)
        if not p.exists():
            raise CongruenceError(f"Config file not found: {p}.", "Check the path.")
        try:
            data = tomllib.loads(p.read_text()) if p.suffix != ".json" else json.loads(p.read_text())
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise CongruenceError(f"Cannot parse config {p.name}: {exc}.", "Fix its syntax.") from exc
        return cls.from_dict(data)


def _check_respond(options: dict[str, Any]) -> None:
    """``[respond]`` keys are :class:`~congruence.generation.respond.Responder` arguments."""
    from congruence import registry
    from congruence.generation.respond import Responder

    params = inspect.signature(Responder).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise CongruenceError(
            f"Unknown setting in the [respond] config section: {unknown[0]!r}.",
            f"Known keys: {', '.join(sorted(params))}.",
        )
    backend = options.get("backend", params["backend"].default)
    if isinstance(backend, str):
        if backend not in registry.names("generation.backend"):
            raise CongruenceError(
                f"respond.backend = {backend!r} is not a generation backend.",
                f"Choose one of: {', '.join(registry.names('generation.backend'))}.",
            )
        nested = options.get("backend_options")
        if isinstance(nested, dict):
            check_options("generation.backend", backend, nested, "respond.backend_options")


__all__ = ["AnalysisConfig", "IncongruenceConfig", "ModalityConfig", "check_options", "config_section"]
