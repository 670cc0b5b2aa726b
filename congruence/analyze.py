"""`analyze`: a recorded session in, a per-turn multimodal affect table out.

The public entry point; the work is done by :mod:`congruence.pipeline` and the table's format is
owned by :mod:`congruence.table`.

>>> from congruence.analyze import analyze  # doctest: +SKIP
>>> analyze("session.mp4", transcript="session.srt").table  # doctest: +SKIP
"""

from congruence.pipeline.jobs import frame_times
from congruence.pipeline.run import AnalysisResult, analyze, build_table, write_outputs
from congruence.table import INDEX_COLUMNS, load_table

__all__ = [
    "INDEX_COLUMNS",
    "AnalysisResult",
    "analyze",
    "build_table",
    "frame_times",
    "load_table",
    "write_outputs",
]
