"""``congruence corpus analyze``, added to the main Typer app by :func:`register`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def analyze(
    source: Annotated[
        Path,
        typer.Argument(
            help="Folder of recordings with transcripts of the same name (or transcripts alone), or a "
            "CSV / JSONL manifest with columns media, transcript, session_id, roles."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Corpus output folder.")],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Ray workers (default: the machine's cores; with --address, the cluster's CPUs).",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Join a running Ray cluster: auto, or ray://HOST:PORT (default: local)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML/JSON analysis config.")] = None,
    respond: Annotated[
        bool,
        typer.Option("--respond", help="Add a person-centred reply per client turn (as analyze --respond)."),
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run the sessions that failed before again.")
    ] = False,
) -> None:
    """Analyse a corpus of sessions on Ray: OUT/sessions/<id>/ per session, OUT/turns/ (Parquet)."""
    from rich.markup import escape

    from congruence import quiet
    from congruence.config import AnalysisConfig
    from congruence.console import err, new_progress
    from congruence.corpus.run import analyze_corpus

    cfg = AnalysisConfig.load(config)
    done = {"n": 0}
    with new_progress() as bar:
        task = bar.add_task("sessions", total=None)

        def event(kind: str, sid: str, rec: dict[str, Any]) -> None:
            name = escape(sid)
            if kind == "problem":
                bar.console.print(
                    f"[yellow]Skipped input[/] {escape(rec['origin'])}: {escape(rec['reason'])}"
                )
            elif kind == "failed":
                bar.console.print(f"[red]Failed[/] {name}: {escape(str(rec.get('reason')))}")
            elif kind == "done":
                bar.console.print(
                    f"[green]Done[/] {name}: {rec.get('client_turns')} client turns "
                    f"in {rec.get('seconds', 0):.1f} s"
                    + (" (worker restarted, session retried)" if rec.get("worker_restarted") else "")
                )
            if kind == "planned":
                bar.update(task, total=rec["sessions"])
            elif kind in ("done", "failed", "skipped"):
                done["n"] += 1
                bar.update(task, completed=done["n"])

        try:
            result = analyze_corpus(
                source,
                out,
                workers=workers,
                address=address,
                config=cfg,
                respond=respond,
                retry_failed=retry_failed,
                verbose=quiet.level() == "verbose",  # congruence -v (or corpus analyze ... -v): Ray's logs
                on_event=event,
            )
        except KeyboardInterrupt:
            err.print(
                f"[yellow]Interrupted.[/] Finished sessions are kept in {out / 'corpus.json'}; "
                "run the same command to go on."
            )
            raise typer.Exit(130) from None
    n_done, n_failed = result.count("done"), result.count("failed")
    problems = result.manifest.get("problems") or []
    finished = sum(result.sessions[s].get("status") == "done" for s in result.skipped)
    typer.echo(
        f"{n_done} session(s) done ({finished} finished before), {n_failed} failed, "
        f"{len(problems)} input(s) skipped, in {result.seconds:.1f} s: {out / 'corpus.json'}"
    )
    if n_failed:
        typer.echo("Run again with --retry-failed to retry the failed sessions.")


def register(app: typer.Typer) -> None:
    """Add the ``corpus`` group to ``app``."""
    from congruence.console import examples, user_errors

    corpus = typer.Typer(help="Many sessions at once, on Ray (a laptop or a cluster).", no_args_is_help=True)
    corpus.command(
        "analyze",
        epilog=examples(
            "congruence corpus analyze recordings/ -o corpus/          # local Ray, one worker per core",
            "congruence corpus analyze manifest.csv -o corpus/ --address auto   # a running cluster",
            "congruence corpus analyze recordings/ -o corpus/ --retry-failed -v  # with Ray's own logs",
        ),
    )(user_errors(analyze))
    app.add_typer(corpus, name="corpus")
