"""Regenerate the column tables of docs/columns.md from the turn-table contract.

The tables come from ``congruence.pipeline.run.declared_provenance()`` (the column -> provenance
map the default analysis declares before any work), so the page cannot drift from the code;
tests/test_docs.py fails when the page is stale. Usage: python scripts/gen_columns_doc.py
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "columns.md"
START, END = "<!-- columns:start (scripts/gen_columns_doc.py) -->", "<!-- columns:end -->"
FAMILIES = (
    ("Transcript", ("speaker", "text", "face_key_crop_file")),
    ("Text (`text_*`)", ("text_",)),
    ("Voice (`voice_*`)", ("voice_",)),
    ("Face (`face_*`)", ("face_",)),
    ("Pairs (`text_face_*`, `face_voice_*`, `text_voice_*`)", ("text_face_", "face_voice_", "text_voice_")),
)
PAIR = ("text_face_", "face_voice_", "text_voice_")


def _family(col: str) -> str:
    for name, prefixes in FAMILIES:
        if col in prefixes:
            return name
    if col.startswith(PAIR):
        return FAMILIES[-1][0]
    for name, prefixes in FAMILIES[1:4]:
        if col.startswith(prefixes):
            return name
    return "Other"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _common_prefix(names: list[str]) -> str:
    return os.path.commonprefix(names)  # noqa: RUF071 (a character prefix is what is shown)


def tables(provenance: Mapping[str, object]) -> str:
    """Markdown tables, one per column family; runs of 4+ columns with one provenance collapsed."""
    by_family: dict[str, list[tuple[str, object]]] = {}
    for col, prov in provenance.items():
        by_family.setdefault(_family(col), []).append((col, prov))
    out: list[str] = []
    for name in [f for f, _ in FAMILIES] + ["Other"]:
        rows = by_family.get(name)
        if not rows:
            continue
        out += [f"### {name}", "", "| column | estimator | kind | note |", "|---|---|---|---|"]
        i = 0
        while i < len(rows):
            j = i
            key = (rows[i][1].estimator, rows[i][1].kind, rows[i][1].note)  # type: ignore[attr-defined]
            while j + 1 < len(rows) and (
                rows[j + 1][1].estimator, rows[j + 1][1].kind, rows[j + 1][1].note  # type: ignore[attr-defined]
            ) == key:
                j += 1
            group = [c for c, _ in rows[i : j + 1]]
            if len(group) >= 4:
                label = f"`{_common_prefix(group)}*` ({len(group)} columns)"
            else:
                label = ", ".join(f"`{c}`" for c in group)
            est, kind, note = key
            out.append(f"| {label} | `{est}` | {kind} | {_cell(note)} |")
            i = j + 1
        out.append("")
    return "\n".join(out)


def render(page: str) -> str:
    """``page`` with the text between the markers replaced by freshly generated tables."""
    from congruence.pipeline.run import declared_provenance

    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{tables(declared_provenance())}\n{END}{tail}"


def main() -> int:
    new = render(PAGE.read_text(encoding="utf-8"))
    PAGE.write_text(new, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
