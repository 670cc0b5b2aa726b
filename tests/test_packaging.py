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


def test_docstring_citations_resolve_to_docs_references():
    import re

    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', (ROOT / "docs/references.md").read_text()))
    cited: set[str] = set()
    for path in (ROOT / "congruence").rglob("*.py"):
        text = path.read_text()
        assert "papers/" not in text, f"{path} cites papers/*.md, which is not in the repository"
        cited |= set(re.findall(r"docs/references\.md#([a-z0-9-]+)", text))
    assert {"e-ther", "interventions", "mixed-signals"} <= cited
    assert cited <= anchors
