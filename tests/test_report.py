"""The HTML session report, on a small analysis folder built here with no model runs.

The folder is written by the real ``write_outputs`` of ``congruence.analyze`` from a fixed turn
table scored by the real incongruence rules, with a real face photo as the key-frame crop.
Golden file: ``tests/golden/report/session.html``; ``CONGRUENCE_UPDATE_GOLDEN=1`` rewrites it.
"""

from __future__ import annotations

import base64
import difflib
import html as htmllib
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from congruence.analyze import AnalysisResult, write_outputs
from congruence.config import AnalysisConfig
from congruence.errors import CongruenceError
from congruence.incongruence.pairs import score_table
from congruence.ingest.media import MediaInfo
from congruence.provenance import Kind, Provenance
from congruence.reporting import build_context, load_output, render_report, turn_flag, write_report
from congruence.reporting.cli import register
from congruence.reporting.report import FLAG_ORDER, clock
from congruence.reporting.timeline import TimelineTurn, timeline_svg
from congruence.schema import Role, Session, Turn

GOLDEN = Path(__file__).parent / "golden" / "report" / "session.html"
FER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _dist(**probs: float) -> dict[str, float]:
    rest = (1.0 - sum(probs.values())) / (len(FER) - len(probs))
    return {c: probs.get(c, rest) for c in FER}


# client turns 1, 3, 5, 7, 9; each tuple: words, text V/A, text classes, face V/A, face classes, voice A
CLIENT = {
    # contradiction: cheerful words over a sad face
    1: (
        "Honestly, I'm fine. Everything is great.",
        0.5,
        0.0,
        _dist(happy=0.7),
        -0.6,
        0.2,
        _dist(sad=0.7),
        -0.5,
    ),
    # minimizing: flat words, a tense face
    3: ("It's fine, nothing much.", -0.1, 0.0, _dist(neutral=0.6), -0.7, 0.5, _dist(fear=0.6), 0.6),
    # dissonance only: a valence gap > 0.5 without a typed label
    5: ("I got the job & I'm <really> glad.", 0.7, 0.0, _dist(happy=0.8), 0.1, -0.3, _dist(neutral=0.7), 0.1),
    # congruent
    7: ("We went to the beach.", 0.45, 0.1, _dist(happy=0.5), 0.5, 0.2, _dist(happy=0.8), None),
    # no face found: cannot be scored
    9: ("Bye then.", 0.1, -0.1, _dist(neutral=0.8), None, None, None, 0.2),
}
COUNSELLOR = {
    0: "How have you been this week?",
    2: "Good to hear. Anything else?",
    4: "Say more about that.",
    6: "That sounds like a real achievement.",
    8: "What did you enjoy most?",
}
PROVENANCE = {
    "text_valence": Provenance("warriner2013-lexicon-mean", Kind.PROXY, "lexicon mean of word norms"),
    "text_arousal": Provenance("warriner2013-lexicon-mean", Kind.PROXY, "lexicon mean of word norms"),
    "face_valence": Provenance("circumplex(fer-2013)+au12-proxy", Kind.PROXY, "circumplex of FER classes"),
    "face_arousal": Provenance("circumplex(fer-2013)+au12-proxy", Kind.PROXY, "circumplex of FER classes"),
    "face_expression": Provenance("fer-mini-xception-tflite", Kind.MODEL, "top FER-2013 class"),
    "voice_arousal": Provenance("voice-arousal-proxy", Kind.PROXY, "z-scored prosody, not calibrated"),
    "voice_valence": Provenance("voice-arousal-proxy", Kind.PROXY, "not estimated (always None)"),
    "voice_f0_median": Provenance("praat-parselmouth", Kind.MEASUREMENT, "median F0 (Hz)"),
    **{f"face_expr_{c}": Provenance("fer-mini-xception-tflite", Kind.MODEL, "P(class)") for c in FER},
    **{f"text_cat_{c}": Provenance("nrc-emolex-to-fer7", Kind.PROXY, "FER-7 from NRC") for c in FER},
}


@pytest.fixture(scope="session")
def face_crop() -> np.ndarray:
    """The face of scikit-image's astronaut photo (a real face), 112 x 112 like analyze's key crops."""
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()[20:220, 150:350]).resize((112, 112), Image.LANCZOS))


def write_folder(
    root: Path,
    crop: np.ndarray,
    *,
    session_id: str = "golden",
    speaker: str = "Client",
    texts: dict[int, str] | None = None,
    counsellor_texts: dict[int, str] | None = None,
    warnings: list[str] | None = None,
    provenance: dict[str, Provenance] | None = None,
    extra: dict[int, dict] | None = None,
) -> Path:
    """An analysis output folder as ``congruence analyze`` writes it, from the fixed turns above."""
    texts = {**{i: c[0] for i, c in CLIENT.items()}, **(texts or {})}
    coun = {**COUNSELLOR, **(counsellor_texts or {})}
    turns = []
    for i in range(10):
        start = 2.0 * i + 0.1
        if i in CLIENT:
            turns.append(
                Turn(index=i, speaker=speaker, text=texts[i], start=start, end=start + 1.8, role=Role.CLIENT)
            )
        else:
            turns.append(Turn(i, "Therapist", coun[i], start=start, end=start + 1.6, role=Role.COUNSELLOR))
    session = Session(
        session_id, turns, media_path="golden.mp4", duration=20.0,
        roles={"Therapist": Role.COUNSELLOR, speaker: Role.CLIENT},
    )  # fmt: skip
    (root / "frames").mkdir(parents=True, exist_ok=True)
    rows = []
    for p in session.pairs():
        c = p.client
        _, tv, ta, tcat, fv, fa, fcat, va = CLIENT[c.index]
        row = {
            "session_id": session_id,
            "turn_index": c.index,
            "start": c.start,
            "end": c.end,
            "pair_index": p.index,
            "speaker": c.speaker,
            "role": "client",
            "text": c.text,
            "counsellor_text": p.counsellor.text if p.counsellor else None,
            "counsellor_start": p.counsellor.start if p.counsellor else None,
            "counsellor_end": p.counsellor.end if p.counsellor else None,
            "text_status": "ok",
            "text_valence": tv,
            "text_arousal": ta,
            **{f"text_cat_{k}": v for k, v in tcat.items()},
            "voice_status": "ok" if va is not None else "too_short",
            "voice_arousal": va,
            "voice_valence": None,
            "voice_f0_median": 180.0 + c.index,
            "face_status": "ok" if fv is not None else "no_face",
            "face_valence": fv,
            "face_arousal": fa,
            **{f"face_expr_{k}": (fcat or {}).get(k) for k in FER},
            "face_expression": max(fcat, key=fcat.get) if fcat else None,
            "face_key_crop_file": None,
        }
        if fv is not None:
            # a different crop per turn (mirrored / darker) so thumbnails are not interchangeable
            img = crop[:, ::-1] if c.index % 4 == 3 else (crop * (0.6 + 0.05 * c.index)).clip(0, 255)
            Image.fromarray(img.astype(np.uint8)).save(root / "frames" / f"turn{c.index:04d}.png")
            row["face_key_crop_file"] = f"frames/turn{c.index:04d}.png"
        row.update((extra or {}).get(c.index, {}))
        rows.append(row)
    table = score_table(pd.DataFrame(rows))
    prov = {**PROVENANCE, **(provenance or {})}
    for name in ("text_face", "face_voice", "text_voice"):
        for k in ("score", "dissonance", "type"):
            prov[f"{name}_{k}"] = Provenance(f"ether-{k}", Kind.PROXY, f"{name} pair")
    result = AnalysisResult(session=session, table=table, provenance=prov, warnings=warnings or [])
    result.stats = {"turns": len(turns), "client_turns": len(rows), "tau_e": table.attrs["tau_e"]}
    info = MediaInfo(path="/data/sessions/golden.mp4", duration=20.0, has_video=True, has_audio=True)
    write_outputs(result, root, info=info, config=AnalysisConfig())
    return root


@pytest.fixture()
def folder(tmp_path: Path, face_crop: np.ndarray) -> Path:
    return write_folder(tmp_path / "out", face_crop, warnings=["Turns come from a test fixture."])


def normalise(html: str) -> str:
    """Replace the volatile parts: SVG ids, the package version, inline image bytes (by their size)."""
    ids: dict[str, str] = {}

    def new_id(m: re.Match) -> str:
        return ids.setdefault(m.group(0), f"svgid{len(ids)}")

    html = re.sub(r"\b[mp][0-9a-f]{10}\b", new_id, html)
    html = re.sub(r"congruence \d+\.\d+\.\d+\S*", "congruence VERSION", html)

    def image(m: re.Match) -> str:
        w, h = Image.open(io.BytesIO(base64.b64decode(m.group(2)))).size
        return f"data:image/{m.group(1)};base64,IMAGE{w}x{h}"

    return re.sub(r"data:image/(\w+);base64,([A-Za-z0-9+/=]+)", image, html)


def data_images(html: str) -> list[np.ndarray]:
    """The inline images of a report, decoded, in document order."""
    found = re.findall(r'src="data:image/\w+;base64,([A-Za-z0-9+/=]+)"', html)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in found]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    return p.tags


# ---------------------------------------------------------------- golden


def test_report_matches_golden_file(folder: Path) -> None:
    html = normalise(render_report(load_output(folder), generated="2024-01-02 03:04 UTC"))
    if os.environ.get("CONGRUENCE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(html, encoding="utf-8")
        pytest.skip(f"golden file rewritten: {GOLDEN}")
    assert GOLDEN.is_file(), f"no golden file; run with CONGRUENCE_UPDATE_GOLDEN=1 to create {GOLDEN}"
    expected = GOLDEN.read_text(encoding="utf-8")
    if html != expected:
        diff = "\n".join(
            list(
                difflib.unified_diff(expected.splitlines(), html.splitlines(), "golden", "now", lineterm="")
            )[:80]
        )
        pytest.fail(f"report differs from {GOLDEN} (CONGRUENCE_UPDATE_GOLDEN=1 rewrites it):\n{diff}")


def test_same_input_gives_the_same_bytes(folder: Path) -> None:
    out = load_output(folder)
    assert render_report(out, generated="x") == render_report(out, generated="x")


# ---------------------------------------------------------------- content


def test_rows_flags_and_gaps(folder: Path) -> None:
    ctx = build_context(load_output(folder), generated="x")
    rows = {r["turn"]: r for r in ctx["rows"]}
    assert list(rows) == [1, 3, 5, 7, 9]
    assert {t: r["flag"] for t, r in rows.items()} == {
        1: "contradiction",
        3: "minimizing",
        5: "dissonance",
        7: "none",
        9: "unscored",  # no face: not compared, so not shown as congruent
    }
    assert rows[1]["counsellor_text"] == "Good to hear. Anything else?"
    assert rows[9]["counsellor_text"] is None  # the session ends on the client
    assert rows[9]["valence"]["face"] is None and rows[9]["thumb"] is None
    assert all(r["valence"]["voice"] is None for r in rows.values())
    assert {p["name"]: p["arousal_only"] for p in ctx["pairs"]} == {
        "text_face": False,
        "face_voice": True,
        "text_voice": True,
    }
    assert ctx["n_turns"] == 10 and ctx["n_client_turns"] == 5 and ctx["duration"] == 20.0
    assert ctx["media_name"] == "golden.mp4"  # the file name, not the reader's folder layout


def test_html_shows_missing_values_as_dashes_and_highlights_rows(folder: Path) -> None:
    html = render_report(load_output(folder), generated="x")
    row9 = re.search(r'<tr id="turn-9".*?</tr>', html, re.S).group(0)
    face_v = re.search(r'<td class="num missing" data-col="face_valence"[^>]*>(.*?)</td>', row9).group(1)
    assert face_v == "—"
    assert 'data-col="face_valence"' in row9 and "+0.00" not in row9
    for turn, flag in ((1, "contradiction"), (3, "minimizing"), (5, "dissonance"), (7, "none")):
        assert re.search(rf'<tr id="turn-{turn}" class="flag-{flag}" data-turn="{turn}"', html)
    assert "1 contradiction, 1 minimizing, 1 dissonance only, 1 not scored" in html
    assert "not a clinical assessment" in html
    assert "Turns come from a test fixture." in html


def test_timeline_gaps_are_not_zeros() -> None:
    turns = [
        TimelineTurn(
            "T1", 0.0, 1.0, {"text": 0.5, "face": -0.4}, {"text": 0.1, "face": 0.2}, "contradiction"
        ),
        TimelineTurn("T3", 2.0, 3.0, {"text": 0.4, "face": None}, {"text": 0.0, "face": None}),
        TimelineTurn("T5", 4.0, 5.0, {"text": 0.3, "face": 0.6}, {"text": 0.2, "face": 0.3}),
    ]
    svg = timeline_svg(turns)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"

    def markers(gid: str) -> list[float]:
        g = next(e for e in root.iter(f"{ns}g") if e.get("id") == gid)
        return [float(u.get("y")) for u in g.iter(f"{ns}use")]

    assert len(markers("valence-text")) == 3
    assert len(markers("valence-face")) == 2  # the missing turn has no marker, not one at 0
    assert markers("arousal-voice") == []  # never estimated: no series drawn
    assert "voice: not estimated" in svg and "text (proxy)" not in svg  # no proxies were declared
    assert "contradiction (opposite valence)" in svg  # the shaded span is in the legend
    assert svg.startswith("<svg") and 'width="100%"' in svg


def test_untimed_turns_are_plotted_by_rank() -> None:
    svg = timeline_svg(
        [TimelineTurn("T1", None, None, {"text": 0.2}), TimelineTurn("T3", None, None, {"text": 0.4})]
    )
    assert "client turn (no times in the transcript)" in svg


def test_proxies_are_listed_and_never_called_accurate(folder: Path) -> None:
    out = load_output(folder)
    ctx = build_context(out, generated="x")
    key = {p["column"]: p for p in ctx["key_provenance"]}
    assert key["face_valence"]["proxy"] and key["face_valence"]["kind"] == "proxy"
    assert not key["face_expression"]["proxy"]
    html = render_report(out, generated="x")
    row = re.search(
        r'<tr class="proxy-row" data-column="face_valence" data-kind="proxy">.*?</tr>', html
    ).group(0)
    assert "circumplex(fer-2013)+au12-proxy" in row and ">PROXY<" in row
    assert re.search(r'<tr class="" data-column="face_expression" data-kind="model">', html)
    assert "accurate" not in html.lower()


def test_blur_removes_the_face_pixels(folder: Path, face_crop: np.ndarray) -> None:
    sharp_html = render_report(load_output(folder), generated="x")
    blurred_html = render_report(load_output(folder), blur_faces=True, generated="x")
    sharp, blurred = data_images(sharp_html), data_images(blurred_html)
    assert len(sharp) == len(blurred) == 4  # turns 1, 3, 5, 7 have a face
    for b64 in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', sharp_html):
        assert b64 not in blurred_html

    def edges(img: np.ndarray) -> float:
        g = img.astype(float).mean(axis=2)
        return float(np.var(g[1:-1, 2:] + g[1:-1, :-2] + g[2:, 1:-1] + g[:-2, 1:-1] - 4 * g[1:-1, 1:-1]))

    original = np.asarray(Image.open(folder / "frames" / "turn0001.png").convert("RGB")).astype(float)
    assert np.abs(sharp[0] - original).mean() < 6  # the sharp thumbnail is the crop (JPEG noise only)
    assert np.abs(blurred[0] - original).mean() > 20
    assert edges(blurred[0]) < 0.02 * edges(original)  # no edges left to recognise a face by
    assert "thumbnails pixelated and blurred" in blurred_html


# ---------------------------------------------------------------- escaping

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '"><img src=x onerror="window.__pwned = 2">'


def hostile_folder(root: Path, crop: np.ndarray) -> Path:
    return write_folder(
        root,
        crop,
        session_id=f"s{SCRIPT}",
        speaker=f"Client{IMG}",
        texts={1: f"I'm fine {SCRIPT}", 3: f"nothing {IMG}"},
        counsellor_texts={2: f"reply {SCRIPT}{IMG}"},
        warnings=[f"warning {SCRIPT}"],
        provenance={"face_valence": Provenance(f"est{IMG}", Kind.PROXY, f"note {SCRIPT}")},
        extra={5: {"face_expression": f"happy{IMG}"}, 7: {"face_key_crop_file": f"frames/{IMG}.png"}},
    )


def test_session_text_is_escaped_never_markup(tmp_path: Path, face_crop: np.ndarray) -> None:
    html = render_report(load_output(hostile_folder(tmp_path / "h", face_crop)), generated="x")
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    escaped = htmllib.escape(SCRIPT, quote=True)
    # session id (title, h1, facts), client text, counsellor text, warning, provenance note
    assert html.count(escaped) >= 6
    parsed = tags(html)
    assert not [t for t, _ in parsed if t in {"script", "iframe", "object", "embed", "link", "base"}]
    assert not [(t, a) for t, attrs in parsed for a in attrs if a.lower().startswith("on")]
    srcs = [attrs.get("src") for t, attrs in parsed if t == "img"]
    assert srcs and all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    # the round trip shows the words exactly as spoken
    assert f"I&#39;m fine {escaped}" in html
    # the odd crop path is reported (escaped), its file is not looked for outside frames/
    assert "Report: Turn 7: crop file frames/" in html


def test_crop_outside_the_folder_is_not_embedded(tmp_path: Path, face_crop: np.ndarray) -> None:
    secret = tmp_path / "secret.png"
    Image.fromarray(face_crop).save(secret)
    out = write_folder(tmp_path / "o", face_crop, extra={1: {"face_key_crop_file": "../secret.png"}})
    html = render_report(load_output(out), generated="x")
    assert "points outside the output folder" in html
    assert re.search(r'<tr id="turn-1".*?</tr>', html, re.S).group(0).count("<img") == 0


# ---------------------------------------------------------------- folders and CLI


def test_missing_summary_still_renders_with_a_warning(folder: Path) -> None:
    (folder / "summary.json").unlink()
    html = render_report(load_output(folder), generated="x")
    assert "summary.json is missing" in html
    assert html.count('<tr id="turn-') == 5


def test_not_an_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CongruenceError, match=r"no turns\.parquet") as e:
        write_report(tmp_path)
    assert "congruence analyze" in e.value.fix
    with pytest.raises(CongruenceError, match="No folder"):
        write_report(tmp_path / "nope")


def test_write_report_writes_report_html(folder: Path) -> None:
    path = write_report(folder)
    assert path == folder / "report.html"
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["session_id"] in html


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def test_cli_report_command(folder: Path) -> None:
    res = CliRunner().invoke(_app(), ["report", str(folder), "--blur"])
    assert res.exit_code == 0, res.output
    assert "report.html" in res.output
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "thumbnails pixelated and blurred" in html


def test_cli_report_error_names_the_fix(tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert "no turns.parquet" in res.output and "Fix:" in res.output


def test_main_cli_has_the_report_command(folder: Path) -> None:
    from congruence.cli import app

    res = CliRunner().invoke(app, ["report", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / "report.html").is_file()


# ---------------------------------------------------------------- pure helpers

TYPES = st.sampled_from([None, "none", "minimizing", "contradiction"])
DIS = st.sampled_from([None, 0.0, 1.0])


@given(st.lists(st.tuples(TYPES, DIS), min_size=1, max_size=4))
def test_turn_flag_properties(pairs: list[tuple[str | None, float | None]]) -> None:
    types, dis = [t for t, _ in pairs], [d for _, d in pairs]
    flag = turn_flag(types, dis)
    assert flag == turn_flag(types[::-1], dis[::-1])  # order of the pairs does not matter
    if all(t is None for t in types) and all(d is None for d in dis):
        assert flag == "unscored"
    elif "contradiction" in types:
        assert flag == "contradiction"
    elif "minimizing" in types:
        assert flag == "minimizing"
    elif 1.0 in dis:
        assert flag == "dissonance"
    else:
        assert flag == "none"
    assert flag in (*FLAG_ORDER, "unscored")


@given(st.floats(min_value=0, max_value=36_000, allow_nan=False))
def test_clock_reads_back_to_the_time(seconds: float) -> None:
    parts = [float(p) for p in clock(seconds).split(":")]
    back = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    assert abs(back - seconds) <= (0.5 if seconds >= 3599.95 else 0.05 + 1e-9)
    assert all(p < 60 for p in parts[1:])


def test_a_guessed_role_assignment_is_shown(folder: Path) -> None:
    """Roles chosen by the heuristic carry a "guessed" badge; given or named roles do not."""
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert ">guessed</span>" not in render_report(load_output(folder))
    summary["stats"]["roles_from"] = "guessed"
    summary_path.write_text(json.dumps(summary))
    html = render_report(load_output(folder))
    roles = html[html.index("<dt>Roles</dt>") :].split("</dd>", 1)[0]
    assert ">guessed</span>" in roles
