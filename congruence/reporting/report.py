"""The session report: one self-contained HTML file from an analysis output folder.

The file opens offline and makes no request: CSS is inline, the timeline is inline SVG, face
thumbnails are ``data:`` URIs, and a Content-Security-Policy forbids scripts and every remote
load. Every piece of text from the session (transcript, speaker names, warnings, notes) goes
through Jinja2's autoescape, so a transcript containing markup is shown, never run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from congruence.errors import CongruenceError
from congruence.provenance import Kind, Provenance
from congruence.reporting.images import jpeg_data_uri, load_crop, thumbnail
from congruence.reporting.timeline import MODALITIES, TimelineTurn, timeline_svg
from congruence.table import PAIR_NAMES, TABLE_FILE, TurnTable, as_number
from congruence.table import read as read_turn_table

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATE = "report.html.j2"
REPORT_NAME = "report.html"
#: Pairs whose type / dissonance highlight rows and timeline spans. text-face is E-THER's primary
#: pair; the voice pairs are shown in the table but would highlight nearly every turn when they
#: compare arousal only (no voice valence estimate by default).
HIGHLIGHT_PAIRS: tuple[str, ...] = ("text_face",)
#: Flags from weakest to strongest; a turn takes the strongest its highlighted pairs raise.
FLAG_ORDER = ("none", "dissonance", "minimizing", "contradiction")
#: Columns listed first in the estimator table: the values the report plots and tabulates.
KEY_COLUMNS = (
    "text_valence",
    "text_arousal",
    "face_valence",
    "face_arousal",
    "voice_valence",
    "voice_arousal",
    "face_expression",
    "face_engagement",
    "text_cat_happy",
)
PAIR_LABELS = {name: name.replace("_", "–") for name in PAIR_NAMES}


#: What ``congruence analyze`` wrote to a folder, read back (the turn-table contract's record).
AnalysisOutput = TurnTable


def load_output(out_dir: str | Path) -> AnalysisOutput:
    """Read ``turns.parquet`` (with each column's provenance) and ``summary.json`` from ``out_dir``."""
    root = Path(out_dir)
    if not root.is_dir():
        raise CongruenceError(f"No folder at {root}.", "Pass the output folder of `congruence analyze`.")
    if not (root / TABLE_FILE).is_file():
        raise CongruenceError(
            f"{root} has no {TABLE_FILE}, so it is not an analysis output folder.",
            "Run `congruence analyze SESSION --out FOLDER` first and pass FOLDER.",
        )
    return read_turn_table(root)


# ---------------------------------------------------------------- pure helpers


def text_or_none(value: Any) -> str | None:
    """The string value of a cell, or ``None`` when missing or blank."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value)
    return s if s.strip() else None


def turn_flag(types: Sequence[str | None], dissonances: Sequence[float | None]) -> str:
    """The highlight of a turn from its pairs' incongruence types and dissonance indicators.

    The strongest of: ``contradiction`` > ``minimizing`` (a pair's E-THER type) > ``dissonance``
    (a pair's indicator is 1 while its type is none) > ``none``. ``unscored`` when no type and no
    indicator is known (a modality is missing): a turn that could not be compared must not read
    as congruent.

    >>> turn_flag(["none"], [1.0]), turn_flag(["minimizing", "contradiction"], [0.0, 1.0])
    ('dissonance', 'contradiction')
    >>> turn_flag([None], [None]), turn_flag(["none"], [0.0])
    ('unscored', 'none')
    """
    known = [t for t in types if t is not None] + [d for d in dissonances if d is not None]
    if not known:
        return "unscored"
    flag = "none"
    for t in types:
        if t in FLAG_ORDER and FLAG_ORDER.index(t) > FLAG_ORDER.index(flag):
            flag = t
    if flag == "none" and any(d == 1 for d in dissonances if d is not None):
        flag = "dissonance"
    return flag


def clock(seconds: float | None) -> str:
    """``m:ss.s`` of a time in seconds (``h:mm:ss`` past an hour); an em dash when missing.

    >>> clock(1.4), clock(75.25), clock(3723.0), clock(None)
    ('0:01.4', '1:15.2', '1:02:03', '—')
    """
    if seconds is None:
        return "—"
    if seconds >= 3599.95:  # from here on the tenths would read 60:00.0
        s = int(seconds + 0.5)
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    # split whole tenths, so 59.96 s reads 1:00.0, never 0:60.0
    m, tenths = divmod(round(seconds * 10), 600)
    return f"{m}:{tenths // 10:02d}.{tenths % 10}"


def signed(value: float | None, digits: int = 2) -> str:
    """``+0.53`` / ``-0.50``, or an em dash for a missing value (never a zero).

    >>> signed(0.534), signed(-0.5), signed(None)
    ('+0.53', '-0.50', '—')
    """
    return "—" if value is None else f"{value:+.{digits}f}"


def plain(value: float | None, digits: int = 2) -> str:
    """``0.53``, or an em dash for a missing value."""
    return "—" if value is None else f"{value:.{digits}f}"


def group_provenance(provenance: Mapping[str, Provenance]) -> list[dict[str, Any]]:
    """Rows of the full estimator table: runs of sorted columns with the same estimator, kind and note.

    88 eGeMAPS columns share one description; listing them once keeps the table readable.

    >>> p = Provenance("e", Kind.MEASUREMENT)
    >>> [g["columns"] for g in group_provenance({"a1": p, "a2": p, "b": Provenance("f", Kind.PROXY)})]
    [['a1', 'a2'], ['b']]
    """
    rows: list[dict[str, Any]] = []
    for col in sorted(provenance):
        p = provenance[col]
        key = {"estimator": p.estimator, "kind": str(p.kind), "note": p.note}
        if rows and all(rows[-1][k] == v for k, v in key.items()):
            rows[-1]["columns"].append(col)
        else:
            rows.append({"columns": [col], **key})
    return rows


# ---------------------------------------------------------------- context


def _pairs(table: pd.DataFrame) -> list[str]:
    from congruence.incongruence.pairs import PAIRS

    names = [name for name, *_ in PAIRS]
    extra = sorted(
        c[: -len("_score")]
        for c in table.columns
        if c.endswith("_score") and f"{c[:-6]}_type" in table.columns
    )
    return [
        n
        for n in dict.fromkeys([*names, *extra])
        if f"{n}_score" in table.columns or f"{n}_type" in table.columns
    ]


def _all_missing(table: pd.DataFrame, col: str) -> bool:
    return col not in table.columns or all(as_number(v) is None for v in table[col])


def _is_proxy(provenance: Mapping[str, Provenance], col: str) -> bool:
    p = provenance.get(col)
    return p is not None and p.kind is Kind.PROXY


def _row(
    r: Mapping[str, Any],
    *,
    output: AnalysisOutput,
    pairs: Sequence[str],
    arousal_only: set[str],
    highlight: Sequence[str],
    blur_faces: bool,
    problems: list[str],
) -> dict[str, Any]:
    turn = int(r["turn_index"])
    thumb = None
    crop_file = text_or_none(r.get("face_key_crop_file"))
    if crop_file:
        image, problem = load_crop(output.root, crop_file)
        if image is not None:
            thumb = jpeg_data_uri(thumbnail(image, blur=blur_faces))
        elif problem:
            problems.append(f"Turn {turn}: {problem}.")
    expression = text_or_none(r.get("face_expression"))
    pair_cells = []
    for name in pairs:
        kind = text_or_none(r.get(f"{name}_type"))
        dis = as_number(r.get(f"{name}_dissonance"))
        pair_cells.append(
            {
                "name": name,
                "label": PAIR_LABELS.get(name, name.replace("_", "–")),
                "score": as_number(r.get(f"{name}_score")),
                "dissonance": None if dis is None else int(dis),
                "type": kind,
                "arousal_only": name in arousal_only,
                "highlighted": name in highlight,
            }
        )
    hl = [c for c in pair_cells if c["highlighted"]]
    flag = turn_flag([c["type"] for c in hl], [c["dissonance"] for c in hl])
    reasons = [
        f"{c['label']}: " + ", ".join(x for x in (c["type"], "dissonance" if c["dissonance"] else None) if x)
        for c in hl
        if (c["type"] not in (None, "none")) or c["dissonance"]
    ]
    start, end = as_number(r.get("start")), as_number(r.get("end"))
    return {
        "turn": turn,
        "start": start,
        "end": end,
        "speaker": text_or_none(r.get("speaker")),
        "text": text_or_none(r.get("text")),
        "counsellor_text": text_or_none(r.get("counsellor_text")),
        "thumb": thumb,
        "face_status": text_or_none(r.get("face_status")),
        "expression": expression,
        "expression_p": as_number(r.get(f"face_expr_{expression}")) if expression else None,
        "engagement": as_number(r.get("face_engagement")),
        "valence": {m: as_number(r.get(f"{m}_valence")) for m in MODALITIES},
        "arousal": {m: as_number(r.get(f"{m}_arousal")) for m in MODALITIES},
        "status": {m: text_or_none(r.get(f"{m}_status")) for m in MODALITIES},
        "pairs": pair_cells,
        "flag": flag,
        "reasons": reasons,
        "annotation": text_or_none(r.get("ann_incongruence")),
        "response": _response(r),
    }


def _response(r: Mapping[str, Any]) -> dict[str, Any] | None:
    """The generated reply of a turn (``congruence analyze --respond``), or ``None``."""
    status = text_or_none(r.get("response_status"))
    if status is None:
        return None
    flags = text_or_none(r.get("response_flags"))
    return {
        "status": status,
        "technique": text_or_none(r.get("response_technique")),
        "text": text_or_none(r.get("response_text")),
        "flags": flags.split(";") if flags else [],
        "strategy": text_or_none(r.get("response_strategy")),
        "backend": text_or_none(r.get("response_backend")),
    }


def _response_failures(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The line saying how many generated replies failed and why (None when none failed)."""
    from congruence.generation.respond import failure_summary

    replies = [r["response"] for r in rows if r.get("response") is not None]
    return failure_summary([x["status"] for x in replies], [";".join(x["flags"]) for x in replies])


def build_context(
    output: AnalysisOutput,
    *,
    blur_faces: bool = False,
    generated: str | None = None,
    highlight_pairs: Sequence[str] = HIGHLIGHT_PAIRS,
) -> dict[str, Any]:
    """Everything the template shows, as plain values (testable without rendering)."""
    from congruence.version import __version__

    table, summary, prov = output.table, output.summary, output.provenance
    problems = list(output.problems)
    if "turn_index" not in table.columns:
        raise CongruenceError(
            "turns.parquet has no turn_index column, so it was not written by `congruence analyze`.",
            "Re-run `congruence analyze` on the session.",
        )
    pairs = _pairs(table)
    # a pair with no valence on one side was scored on arousal alone (incongruence.pairs.score_table)
    arousal_only = {n for n in pairs if any(_all_missing(table, f"{m}_valence") for m in n.split("_"))}
    highlight = [p for p in highlight_pairs if p in pairs]
    order = table.assign(
        _t=pd.to_numeric(table.get("start", pd.Series(index=table.index, dtype=float)), errors="coerce")
    ).sort_values(["_t", "turn_index"], na_position="last", kind="stable")
    rows = [
        _row(
            r,
            output=output,
            pairs=pairs,
            arousal_only=arousal_only,
            highlight=highlight,
            blur_faces=blur_faces,
            problems=problems,
        )
        for r in order.to_dict("records")
    ]
    proxy_of = {f"{m}_{d}": _is_proxy(prov, f"{m}_{d}") for m in MODALITIES for d in ("valence", "arousal")}
    timeline = (
        timeline_svg(
            [
                TimelineTurn(
                    label=f"T{r['turn']}",
                    start=r["start"],
                    end=r["end"],
                    valence=r["valence"],
                    arousal=r["arousal"],
                    flag=r["flag"],
                )
                for r in rows
            ],
            proxies=proxy_of,
        )
        if rows
        else ""
    )
    media = summary.get("media") or {}
    stats = summary.get("stats") or {}
    duration = as_number(media.get("duration")) or as_number(stats.get("media_seconds"))
    if duration is None:
        ends = [r["end"] for r in rows if r["end"] is not None]
        duration = max(ends) if ends else None
    session_id = text_or_none(summary.get("session_id"))
    if session_id is None and "session_id" in table.columns and len(table):
        session_id = text_or_none(table["session_id"].iloc[0])
    key = [
        {"column": c, **prov[c].as_dict(), "proxy": prov[c].kind is Kind.PROXY}
        for c in [*KEY_COLUMNS, *(f"{p}_{k}" for p in pairs for k in ("score", "dissonance", "type"))]
        if c in prov
    ]
    grouped = group_provenance(prov)
    flags = {f: sum(r["flag"] == f for r in rows) for f in (*FLAG_ORDER, "unscored")}
    media_path = text_or_none(media.get("path"))
    return {
        "session_id": session_id or "(unnamed session)",
        "media_name": Path(media_path).name if media_path else None,
        "duration": duration,
        "n_turns": stats.get("turns", len(summary.get("turns") or []) or None),
        "n_client_turns": len(rows),
        "roles": summary.get("roles") or {},
        "roles_from": stats.get("roles_from"),
        "rows": rows,
        "responses": [r for r in rows if r["response"] is not None],
        "response_failures": _response_failures(rows),
        "pairs": [
            {
                "name": p,
                "label": PAIR_LABELS.get(p, p.replace("_", "–")),
                "arousal_only": p in arousal_only,
                "highlighted": p in highlight,
                "tau_e": as_number((stats.get("tau_e") or {}).get(p)),
            }
            for p in pairs
        ],
        "highlight_labels": [PAIR_LABELS.get(p, p) for p in highlight],
        "flags": flags,
        "timeline_svg": timeline,
        "proxy_of": proxy_of,
        "key_provenance": key,
        "all_provenance": grouped,
        "n_columns": len(prov),
        "n_proxy_columns": sum(p.kind is Kind.PROXY for p in prov.values()),
        "missing": summary.get("missing") or {},
        "warnings": [str(w) for w in summary.get("warnings") or []],
        "report_problems": problems,
        "blur_faces": blur_faces,
        "analysis_version": summary.get("congruence_version"),
        "version": __version__,
        "generated": generated if generated is not None else datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,  # every {{ }} is HTML-escaped; only the timeline SVG is marked safe
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(clock=clock, signed=signed, plain=plain)
    return env


def render_report(
    output: AnalysisOutput,
    *,
    blur_faces: bool = False,
    generated: str | None = None,
    highlight_pairs: Sequence[str] = HIGHLIGHT_PAIRS,
) -> str:
    """The report of ``output`` as one HTML document (a string)."""
    from markupsafe import Markup

    ctx = build_context(output, blur_faces=blur_faces, generated=generated, highlight_pairs=highlight_pairs)
    # matplotlib escapes the SVG's text itself, and no session text is drawn into the plot
    ctx["timeline_svg"] = Markup(ctx["timeline_svg"])
    return _environment().get_template(TEMPLATE).render(**ctx)


def write_report(out_dir: Path, *, blur_faces: bool = False) -> Path:
    """Write ``out_dir/report.html`` from the analysis output in ``out_dir`` and return its path.

    ``blur_faces=True`` pixelates and blurs every face thumbnail before it is encoded, so the
    file holds no identifiable face pixels.
    """
    from congruence.io import write_atomic

    out_dir = Path(out_dir)
    html = render_report(load_output(out_dir), blur_faces=blur_faces)
    path = out_dir / REPORT_NAME
    write_atomic(path, lambda fh: fh.write(html))
    return path
