"""The `congruence` command line: a thin layer over the Python API."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from congruence import quiet
from congruence.console import err, examples, out, progress_bar, user_errors

# before any model runtime loads (they load lazily inside the commands): see congruence/quiet.py
quiet.silence()

VERBOSITY_FLAGS = ("-v", "--verbose", "-q", "--quiet")


class _Option(TyperOption):
    """Defaults shown as written (a string default is a description, floats rounded to 4 digits)."""

    def _get_default_string(self, *, ctx: Any, show_default_is_str: bool, default_value: Any) -> str:
        if show_default_is_str:
            return str(self.show_default)
        if isinstance(default_value, float):
            return f"{default_value:.4g}"
        return super()._get_default_string(
            ctx=ctx, show_default_is_str=show_default_is_str, default_value=default_value
        )


class _Argument(TyperArgument):
    """Arguments named in upper case in the usage line (``SESSION``), as Click and man pages do."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return _metavar(self) + ("..." if self.nargs != 1 else "")


_METAVARS = {float: "FLOAT", int: "INTEGER", str: "TEXT", bool: ""}


def _metavar(param: Any) -> str:
    """PATH, FLOAT, INTEGER or TEXT from the parameter's annotation (``list[X]``: X, repeatable)."""
    from typing import get_args

    desc = param.type_descriptor
    if desc.is_path:
        return "PATH"
    annotation = desc.annotation
    if desc.is_list:
        annotation = get_args(annotation)[0]
    return _METAVARS.get(annotation, "TEXT")


def _polish(command: Any) -> None:
    """Help manners for every command: metavars, escaped help, rounded defaults (recursive)."""
    if command.help:
        command.help = escape(command.help)
    plain = command.get_help_option

    def help_option(ctx: Any) -> Any:
        opt = plain(ctx)
        if opt is not None:
            opt.metavar = ""  # a flag: no "<bool>"
        return opt

    command.get_help_option = help_option
    for param in command.params:
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if isinstance(param, TyperArgument):
            param.__class__ = _Argument
            param.metavar = param.metavar or (param.name or "").upper()
        elif isinstance(param, TyperOption):
            param.__class__ = _Option
            if param.is_flag:
                param.metavar = ""  # a flag takes no value: no "<bool>"
            elif param.metavar is None:
                param.metavar = _metavar(param)
    for sub in getattr(command, "commands", {}).values():
        _polish(sub)


class _Group(TyperGroup):
    """The root group: polishes every command's help, accepts -v/-q after the command name too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _polish(self)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # `congruence demo -v` means the same as `congruence -v demo`; stop at "--" (literal values)
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in VERBOSITY_FLAGS]
        rest = [a for a in args[:end] if a not in VERBOSITY_FLAGS] + args[end:]
        return super().parse_args(ctx, flags + rest)


class _App(typer.Typer):
    """The executable: also silences native (C/C++) writes to stderr, unless -v (congruence/quiet.py)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        quiet.set_level(quiet.level_from_argv(sys.argv[1:]), native=True)
        return super().__call__(*args, **kwargs)


app = _App(
    name="congruence",
    help="Incongruence-aware empathic AI for counselling-style sessions (a research tool, not therapy).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_Group,
    epilog=examples(
        "congruence demo                        # analyse the shipped example session",
        "congruence analyze session.mp4 -t session.csv -o results/",
        "congruence -v analyze session.mp4      # show the model runtimes' own logs",
        "congruence COMMAND --help              # options and examples of one command",
    ),
)


def resumed_line(stats: dict[str, Any]) -> str | None:
    """ "resumed: N of M turns from cache" when a run reused finished work, else None.

    >>> resumed_line({"client_turns": 3, "from_cache": 3})
    'resumed: 3 of 3 turns from cache'
    >>> resumed_line({"client_turns": 3, "from_cache": 0, "from_cache_by_modality": {"text": 3, "face": 1}})
    'resumed: 0 of 3 turns from cache (text 3, face 1)'
    >>> resumed_line({"client_turns": 3, "from_cache": 0, "from_cache_by_modality": {"text": 0}}) is None
    True
    """
    total, whole = stats.get("client_turns", 0), stats.get("from_cache", 0)
    parts = {m: n for m, n in stats.get("from_cache_by_modality", {}).items() if n}
    if not whole and not parts:
        return None
    line = f"resumed: {whole} of {total} turns from cache"
    if parts and any(n != whole for n in parts.values()):  # a run killed part-way: say which modalities
        line += " (" + ", ".join(f"{m} {n}" for m, n in parts.items()) + ")"
    return line


def summary_console() -> Console:
    """stdout console; a pipe or file gets 160 columns, not Rich's 80 (a terminal keeps its width)."""
    if out.is_terminal or os.environ.get("COLUMNS"):
        return out
    return Console(width=160)


def _print_result(result: Any) -> None:
    from rich.table import Table

    console = summary_console()
    t = result.table
    tab = Table(title=f"Session {result.session.session_id}: {len(t)} client turns", show_lines=False)
    # numbers never wrap; the utterance takes whatever width the terminal leaves and wraps at words
    for col in ("turn", "start"):
        tab.add_column(col, no_wrap=True, justify="right")
    tab.add_column("text", ratio=1, min_width=16, overflow="fold")
    for col in ("text V", "face V", "face A", "voice A", "face", "text-face"):
        tab.add_column(col, no_wrap=True)

    def fmt(v: Any) -> str:
        return "-" if v is None or (isinstance(v, float) and v != v) else f"{v:+.2f}"

    for _, r in t.iterrows():
        tab.add_row(
            str(r["turn_index"]),
            "-" if r["start"] is None or r["start"] != r["start"] else f"{r['start']:.1f}s",
            escape(str(r["text"])),
            fmt(r.get("text_valence")),
            fmt(r.get("face_valence")),
            fmt(r.get("face_arousal")),
            fmt(r.get("voice_arousal")),
            str(r.get("face_status", "-")),
            str(r.get("text_face_type") or "-"),
        )
    console.print(tab)
    proxies = [
        c
        for c in ("face_valence", "face_arousal", "voice_arousal", "text_valence")
        if c in result.provenance and result.provenance[c].kind == "proxy"
    ]
    if proxies:
        console.print(
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
        err.print(f"[yellow]Warning:[/] {escape(w)}")
    resumed = resumed_line(getattr(result, "stats", None) or {})
    if resumed:
        console.print(resumed)
    for name, path in result.outputs.items():
        console.print(f"{name}: {path}", soft_wrap=True)


BLUR_HELP = "Pixelate and blur the face thumbnails before they reach the report."


def deprecated(old: str, new: str) -> None:
    """Tell the user an option was renamed (the old name keeps working, hidden from --help)."""
    err.print(f"[yellow]Note:[/] {old} is now {new}; the old name still works but will be removed.")


@app.command(
    epilog=examples(
        "congruence analyze session.mp4 -t session.csv -o results/   # with a transcript",
        "congruence analyze session.mp4                             # ASR + diarization instead",
        'congruence analyze session.mp4 --roles "S1=counsellor,S2=client"',
        "congruence analyze session.mp4 -c analysis.toml --respond --blur",
    )
)
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
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder.", show_default="<SESSION>.congruence/"),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML/JSON analysis config.")] = None,
    roles: Annotated[str | None, typer.Option(help="Role override, e.g. 'S1=client,S2=counsellor'.")] = None,
    session_id: Annotated[
        str | None,
        typer.Option("--session-id", help="session_id of every row (default: the file name's stem)."),
    ] = None,
    blur_faces: Annotated[bool, typer.Option("--blur", help=BLUR_HELP)] = False,
    blur_faces_old: Annotated[
        bool, typer.Option("--blur-faces", hidden=True, help="Old name of --blur.")
    ] = False,
    respond: Annotated[
        bool,
        typer.Option(
            "--respond",
            help="Add a person-centred reply per client turn (the embedded Qwen2.5 model by default; "
            "[respond] in --config chooses strategy and backend).",
        ),
    ] = False,
) -> None:
    """Analyse a recorded session into a per-turn multimodal affect table (Parquet, CSV, JSON)."""
    from congruence.analyze import analyze as run
    from congruence.config import AnalysisConfig

    if blur_faces_old:
        deprecated("--blur-faces", "--blur")
    with progress_bar() as bar:
        result = run(
            session,
            transcript=transcript,
            out_dir=out_dir,
            config=AnalysisConfig.load(config),
            roles=roles,
            session_id=session_id,
            progress=bar,
            blur_faces=blur_faces or blur_faces_old,
            respond=respond,
        )
    _print_result(result)


@app.command(
    epilog=examples(
        "congruence demo                      # writes congruence-demo/report.html",
        "congruence demo -o /tmp/demo --blur",
    )
)
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("congruence-demo"),
    blur_faces: Annotated[bool, typer.Option("--blur", help=BLUR_HELP)] = False,
    blur_faces_old: Annotated[
        bool, typer.Option("--blur-faces", hidden=True, help="Old name of --blur.")
    ] = False,
) -> None:
    """Run `analyze` on the shipped example session (real face video + synthetic speech)."""
    from congruence.analyze import analyze as run
    from congruence.examples import build_demo_session

    if blur_faces_old:
        deprecated("--blur-faces", "--blur")
    media, transcript = build_demo_session(out_dir / "session")
    out.print(f"Example session: {media}\nTranscript: {transcript}")
    with progress_bar() as bar:
        result = run(
            media,
            transcript=transcript,
            out_dir=out_dir,
            progress=bar,
            session_id="demo",
            blur_faces=blur_faces or blur_faces_old,
        )
    _print_result(result)


def _version(value: bool) -> None:
    if value:
        from congruence import __version__

        typer.echo(f"congruence {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show the model runtimes' own logs and warnings (TFLite, absl, ...)."
        ),
    ] = False,
    quiet_: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars either (for scripts and logs).")
    ] = False,
) -> None:
    """Incongruence-aware empathic AI for counselling-style sessions (a research tool, not therapy).

    Quiet by default: -v/--verbose (before or after the command name) shows the runtimes' logs.
    """
    if verbose and quiet_:
        raise typer.BadParameter("--verbose and --quiet exclude each other.")
    quiet.set_level("verbose" if verbose else "quiet" if quiet_ else "normal")


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
