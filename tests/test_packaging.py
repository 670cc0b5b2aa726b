"""What the installed package promises: its version from the metadata, inline types (PEP 561)."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import congruence

ROOT = Path(__file__).parents[1]


def test_version_comes_from_the_package_metadata():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert congruence.__version__ == version("congruence") == declared


def test_package_ships_py_typed():
    assert (Path(congruence.__file__).parent / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["congruence"]
