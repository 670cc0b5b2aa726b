"""The demo's report opened in headless Chromium (Debian's, driven by the PyPI ``playwright``).

The demo session is analysed once for the module (real face video, synthetic speech, ~20 s).
Set ``CONGRUENCE_REPORT_SCREENSHOT=/some/file.png`` to keep the full-page screenshot.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from congruence.errors import CongruenceError
from congruence.reporting import write_report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.slow

SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
IMG = '"><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of `analyze` on the demo session, as `congruence demo` writes it."""
    from congruence.analyze import analyze
    from congruence.examples import build_demo_session

    root = tmp_path_factory.mktemp("demo")
    try:
        media, transcript = build_demo_session(root / "session")
    except CongruenceError as exc:
        pytest.skip(exc.problem)
    analyze(media, transcript=transcript, out_dir=root, session_id="demo")
    return root


@pytest.fixture(scope="module")
def browser(chromium_launch: dict) -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(**chromium_launch)
        yield b
        b.close()


class Opened:
    """A report open in a fresh page, with every request and console error recorded."""

    def __init__(self, browser: Browser, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()

        def route(r: Route) -> None:
            if r.request.url == self.url or r.request.url.startswith("data:"):
                r.continue_()
            else:  # nothing may leave the page; abort it so the test never touches the network
                self.blocked.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url, wait_until="load")

    def close(self) -> None:
        self.context.close()


def _gray(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def _edges(g: np.ndarray) -> float:
    """Variance of the Laplacian: high for a sharp face, near zero for a blurred blob."""
    return float(np.var(g[1:-1, 2:] + g[1:-1, :-2] + g[2:, 1:-1] + g[:-2, 1:-1] - 4 * g[1:-1, 1:-1]))


def test_demo_report_in_browser(browser: Browser, demo_out: Path, tmp_path: Path) -> None:
    path = write_report(demo_out)
    assert path.stat().st_size < 500_000  # thumbnails as small JPEGs, timeline as SVG text
    o = Opened(browser, path)
    page = o.page
    try:
        # header: the session and the research-tool line
        assert page.locator("h1").inner_text() == "Session report: demo"
        assert "not a clinical assessment" in page.locator(".disclaimer").inner_text()

        # timeline: one inline SVG, drawn at a readable size, with text and face series
        svg = page.locator("#timeline svg")
        assert svg.count() == 1
        box = svg.bounding_box()
        assert box["width"] > 800 and box["height"] > 350
        for dim in ("valence", "arousal"):
            for m in ("text", "face"):
                assert page.locator(f'#timeline g[id="{dim}-{m}"] use').count() == 3
        assert page.locator('#timeline g[id="valence-voice"] use').count() == 0  # never estimated
        assert page.locator('#timeline g[id="arousal-voice"] use').count() == 3

        # incongruence table: one row per client turn of the transcript
        rows = page.locator("#incongruence-table tbody tr")
        assert [rows.nth(i).get_attribute("data-turn") for i in range(rows.count())] == ["1", "3", "5"]
        first = page.locator('tr[data-turn="1"]')
        assert first.get_attribute("data-flag") == "contradiction"
        assert "I'm fine" in first.locator("td.client").inner_text()
        assert "It sounds like things are going well" in first.locator("td.counsellor").inner_text()
        assert first.locator('td[data-pair="text_face"]').get_attribute("data-type") == "contradiction"

        def background(turn: str) -> str:
            return page.eval_on_selector(
                f'tr[data-turn="{turn}"] td.client', "e => getComputedStyle(e).backgroundColor"
            )

        assert background("1") not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")  # highlighted
        for turn in ("3", "5"):  # happy words over a smiling face: not highlighted
            assert page.locator(f'tr[data-turn="{turn}"]').get_attribute("data-flag") == "none"
            assert background(turn) in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")

        # every face thumbnail decoded from its data: URI
        imgs = page.locator("#incongruence-table td.face img")
        assert imgs.count() == 3
        for i in range(3):
            assert imgs.nth(i).get_attribute("src").startswith("data:image/jpeg;base64,")
            assert imgs.nth(i).evaluate("e => e.complete && e.naturalWidth") == 112

        # estimators: face valence is listed, visibly, as a proxy
        fv = page.locator('#proxy-table tr[data-column="face_valence"]')
        assert fv.get_attribute("data-kind") == "proxy"
        assert "PROXY" in fv.inner_text() and fv.is_visible()
        assert page.locator("#warnings").is_visible()

        # nothing left the page: the document itself, data: URIs at most
        assert o.blocked == []
        assert all(u == o.url or u.startswith("data:") for u in o.requests), o.requests
        assert o.errors == [], o.errors  # e.g. a CSP violation would be reported here

        png = page.screenshot(full_page=True)
        shot = tmp_path / "report.png"
        shot.write_bytes(png)
        if os.environ.get("CONGRUENCE_REPORT_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["CONGRUENCE_REPORT_SCREENSHOT"])
        g = _gray(png)
        assert g.shape[0] > 1500  # the whole report, not one screen
        assert g.std() > 30  # not blank
        assert (g < 128).mean() > 0.01  # text and plot lines are drawn
    finally:
        o.close()


def test_blurred_thumbnails_in_browser(browser: Browser, demo_out: Path) -> None:
    original = Image.open(demo_out / "frames" / "turn0001.png").convert("L")
    seen = {}
    for blur in (False, True):
        o = Opened(browser, write_report(demo_out, blur_faces=blur))
        try:
            img = o.page.locator('tr[data-turn="1"] td.face img')
            box = img.bounding_box()
            assert (box["width"], box["height"]) == (72, 72)
            # the element's box may straddle a pixel edge (73 px shot): resample, drop the round corners
            shot = Image.open(io.BytesIO(img.screenshot())).convert("L").resize((72, 72), Image.LANCZOS)
            seen[blur] = np.asarray(shot, dtype=float)[4:-4, 4:-4]
        finally:
            o.close()
    ref = np.asarray(original.resize((72, 72), Image.LANCZOS), dtype=float)[4:-4, 4:-4]
    # the measurement can tell a face from a blob: the sharp thumbnail matches the crop
    assert np.abs(seen[False] - ref).mean() < 15
    assert _edges(seen[False]) > 0.3 * _edges(ref)
    # the blurred one does not: its pixels and its edges are gone
    assert np.abs(seen[True] - ref).mean() > 20
    assert _edges(seen[True]) < 0.03 * _edges(ref)


def test_markup_in_a_transcript_is_shown_not_run(browser: Browser, demo_out: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "hostile"
    out.mkdir()
    for name in ("turns.parquet", "summary.json"):
        shutil.copyfile(demo_out / name, out / name)
    shutil.copytree(demo_out / "frames", out / "frames")
    table = pq.read_table(out / "turns.parquet")
    for col, value in (("text", f"I'm fine {SCRIPT}"), ("counsellor_text", f"OK {IMG}")):
        i = table.schema.get_field_index(col)
        cells = table.column(col).to_pylist()
        cells[0] = value
        # set_column with the old field keeps its provenance metadata
        table = table.set_column(i, table.schema.field(i), pa.array(cells, type=table.schema.field(i).type))
    pq.write_table(table, out / "turns.parquet")

    o = Opened(browser, write_report(out))
    try:
        row = o.page.locator('tr[data-turn="1"]')
        assert SCRIPT in row.locator("td.client").inner_text()  # shown literally
        assert IMG in row.locator("td.counsellor").inner_text()
        assert o.page.evaluate("() => window.__pwned === undefined")
        assert o.dialogs == []
        assert row.locator("td.counsellor img").count() == 0
        assert o.blocked == [] and all(u == o.url or u.startswith("data:") for u in o.requests)
    finally:
        o.close()
