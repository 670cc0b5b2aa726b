"""The analysis pipeline: media and transcript in, the turn table (:mod:`congruence.table`) out.

- :mod:`.run`: :func:`analyze`, the orchestration, and the truncated-media check;
- :mod:`.turns`: turns from a transcript or from ASR + diarization, then roles;
- :mod:`.jobs`: the per-turn text, voice and face jobs, one loop for all three;
- :mod:`.cache`: content keys of the media and of every per-turn result (resume, re-runs).

``from congruence.analyze import analyze`` is the public entry point and stays so.
"""

from congruence.pipeline.jobs import frame_times
from congruence.pipeline.run import AnalysisResult, analyze, build_table, declared_provenance, write_outputs

__all__ = ["AnalysisResult", "analyze", "build_table", "declared_provenance", "frame_times", "write_outputs"]
