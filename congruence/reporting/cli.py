"""``congruence report``, added to the main Typer app by :func:`register`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def report(
    out_dir: Annotated[
        Path,
        typer.Argument(
            help="Output folder of `congruence analyze` (holds turns.parquet, summary.json), or of "
            "`congruence corpus analyze` (holds corpus.json: a corpus report)."
        ),
    ],
    blur: Annotated[
        bool, typer.Option("--blur", help="Pixelate and blur the face thumbnails before they are embedded.")
    ] = False,
) -> None:
    """Write OUT_DIR/report.html: a self-contained HTML report that opens offline."""
    from congruence.reporting.report import write_report
    from congruence.table import is_corpus

    t0 = time.perf_counter()
    if is_corpus(out_dir):  # rates by session and type, slow and failed sessions, session links
        from congruence.corpus.report import write_corpus_report

        path = write_corpus_report(out_dir)
    else:
        path = write_report(out_dir, blur_faces=blur)
    size_kib = path.stat().st_size / 1024
    typer.echo(f"report: {path} ({size_kib:.0f} KiB, {time.perf_counter() - t0:.1f} s)")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""
    from congruence.console import examples, user_errors

    app.command(
        "report",
        epilog=examples(
            "congruence report results/            # rewrites results/report.html",
            "congruence report results/ --blur     # pixelated face thumbnails",
        ),
    )(user_errors(report))
