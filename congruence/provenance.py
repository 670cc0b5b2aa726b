"""Where every value comes from: which estimator made it and what kind of value it is.

No registry carries a facial valence/arousal, action-unit, engagement or speech-emotion model, so
several embedded defaults are *proxies* built from packaged parts. Every column of a turn table
carries a :class:`Provenance`, and reports print it, so a proxy is never mistaken for a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What kind of value an estimator produces."""

    MODEL = "model"  # output of a model trained for exactly this target (e.g. FER-2013 expression classes)
    PROXY = "proxy"  # derived from other signals by a documented rule; not trained on this target
    MEASUREMENT = "measurement"  # a signal measurement (pitch, duration, counts), not an inference


@dataclass(frozen=True)
class Provenance:
    """Provenance of one output column.

    >>> Provenance("fer-mini-xception", Kind.MODEL).as_dict()["kind"]
    'model'
    """

    estimator: str
    kind: Kind
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["kind"] = str(self.kind)
        return d
