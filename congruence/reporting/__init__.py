"""The session report: a self-contained, offline HTML file with the timeline, the incongruence
table, the estimators behind every value and the analysis warnings. (The call below needs an
analysed session folder, so the doctest skips it.)

>>> from congruence.reporting import write_report
>>> write_report(Path("session.congruence"), blur_faces=True)  # doctest: +SKIP
PosixPath('session.congruence/report.html')
"""

from __future__ import annotations

from congruence.reporting.report import (
    AnalysisOutput,
    build_context,
    load_output,
    render_report,
    turn_flag,
    write_report,
)

__all__ = ["AnalysisOutput", "build_context", "load_output", "render_report", "turn_flag", "write_report"]
