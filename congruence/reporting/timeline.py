"""The report's timeline: per-turn valence and arousal of text, face and voice, as inline SVG.

Drawn with matplotlib's SVG backend on a private Figure (no pyplot state), text kept as
SVG ``<text>`` (small files, no embedded glyphs) and ids salted with a constant so the same input
gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MODALITIES = ("text", "face", "voice")
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies
COLORS = {"text": "#0072B2", "face": "#E69F00", "voice": "#009E73"}
MARKERS = {"text": "o", "face": "s", "voice": "^"}
FLAG_COLORS = {"contradiction": "#D55E00", "minimizing": "#CC79A7", "dissonance": "#7F7F7F"}
FLAG_LABELS = {
    "contradiction": "contradiction (opposite valence)",
    "minimizing": "minimizing (face more intense than words)",
    "dissonance": "dissonance only (indicator fired, no type)",
}


@dataclass(frozen=True)
class TimelineTurn:
    """One client turn on the timeline. ``start``/``end`` in seconds, or ``None`` without times."""

    label: str
    start: float | None
    end: float | None
    valence: Mapping[str, float | None] = field(default_factory=dict)
    arousal: Mapping[str, float | None] = field(default_factory=dict)
    flag: str = "none"  # "none", "dissonance", "minimizing" or "contradiction"


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _positions(turns: Sequence[TimelineTurn]) -> tuple[list[float], list[tuple[float, float]], bool]:
    """x of each turn (mid-time, or its rank when any turn lacks times) and its shaded span."""
    timed = all(t.start is not None and t.end is not None for t in turns)
    if timed:
        xs = [(t.start + t.end) / 2 for t in turns]  # type: ignore[operator]
        spans = [(float(t.start), float(max(t.end, t.start))) for t in turns]  # type: ignore[arg-type,type-var]
    else:
        xs = [float(i) for i in range(len(turns))]
        spans = [(i - 0.4, i + 0.4) for i in range(len(turns))]
    return xs, spans, timed


def timeline_svg(
    turns: Sequence[TimelineTurn],
    *,
    proxies: Mapping[str, bool] | None = None,
    title: str = "Per-turn valence and arousal of the client",
) -> str:
    """An ``<svg>`` element (no XML prolog) with two stacked panels, valence and arousal in [-1, 1].

    One line + marker series per modality; a missing value is a gap in the line, never a zero.
    Turns flagged by the highlighted pair are shaded (colour = incongruence type). The legend
    names a modality's missing dimension ("no valence estimate") or says "not estimated". ``proxies`` maps
    ``"<modality>_<valence|arousal>"`` to whether that estimate is a proxy, marked in the legend.
    """
    import matplotlib

    # fonts and ids are fixed while the figure is built and saved: text properties are resolved
    # when an artist is created, and a salted hash gives the same SVG ids on every run
    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "congruence-report",
            "font.family": "sans-serif",
            "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
        }
    ):
        return _draw(turns, proxies or {}, title)


def _draw(turns: Sequence[TimelineTurn], proxies: Mapping[str, bool], title: str) -> str:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    xs, spans, timed = _positions(turns)
    # smaller marks for long sessions, so an hour of turns stays legible
    ms = 6.0 if len(turns) <= 30 else max(2.5, 6.0 * math.sqrt(30 / len(turns)))
    lw = 1.4 if len(turns) <= 30 else 0.9
    fig = Figure(figsize=(10, 5.2), dpi=100)
    axes = fig.subplots(2, 1, sharex=True)
    fig.subplots_adjust(left=0.08, right=0.99, top=0.80, bottom=0.10, hspace=0.12)
    flags_seen: list[str] = []
    for ax, dim in zip(axes, ("valence", "arousal"), strict=True):
        for (lo, hi), t in zip(spans, turns, strict=True):
            if t.flag in FLAG_COLORS:
                ax.axvspan(lo, hi, color=FLAG_COLORS[t.flag], alpha=0.18, lw=0, zorder=0)
                if t.flag not in flags_seen:
                    flags_seen.append(t.flag)
        ax.axhline(0.0, color="#444444", lw=0.6, zorder=1)
        for m in MODALITIES:
            ys = [_nan(getattr(t, dim).get(m)) for t in turns]
            # gid names the SVG group ("valence-face"), so tests and readers can find a series
            ax.plot(xs, ys, color=COLORS[m], marker=MARKERS[m], ms=ms, lw=lw, zorder=3, gid=f"{dim}-{m}")
        ax.set_ylim(-1.08, 1.08)
        ax.set_yticks([-1, -0.5, 0, 0.5, 1])
        ax.set_ylabel(dim, fontsize=10)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    # turn numbers along the top so the plot can be matched to the table rows (at most ~40 labels)
    step = max(1, math.ceil(len(turns) / 24))
    for x, t in list(zip(xs, turns, strict=True))[::step]:
        axes[0].annotate(
            t.label, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2), textcoords="offset points",
            ha="center", va="bottom", fontsize=7, color="#555555",
        )  # fmt: skip
    if timed:
        axes[1].set_xlabel("time of the client turn (s); marker at the turn's midpoint", fontsize=9)
    else:
        axes[1].set_xlabel("client turn (no times in the transcript)", fontsize=9)
        axes[1].set_xticks(xs, [t.label for t in turns])
    if spans:
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        pad = max(0.5, 0.02 * (hi - lo))
        axes[1].set_xlim(lo - pad, hi + pad)
    # two legend rows: the modalities, then the shading types actually present
    series = []
    for m in MODALITIES:
        dims = [d for d in ("valence", "arousal") if any(_ok(getattr(t, d).get(m)) for t in turns)]
        series.append(
            Line2D([], [], color=COLORS[m], marker=MARKERS[m], lw=1.4, label=_label(m, proxies, dims))
        )
    shades = [
        Patch(color=FLAG_COLORS[f], alpha=0.35, label=FLAG_LABELS[f]) for f in FLAG_COLORS if f in flags_seen
    ]
    for handles, y in ((series, 0.935), (shades, 0.885)):
        if handles:
            fig.legend(
                handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
                bbox_to_anchor=(0.5, y),
            )  # fmt: skip
    fig.suptitle(title, fontsize=11, y=0.99)
    return _to_svg(fig)


def _ok(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def _label(modality: str, proxies: Mapping[str, bool], dims: Sequence[str]) -> str:
    """Legend text: the modality, whether its plotted estimates are proxies, what is not estimated.

    >>> _label("voice", {"voice_arousal": True}, ["arousal"])
    'voice (proxy; no valence estimate)'
    >>> _label("face", {}, ["valence", "arousal"]), _label("text", {}, [])
    ('face', 'text: not estimated')
    """
    if not dims:
        return f"{modality}: not estimated"
    notes = ["proxy"] if any(proxies.get(f"{modality}_{d}") for d in dims) else []
    notes += [f"no {d} estimate" for d in ("valence", "arousal") if d not in dims]
    return f"{modality} ({'; '.join(notes)})" if notes else modality


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')


def _to_svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _PROLOG.sub("", buf.getvalue(), count=1)
    # scale with the page: keep the viewBox, drop the fixed size in points
    return _SIZE.sub(r'<svg\1 width="100%" role="img" aria-label="timeline"', svg, count=1).strip()
