"""The interface every perception analyzer implements, and the per-turn result it returns.

An analyzer turns the media of one client turn into a flat mapping of named values (one column
of the turn table each), with a :class:`~congruence.provenance.Provenance` for every column.
Missing input (no face in view, silence, no words) yields ``None`` values and a ``status`` that
says why - never an exception and never a zero that looks like a measurement.

The media types an analyzer reads (:class:`~congruence.ingest.media.Audio`,
:class:`~congruence.ingest.media.Frame`) belong to ingest, the layer below perception.

Session-level steps (speaker normalisation, z-scores against a person's neutral frames) run in
``finalize`` on the whole turn table, after every turn is done; per-turn results stay cacheable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from congruence.provenance import Provenance

if TYPE_CHECKING:  # annotations only: the media types are ingest's, not re-exported here
    from congruence.ingest.media import Audio, Frame

Value = float | int | str | list[float] | None


@dataclass
class Features:
    """Values of one turn from one analyzer, keyed by column name (e.g. ``face_valence``)."""

    values: dict[str, Value]
    provenance: dict[str, Provenance] = field(default_factory=dict)
    # large or non-tabular results (e.g. an encoded key-frame thumbnail); not written to the table
    artifacts: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The values as turn-table cells: NumPy arrays (embeddings) as lists, the rest as they are."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.values.items()}


@runtime_checkable
class Analyzer(Protocol):
    """A modality analyzer (face, voice, text)."""

    name: str

    def config(self) -> dict[str, Any]:
        """Everything that changes the output (model names, thresholds): part of the cache key."""
        ...

    def columns(self) -> dict[str, Provenance]:
        """Every column this analyzer may emit, with its provenance."""
        ...

    def finalize(self, table: pd.DataFrame) -> pd.DataFrame:
        """Session-level post-processing on the whole turn table; returns the updated table."""
        ...


class FaceAnalyzerProtocol(Analyzer, Protocol):
    def analyze_turn(self, frames: Iterable[Frame], key_time: float | None) -> Features: ...


class VoiceAnalyzerProtocol(Analyzer, Protocol):
    def analyze_turn(self, audio: Audio | None, text: str = "") -> Features: ...


class TextAnalyzerProtocol(Analyzer, Protocol):
    def analyze_turn(self, text: str) -> Features: ...
