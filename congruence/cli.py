"""The `congruence` command line: a thin layer over the Python API."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from congruence.errors import CongruenceError

app = typer.Typer(
    name="congruence",
    help="Incongruence-aware empathic AI for counselling-style sessions (a research tool, not therapy).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)
out = Console()


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print a :class:`CongruenceError` as problem + fix (no traceback) and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CongruenceError as exc:
            # escaped: messages name config sections like [respond], which rich would eat as markup;
            # soft-wrapped: no newlines inside paths and commands that people copy
            err.print(f"[bold red]Error:[/] {escape(exc.problem)}", soft_wrap=True)
            if exc.fix:
                err.print(f"[bold]Fix:[/] {escape(exc.fix)}", soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted.[/] Finished turns are saved; run the same command to resume.")
            raise typer.Exit(130) from None

    return wrapper


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar driven by ``callback(stage, done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    disable = os.environ.get("CONGRUENCE_NO_PROGRESS") == "1"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=disable,
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = f"analysing client turns: {stage}" if stage in ("text", "voice", "face") else stage
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _print_result(result: Any) -> None:
    from rich.table import Table

    t = result.table
    tab = Table(title=f"Session {result.session.session_id}: {len(t)} client turns", show_lines=False)
    for col in ("turn", "start", "text", "text V", "face V", "face A", "voice A", "face", "text-face"):
        tab.add_column(col, overflow="fold")

    def fmt(v: Any) -> str:
        return "-" if v is None or (isinstance(v, float) and v != v) else f"{v:+.2f}"

    for _, r in t.iterrows():
        tab.add_row(
            str(r["turn_index"]),
            "-" if r["start"] is None or r["start"] != r["start"] else f"{r['start']:.1f}s",
            str(r["text"])[:60],
            fmt(r.get("text_valence")),
            fmt(r.get("face_valence")),
            fmt(r.get("face_arousal")),
            fmt(r.get("voice_arousal")),
            str(r.get("face_status", "-")),
            str(r.get("text_face_type") or "-"),
        )
    out.print(tab)
    proxies = [
        c
        for c in ("face_valence", "face_arousal", "voice_arousal", "text_valence")
        if c in result.provenance and result.provenance[c].kind == "proxy"
    ]
    if proxies:
        out.print(
            "[dim]Proxies (not trained on this target; see summary.json 'provenance'): "
            + ", ".join(f"{c} <- {result.provenance[c].estimator}" for c in proxies)
            + "[/]"
        )
    if "response_status" in t.columns:  # analyze --respond: say how many replies failed and why
        from congruence.generation.respond import failure_summary

        failed = failure_summary(list(t["response_status"]), list(t["response_flags"]))
        if failed:
            err.print(f"[yellow]Replies:[/] {failed}")
    for w in result.warnings:
        err.print(f"[yellow]Warning:[/] {w}")
    for name, path in result.outputs.items():
        out.print(f"{name}: {path}")


@app.command()
@user_errors
def analyze(
    session: Annotated[
        Path,
        typer.Argument(
            help="Video (mp4, mkv, webm, mov) or audio (wav, flac, mp3, m4a); or a transcript "
            "(SRT, WebVTT, CSV/TSV, JSON) alone for a text-only analysis (face and voice missing)."
        ),
    ],
    transcript: Annotated[
        Path | None, typer.Option("--transcript", "-t", help="SRT, WebVTT, CSV/TSV or JSON; omit to use ASR.")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML/JSON analysis config.")] = None,
    roles: Annotated[str | None, typer.Option(help="Role override, e.g. 'S1=client,S2=counsellor'.")] = None,
    session_id: Annotated[
        str | None,
        typer.Option("--session-id", help="session_id of every row (default: the file name's stem)."),
    ] = None,
    blur_faces: Annotated[
        bool, typer.Option("--blur-faces", help="Blur face thumbnails in the report.")
    ] = False,
    respond: Annotated[
        bool,
        typer.Option(
            "--respond",
            help="Add a person-centred reply per client turn (embedded SmolLM2 by default; "
            "[respond] in --config chooses strategy and backend).",
        ),
    ] = False,
) -> None:
    """Analyse a recorded session into a per-turn multimodal affect table (Parquet, CSV, JSON)."""
    from congruence.analyze import analyze as run
    from congruence.config import AnalysisConfig

    with progress_bar() as bar:
        result = run(
            session,
            transcript=transcript,
            out_dir=out_dir,
            config=AnalysisConfig.load(config),
            roles=roles,
            session_id=session_id,
            progress=bar,
            blur_faces=blur_faces,
            respond=respond,
        )
    _print_result(result)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("congruence-demo"),
    blur_faces: Annotated[
        bool, typer.Option("--blur-faces", help="Blur face thumbnails in the report.")
    ] = False,
) -> None:
    """Run `analyze` on the shipped example session (real face video + synthetic speech)."""
    from congruence.analyze import analyze as run
    from congruence.examples import build_demo_session

    media, transcript = build_demo_session(out_dir / "session")
    out.print(f"Example session: {media}\nTranscript: {transcript}")
    with progress_bar() as bar:
        result = run(
            media,
            transcript=transcript,
            out_dir=out_dir,
            progress=bar,
            session_id="demo",
            blur_faces=blur_faces,
        )
    _print_result(result)


@app.callback()
def _quiet_native_logs() -> None:
    """Silence C++ and hub progress chatter of the model runtimes; keep our own progress bars."""
    for key, value in (
        ("GLOG_minloglevel", "2"),  # mediapipe / tflite C++ logs
        ("TF_CPP_MIN_LOG_LEVEL", "3"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(key, value)


# Each stage owns its commands (a thin register(app) in its cli module, light to import).
for _module in (
    "congruence.evaluation.cli",
    "congruence.generation.cli",
    "congruence.reporting.cli",
    "congruence.incongruence.cli",
    "congruence.app.cli",
    "congruence.training.cli",
    "congruence.corpus.cli",
):
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as exc:  # a stage not present in this checkout adds no command
        if not exc.name or not (_module + ".").startswith(exc.name + "."):
            raise


def main() -> None:  # pragma: no cover - entry point
    app()
