"""The package's import graph: no cycle, and no stage imports a later stage at module level.

The graph is read from the source with ``ast`` by ``scripts/import_graph.py`` (docs/architecture.md
has the stage order and the rules); the last tests check that the reader finds what it must on a
small package written here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ig():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("import_graph", None)


@pytest.fixture(scope="module")
def graph(ig):
    return ig.build(ROOT)


def test_no_module_level_cycle(ig, graph):
    assert ig.cycles(graph.module_level) == []


def test_no_cycle_even_through_function_level_imports(ig, graph):
    # e.g. the stage CLIs once imported user_errors from congruence.cli, which imports them
    assert ig.cycles(graph.all_edges()) == []


def test_no_stage_imports_a_later_stage_at_module_level(ig, graph):
    ups = [f"{a} ({ig.LAYERS[ig.layer(a)][0]}) -> {b} ({ig.LAYERS[ig.layer(b)][0]})"
           for a, b in ig.layer_violations(graph)]  # fmt: skip
    assert ups == []


def test_stage_order_is_the_documented_one(ig):
    order = [name for name, _ in ig.LAYERS]
    assert order.index("ingest") < order.index("perception") < order.index("incongruence")
    assert order.index("incongruence") < order.index("generation") < order.index("training")
    assert order.index("training") < order.index("evaluation") < order.index("reporting/app")
    assert ig.layer("congruence.ingest.media") < ig.layer("congruence.perception.base")
    assert ig.layer("congruence.table") < ig.layer("congruence.ingest.media")
    assert ig.layer("congruence.training.cli") == ig.layer("congruence.cli")  # entry points on top


def test_the_graph_sees_the_whole_package(graph):
    assert {"congruence.table", "congruence.console", "congruence.pipeline.run"} <= set(graph.modules)
    # stage CLIs import congruence.console, not congruence.cli
    assert "congruence.console" in graph.function_level["congruence.reporting.cli"]
    assert "congruence.cli" not in graph.all_edges()["congruence.reporting.cli"]
    # congruence.cli registers the stage CLIs by name through importlib
    assert "congruence.app.cli" in graph.module_level["congruence.cli"]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_reader_finds_a_cycle_and_an_upward_import(ig, tmp_path):
    _write(
        tmp_path,
        {
            "congruence/__init__.py": "",
            "congruence/ingest/__init__.py": "",
            "congruence/ingest/media.py": "from congruence.perception import base\n",
            "congruence/perception/__init__.py": "",
            "congruence/perception/base.py": "def f():\n    from congruence.ingest.media import x\n",
            "congruence/table.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from congruence.ingest import media\n",
        },
    )
    g = ig.build(tmp_path)
    assert ig.cycles(g.module_level) == []
    assert ig.cycles(g.all_edges()) == [["congruence.ingest.media", "congruence.perception.base"]]
    assert ig.layer_violations(g) == [
        ("congruence.ingest.media", "congruence.perception"),
        ("congruence.ingest.media", "congruence.perception.base"),
    ]
    assert g.module_level["congruence.table"] == set()  # TYPE_CHECKING imports are not imports


def test_reader_follows_relative_and_importlib_imports(ig, tmp_path):
    _write(
        tmp_path,
        {
            "congruence/__init__.py": "",
            "congruence/cli.py": "import importlib\nfor m in ('congruence.app.cli',):\n"
            "    importlib.import_module(m)\n",
            "congruence/app/__init__.py": "",
            "congruence/app/cli.py": "from . import store\nfrom ..table import read\n",
            "congruence/app/store.py": "",
            "congruence/table.py": "",
        },
    )
    g = ig.build(tmp_path)
    assert "congruence.app.cli" in g.module_level["congruence.cli"]
    assert g.module_level["congruence.app.cli"] == {"congruence.app.store", "congruence.table"}
