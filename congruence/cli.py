"""The `congruence` command line: a thin layer over the Python API."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="congruence",
    help="Incongruence-aware empathic AI for counselling-style sessions (research tool, not therapy).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:  # pragma: no cover - entry point
    app()
