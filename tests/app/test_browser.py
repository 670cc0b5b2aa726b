"""Headless Chromium (Debian's package) drives the real pages: log in, annotate, rate, export.

Screenshots of the pages go to ``$CONGRUENCE_SCREENSHOTS`` when set (to look at them by hand).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from congruence.app.models import Annotation, Rating, User

from .helpers import PASSWORD, add_users, client, live_server

expect = None  # playwright's expect, bound by the browser fixture (the import is optional)
pytestmark = pytest.mark.slow


@pytest.fixture
def browser(chromium_launch):
    sync_api = pytest.importorskip("playwright.sync_api")
    global expect
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(**chromium_launch)
        yield b
        b.close()


def shot(page, name: str) -> None:
    folder = os.environ.get("CONGRUENCE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def drafts_delivered(page, timeout_s: float = 10) -> None:
    """Wait until the page's autosaver has no edit left in localStorage (all acknowledged)."""
    for _ in range(int(timeout_s / 0.1)):
        if page.evaluate("() => localStorage.length") == 0:
            return
        page.wait_for_timeout(100)
    raise AssertionError("edits still pending in localStorage")


def annotation_of(app, username: str) -> list[Annotation]:
    with app.state.db.read() as s:
        return list(
            s.scalars(
                sa.select(Annotation)
                .join(User, Annotation.user_id == User.id)
                .where(User.username == username)
            )
        )


def test_log_in_annotate_rate_and_export_in_a_browser(
    make_app, session_zip: bytes, browser, tmp_path
) -> None:
    app = make_app()
    add_users(app)
    admin = client(app, "admin")
    assert admin.post("/api/admin/import/session", content=session_zip).status_code == 201
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    rows = [
        {"session_id": "demo", "turn_index": 1, "system": f"sys{i}", "technique": t, "response": r}
        for i, (t, r) in enumerate(
            [
                ("Reflection", "It sounds like 'fine' is carrying a lot today."),
                ("Advice", "You should try to relax more."),
            ]
        )
    ]
    admin.post(
        "/api/admin/import/responses",
        params={"filename": "r.jsonl"},
        content="\n".join(json.dumps(r) for r in rows).encode(),
    )
    admin.post("/api/admin/assign", json={"usernames": ["exp1"], "kind": "rate"})

    with live_server(app) as base:
        # ---- annotator: keyboard shortcuts, autosave, reload
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(page, base, "ann1")
        page.wait_for_url("**/annotate")
        page.click("text=Continue")
        page.wait_for_selector("body[data-ready]")
        page.keyboard.press("2")  # minimizing
        page.keyboard.press("e")
        for _ in range(3):
            page.keyboard.press("ArrowRight")  # 0.50 -> 0.65
        page.keyboard.press("Escape")
        page.keyboard.press("v")
        for _ in range(4):
            page.keyboard.press("ArrowLeft")  # 0 -> -0.20
        page.keyboard.press("Escape")
        expect(page.locator("#save-status")).to_contain_text("All changes saved")
        drafts_delivered(page)
        [ann] = annotation_of(app, "ann1")
        assert (ann.incongruence, ann.engagement, ann.valence, ann.arousal) == (
            "minimizing",
            0.65,
            -0.2,
            None,
        )
        page.reload()
        page.wait_for_selector("body[data-ready]")
        assert page.is_checked('input[name="incongruence"][value="minimizing"]')
        assert page.text_content("#engagement-out") == "0.65"
        assert page.text_content("#engagement-level") == "moderate"
        shot(page, "annotate")

        # the server is unreachable: the edit stays in the browser and arrives after a reload
        page.route("**/annotation", lambda route: route.abort())
        page.keyboard.press("3")
        expect(page.locator("#save-status")).to_contain_text("kept in this browser")
        assert annotation_of(app, "ann1")[0].incongruence == "minimizing"
        page.unroute("**/annotation")
        page.reload()
        expect(page.locator("#save-status")).to_contain_text("All changes saved")
        assert annotation_of(app, "ann1")[0].incongruence == "contradiction"
        assert page.is_checked('input[name="incongruence"][value="contradiction"]')
        first_url = page.url
        page.keyboard.press("n")
        page.wait_for_url(lambda url: url != first_url and "/annotate/" in url)

        # ---- expert: blinded responses, 1-5 keys
        expert = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(expert, base, "exp1")
        expert.goto(base + "/rate")
        expert.click("text=Continue")
        expert.wait_for_selector("body[data-ready]")
        assert "sys0" not in expert.content() and "sys1" not in expert.content()
        for key in ("4", "5", "3", "2"):
            expert.keyboard.press(key)
        expect(expert.locator(".save-status.saved")).to_have_count(2)
        drafts_delivered(expert)
        shot(expert, "rate")
        with app.state.db.read() as s:
            ratings = s.scalars(sa.select(Rating).order_by(Rating.id)).all()
            got = sorted((r.applicability, r.empathy, r.comprehensiveness) for r in ratings)
        assert got == [(2, None, None), (4, 5, 3)]

        # ---- admin: agreement report and exports
        boss = browser.new_page(viewport={"width": 1280, "height": 1000})
        log_in(boss, base, "admin")
        boss.wait_for_url("**/admin")
        boss.click("#load-agreement")
        boss.wait_for_selector("#agreement h3")
        shot(boss, "admin")
        with boss.expect_download() as dl:
            boss.click("#export-annotations-csv")
        exported = pd.read_csv(dl.value.path())
        assert (
            exported.loc[0, "ann_incongruence"] == "contradiction" and exported.loc[0, "ann_rater"] == "ann1"
        )
        with boss.expect_download() as dl:
            boss.click("#export-ratings-csv")
        ratings_csv = pd.read_csv(dl.value.path())
        assert sorted(ratings_csv["system"]) == ["sys0", "sys1"]
        assert ratings_csv["empathy"].dropna().tolist() == [5]
