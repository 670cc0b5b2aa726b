"""Console output shared by every command: the two rich consoles, the user-error wrapper, the
progress bar and the help's Examples section.

At the bottom of the package (it imports only :mod:`congruence.errors`), so each stage's CLI can use it
without importing :mod:`congruence.cli`, which imports those CLIs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from congruence.errors import CongruenceError

if TYPE_CHECKING:
    from rich.progress import Progress


def examples(*lines: str) -> str:
    """A command's ``Examples`` help section (one command per line, each with an optional ``# why``)."""
    return "[bold]Examples[/]\n\n" + "\n\n".join(f"  $ {escape(line)}" for line in lines)


err = Console(stderr=True)
out = Console()


def _print_error(exc: CongruenceError) -> None:
    # escaped: messages name config sections like [respond], which rich would eat as markup;
    # soft-wrapped: no newlines inside paths and commands that people copy
    err.print(f"[bold red]Error:[/] {escape(exc.problem)}", soft_wrap=True)
    if exc.fix:
        err.print(f"[bold]Fix:[/] {escape(exc.fix)}", soft_wrap=True)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print a :class:`CongruenceError` as problem + fix (no traceback) and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CongruenceError as exc:
            _print_error(exc)
            raise typer.Exit(2) from None
        except ModuleNotFoundError as exc:  # an optional stage not installed: name its extra
            from congruence.extras import missing_dependency

            user = missing_dependency(exc)
            if user is None:
                raise
            _print_error(user)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]Interrupted.[/] Finished turns are saved; run the same command to resume.")
            raise typer.Exit(130) from None

    return wrapper


def new_progress() -> Progress:
    """The project's rich progress display (on stderr; off with ``CONGRUENCE_NO_PROGRESS=1``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=os.environ.get("CONGRUENCE_NO_PROGRESS") == "1",
        transient=False,
    )


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar driven by ``callback(stage, done, total)``."""
    with new_progress() as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = f"analysing client turns: {stage}" if stage in ("text", "voice", "face") else stage
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
