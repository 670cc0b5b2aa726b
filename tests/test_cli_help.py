"""Every command's --help: real metavars, an Examples section, escaped markup, rounded defaults."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from congruence import __version__
from congruence.cli import app

runner = CliRunner()


def _commands(group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        if getattr(cmd, "commands", None):
            yield from _commands(cmd, path)
        else:
            yield path


COMMANDS = list(_commands(get_command(app)))


def _help(*args: str) -> str:
    res = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert res.exit_code == 0, res.output
    return res.output


def test_the_walk_finds_every_stage():
    names = {" ".join(c) for c in COMMANDS}
    assert {"analyze", "demo", "evaluate", "respond", "report", "train", "detect train", "serve"} <= names
    assert "annotations sample" in names and "dataset build" in names


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_examples_and_real_metavars(command):
    text = _help(*command)
    assert "Examples" in text and f"$ congruence {' '.join(command)}" in text
    assert not re.search(r"<(bool|path|str|int|float|list\[[^]]*\])>", text), text
    assert "{" + command[-1] not in text  # arguments are SESSION, not {session}
    # no unrounded float defaults such as 0.1267427122940431
    assert not re.search(r"default: -?\d+\.\d{5,}", text), text


def test_bracketed_words_survive_rich_markup():
    assert "[respond] in --config" in _help("analyze")


def test_defaults_are_rounded_and_described():
    assert "[default: 0.1267]" in _help("annotations", "sample")
    assert "[default: <SESSION>.congruence/]" in _help("analyze")


def test_one_blur_option_name_and_the_old_one_hidden_but_working():
    for cmd in ("analyze", "demo", "report"):
        text = _help(cmd)
        assert "--blur " in text and "--blur-faces" not in text
    res = runner.invoke(app, ["analyze", "missing.mp4", "--blur-faces"])
    assert "No such option" not in res.output


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"congruence {__version__}"


def test_verbosity_flags_are_accepted_after_the_command_name():
    for flags in (["-v"], ["--quiet"]):
        res = runner.invoke(app, ["report", "/nonexistent-folder", *flags])
        assert "No such option" not in res.output
        assert res.exit_code != 0  # the folder is missing: a user error, not a parsing error
    assert runner.invoke(app, ["-v", "-q", "report", "x"]).exit_code != 0
