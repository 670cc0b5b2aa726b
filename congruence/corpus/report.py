"""The corpus report: incongruence rates by session and type, the slowest and failed sessions,
links to each session's report. One self-contained HTML file (``DIR/report.html``, no script, no
remote load) and the rates as ``DIR/corpus_rates.csv``.

The incongruence values are the pipeline's rule-based scores (provenance kind ``proxy``): the
report says so and gives rates, never accuracies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from congruence import table as turn_table
from congruence.schema import IncongruenceType

REPORT_NAME = "report.html"
RATES_NAME = "corpus_rates.csv"
#: E-THER's primary pair, whose types the report breaks down (the voice pairs compare arousal only
#: by default, see congruence.reporting.report.HIGHLIGHT_PAIRS)
TYPE_PAIR = "text_face"
TYPES: tuple[str, ...] = tuple(t.value for t in IncongruenceType)


def incongruence_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per session (and ``"all"``): client turns, and per modality pair the share of scored turns
    the dissonance indicator flags, ``rate = #{dissonance = 1} / #{dissonance not missing}``
    (interventions paper's indicator ``1[score > T]``, averaged); for :data:`TYPE_PAIR` the share
    of typed turns of each E-THER type (none / minimizing / contradiction, E-THER section III-C).
    Turns a pair could not score (a modality missing) count in neither numerator nor denominator.

    >>> t = pd.DataFrame({"session_id": ["a", "a", "b"], "text_face_dissonance": [1.0, None, 0.0],
    ...                   "text_face_type": ["contradiction", None, "none"]})
    >>> r = incongruence_rates(t).set_index("session_id")
    >>> float(r.loc["a", "text_face_rate"]), int(r.loc["all", "text_face_scored"])
    (1.0, 2)
    >>> float(r.loc["b", "text_face_contradiction"])
    0.0
    """

    def one(g: pd.DataFrame) -> dict[str, Any]:
        row: dict[str, Any] = {"client_turns": len(g)}
        for pair in turn_table.PAIR_NAMES:
            col = f"{pair}_dissonance"
            scored = pd.to_numeric(g[col], errors="coerce").dropna() if col in g else pd.Series(dtype=float)
            row[f"{pair}_scored"] = len(scored)
            row[f"{pair}_rate"] = float((scored > 0.5).mean()) if len(scored) else float("nan")
        types = g[f"{TYPE_PAIR}_type"].dropna().astype(str) if f"{TYPE_PAIR}_type" in g else pd.Series()
        for t in TYPES:
            row[f"{TYPE_PAIR}_{t}"] = float((types == t).mean()) if len(types) else float("nan")
        return row

    rows = [{"session_id": str(sid), **one(g)} for sid, g in table.groupby("session_id", sort=True)]
    rows.append({"session_id": "all", **one(table)})
    return pd.DataFrame(rows)


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Corpus report: {{ name }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:75em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.failed{color:#a00}.note{color:#555}
tr.all{font-weight:bold;background:#f4f4f4}
</style></head><body>
<h1>Corpus report: {{ name }}</h1>
<p>{{ n_done }} session(s) analysed, {{ n_failed }} failed, {{ problems|length }} input(s) skipped;
{{ '%.2f'|format(media_hours) }} h of media; {{ '%.1f'|format(cpu_seconds) }} s of worker time.
Written {{ written }} by congruence {{ version }}.</p>
<p class="note">Incongruence values are rule-based proxies (scores on the modalities' valence and
arousal estimates, see each session's provenance), not validated detections. A rate is the share of
the turns a pair could score; a turn missing a modality is in neither count.</p>
<h2>Incongruence by session and type</h2>
<table><tr><th>session</th><th>client turns</th>
{% for p in pairs %}<th>{{ p|replace('_', '–') }} rate (scored)</th>{% endfor %}
{% for t in types %}<th>{{ type_pair|replace('_', '–') }} {{ t }}</th>{% endfor %}</tr>
{% for r in rates %}<tr{% if r.session_id == 'all' %} class="all"{% endif %}>
<td>{% if r.session_id == 'all' %}all sessions{% else %}
<a href="{{ r.link }}">{{ r.session_id }}</a>{% endif %}</td>
<td>{{ r.client_turns }}</td>
{% for p in pairs %}<td>{{ pct(r[p ~ '_rate']) }} ({{ r[p ~ '_scored'] }})</td>{% endfor %}
{% for t in types %}<td>{{ pct(r[type_pair ~ '_' ~ t]) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>Slowest sessions</h2>
<table><tr><th>session</th><th>analysis s</th><th>media s</th><th>real-time factor</th><th>client turns</th>
<th>peak worker memory (MiB)</th></tr>
{% for s in slowest %}<tr><td><a href="{{ s.link }}">{{ s.session_id }}</a></td>
<td>{{ '%.1f'|format(s.seconds) }}</td><td>{{ num(s.media_seconds) }}</td><td>{{ num(s.rtf, 3) }}</td>
<td>{{ s.client_turns }}</td><td>{{ num(s.peak_rss_mib, 0) }}</td></tr>{% endfor %}</table>
<h2>Failed sessions</h2>
{% if failed %}<table><tr><th>session</th><th>reason</th></tr>
{% for s in failed %}<tr class="failed"><td>{{ s.session_id }}</td>
<td style="text-align:left">{{ s.reason }}</td></tr>
{% endfor %}</table><p>Run <code>congruence corpus analyze ... --retry-failed</code> to try them again.</p>
{% else %}<p>None.</p>{% endif %}
{% if problems %}<h2>Inputs that are not sessions</h2><table><tr><th>input</th><th>reason</th></tr>
{% for p in problems %}<tr><td>{{ p.origin }}</td>
<td style="text-align:left">{{ p.reason }}</td></tr>{% endfor %}
</table>{% endif %}
</body></html>
"""


def _pct(v: Any) -> str:
    return "–" if v is None or v != v else f"{100 * float(v):.0f} %"


def _num(v: Any, digits: int = 1) -> str:
    return "–" if v is None or v != v else f"{float(v):.{digits}f}"


def write_corpus_report(root: str | Path, *, n_slowest: int = 10) -> Path:
    """Write ``root/report.html`` and ``root/corpus_rates.csv`` for a corpus folder; returns the
    report's path."""
    from datetime import UTC, datetime

    from jinja2 import Environment

    from congruence.io import write_atomic
    from congruence.version import __version__

    root = Path(root)
    manifest = turn_table.read_corpus_manifest(root)
    sessions = manifest["sessions"]
    done = {sid: r for sid, r in sessions.items() if r.get("status") == turn_table.DONE}
    failed = [{"session_id": sid, **r} for sid, r in sorted(sessions.items()) if r.get("status") == "failed"]
    rates = pd.DataFrame()
    if done:
        table, _ = turn_table.read_corpus(root)
        rates = incongruence_rates(table)
        write_atomic(root / RATES_NAME, lambda fh: rates.to_csv(fh, index=False))

    def link(sid: str) -> str:
        from urllib.parse import quote

        return f"{turn_table.CORPUS_SESSIONS}/{quote(sid)}/report.html"

    slow = []
    for sid, r in done.items():
        media = r.get("media_seconds")
        secs = float(r.get("seconds") or 0.0)
        slow.append(
            {
                **r,
                "session_id": sid,
                "seconds": secs,
                "rtf": secs / media if media else None,
                "link": link(sid),
            }
        )
    slow.sort(key=lambda r: -r["seconds"])
    env = Environment(autoescape=True)
    html = env.from_string(_TEMPLATE).render(
        name=root.name,
        n_done=len(done),
        n_failed=len(failed),
        problems=manifest.get("problems") or [],
        media_hours=sum(float(r.get("media_seconds") or 0.0) for r in done.values()) / 3600,
        cpu_seconds=sum(float(r.get("seconds") or 0.0) for r in sessions.values()),
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        pairs=turn_table.PAIR_NAMES,
        types=TYPES,
        type_pair=TYPE_PAIR,
        rates=[{**r, "link": link(str(r["session_id"]))} for r in rates.to_dict("records")],
        slowest=slow[:n_slowest],
        failed=failed,
        pct=_pct,
        num=_num,
    )
    path = root / REPORT_NAME
    write_atomic(path, lambda fh: fh.write(html))
    return path
