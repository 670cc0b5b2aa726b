"""congruence: incongruence-aware empathic AI for counselling-style sessions.

A research and supportive-communication tool, not therapy: no output claims clinical validity.

>>> import congruence
>>> congruence.Role.CLIENT.value
'client'
"""

from __future__ import annotations

from congruence.config import AnalysisConfig
from congruence.errors import CongruenceError
from congruence.provenance import Kind, Provenance
from congruence.schema import Annotation, DialoguePair, IncongruenceType, Role, Session, Turn
from congruence.version import __version__

__all__ = [
    "AnalysisConfig",
    "Annotation",
    "CongruenceError",
    "DialoguePair",
    "IncongruenceType",
    "Kind",
    "Provenance",
    "Role",
    "Session",
    "Turn",
    "__version__",
    "analyze",
]


def __getattr__(name: str):
    # keep `import congruence` light: the pipeline (pandas, av) loads on first use
    if name == "analyze":
        from congruence.analyze import analyze

        return analyze
    raise AttributeError(name)
