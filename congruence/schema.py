"""Typed records of a session: turns, words, E-THER dialogue pairs and their annotations.

E-THER (docs/references.md#e-ther, section III) annotates each *dialogue pair* - a client utterance and the
counsellor turn that follows - with an incongruence type (none / minimizing / contradiction),
engagement in [0, 1] and valence-arousal-dominance. Those fields exist on every pair from the
start and stay ``None`` until a rater (or a model, with its name as ``rater``) fills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """Conversational role of a speaker."""

    CLIENT = "client"
    COUNSELLOR = "counsellor"


class IncongruenceType(StrEnum):
    """E-THER verbal-visual incongruence types (section III-C)."""

    NONE = "none"  # facial expression aligns with the words
    MINIMIZING = "minimizing"  # the face shows more intensity than the words admit, or an emotional slip
    CONTRADICTION = "contradiction"  # face and words of opposite valence


ENGAGEMENT_RANGES: dict[str, tuple[float, float]] = {
    # E-THER section III-C-2; the paper leaves (0.3, 0.4) and (0.7, 0.8) unnamed, we close the gaps
    "low": (0.0, 0.35),
    "moderate": (0.35, 0.75),
    "high": (0.75, 1.0),
}


def engagement_level(value: float) -> str:
    """Name the E-THER engagement range of a value in [0, 1].

    >>> engagement_level(0.2), engagement_level(0.5), engagement_level(0.9)
    ('low', 'moderate', 'high')
    """
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"engagement must lie in [0, 1], got {value}")
    if value < ENGAGEMENT_RANGES["low"][1]:
        return "low"
    if value < ENGAGEMENT_RANGES["moderate"][1]:
        return "moderate"
    return "high"


@dataclass(frozen=True)
class Word:
    """A recognised word with its time span in seconds (from ASR)."""

    text: str
    start: float
    end: float
    probability: float | None = None


@dataclass
class Turn:
    """One speaker's contiguous contribution.

    ``start``/``end`` are seconds from the start of the media (``None`` for a transcript without
    times). ``role`` is ``None`` until roles are assigned.
    """

    index: int
    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    role: Role | None = None
    words: list[Word] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


@dataclass
class Annotation:
    """E-THER annotation fields of a dialogue pair; empty until filled."""

    incongruence: IncongruenceType | None = None
    engagement: float | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    rater: str | None = None

    def __post_init__(self) -> None:
        if self.incongruence is not None:
            self.incongruence = IncongruenceType(self.incongruence)
        if self.engagement is not None and not 0.0 <= self.engagement <= 1.0:
            raise ValueError(f"engagement must lie in [0, 1], got {self.engagement}")


@dataclass
class DialoguePair:
    """A client utterance and the counsellor turn that follows it (E-THER's unit)."""

    index: int
    client: Turn
    counsellor: Turn | None
    annotation: Annotation = field(default_factory=Annotation)


@dataclass
class Session:
    """A recorded session: its media, its turns and the roles of its speakers."""

    session_id: str
    turns: list[Turn]
    media_path: str | None = None
    duration: float | None = None
    roles: dict[str, Role] = field(default_factory=dict)

    def client_turns(self) -> list[Turn]:
        return [t for t in self.turns if t.role is Role.CLIENT]

    def pairs(self) -> list[DialoguePair]:
        """E-THER dialogue pairs: each client turn with the next turn if it is the counsellor's."""
        out: list[DialoguePair] = []
        for i, turn in enumerate(self.turns):
            if turn.role is not Role.CLIENT:
                continue
            nxt = self.turns[i + 1] if i + 1 < len(self.turns) else None
            counsellor = nxt if nxt is not None and nxt.role is Role.COUNSELLOR else None
            out.append(DialoguePair(index=len(out), client=turn, counsellor=counsellor))
        return out
