"""Analysis configuration: which estimators run, by name, and the sampling settings.

A config is plain data (TOML or JSON on disk); its hash is part of every cache key, so changing
an estimator or a threshold recomputes exactly the affected results.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError


@dataclass
class ModalityConfig:
    """One modality's analyzer: registry name plus keyword arguments for its constructor."""

    name: str = "default"
    options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass
class IncongruenceConfig:
    """Settings of the incongruence scores (see :mod:`congruence.incongruence.scores`).

    ``lam`` is E-THER's lambda (weight of the category-cosine term), ``threshold`` the dissonance
    indicator's T (interventions paper: 0.5), ``tau_e`` a fixed mismatch scale (``None``: the
    median mismatch over the session, as E-THER's batch median).
    """

    lam: float = 0.5
    threshold: float = 0.5
    tau_e: float | None = None


@dataclass
class AnalysisConfig:
    """Settings of ``congruence analyze``.

    ``sample_fps`` frames per second are sampled across each client turn (the interventions paper
    averages its face estimates over the segment), at most ``max_frames_per_turn`` of them, evenly
    spread; the E-THER key frame is taken ``key_frame_offset`` seconds after the client starts
    speaking (the moment of the verbal response).
    """

    sample_fps: float = 2.0
    max_frames_per_turn: int = 24
    key_frame_offset: float = 0.3
    max_frame_width: int = 960
    merge_max_gap: float | None = None
    asr_model: str = "tiny.en"
    num_speakers: int | None = 2
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
        """Stable short hash of everything that changes results."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CongruenceError(
                f"Unknown configuration key(s): {', '.join(unknown)}.",
                f"Known keys: {', '.join(sorted(known))}.",
            )
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            if k in ("face", "voice", "text"):
                if not isinstance(v, dict):
                    raise CongruenceError(
                        f"Config section [{k}] must be a table.", "See README, Configuration."
                    )
                opts = {kk: vv for kk, vv in v.items() if kk not in ("name", "enabled")}
                kwargs[k] = ModalityConfig(
                    name=v.get("name", "default"), enabled=bool(v.get("enabled", True)), options=opts
                )
            elif k == "incongruence":
                kwargs[k] = config_section(IncongruenceConfig, v, k)
            elif k == "respond" and not isinstance(v, dict):
                raise CongruenceError("Config section [respond] must be a table.", "See README.")
            else:
                kwargs[k] = v
        return cls(**kwargs)

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


def config_section(cls: type, values: Any, name: str) -> Any:
    """A config section as dataclass ``cls``; unknown keys are a clear error."""
    if not isinstance(values, dict):
        raise CongruenceError(f"Config section [{name}] must be a table.", "See README, Configuration.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CongruenceError(
            f"Unknown key(s) in [{name}]: {', '.join(unknown)}.", f"Known keys: {', '.join(sorted(known))}."
        )
    return cls(**values)
