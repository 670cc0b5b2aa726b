"""The docs cannot drift: the generated column tables match the code, every page is in the nav."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _gen():
    spec = importlib.util.spec_from_file_location("gen_columns_doc", ROOT / "scripts/gen_columns_doc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_columns_page_matches_the_declared_provenance():
    gen = _gen()
    page = (ROOT / "docs/columns.md").read_text(encoding="utf-8")
    assert gen.render(page) == page, "docs/columns.md is stale: run python scripts/gen_columns_doc.py"
    for col in ("text_valence", "voice_arousal", "face_valence", "text_face_type"):
        assert f"`{col}`" in page


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    listed = set(re.findall(r"([\w-]+\.md)", nav))
    assert pages <= listed, pages - listed


def test_changelog_names_this_waves_fixes():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "macro-F1" in text and "constraints.txt" in text and "--verbose" in text
