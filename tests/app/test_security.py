"""Bad input and attacks get the right refusal: auth, sessions, CSRF, ids, paths, sizes, values."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from congruence.app.models import LoginSession, User

from .helpers import FULL, PASSWORD, add_users, client, login, op, save


@pytest.fixture
def app(make_app, session_zip):
    app = make_app(max_upload_bytes=2 * len(session_zip), max_failed_logins=3)
    add_users(app)
    admin = client(app, "admin")
    assert admin.post("/api/admin/import/session", content=session_zip).status_code == 201
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    return app


def login_status(app, username: str, password: str) -> tuple[int, dict]:
    c = client(app)
    token = c.get("/api/login").json()["csrf_token"]
    r = c.post("/login", json={"username": username, "password": password, "csrf_token": token})
    return r.status_code, r.json()


# ------------------------------------------------------------------------------- passwords
def test_wrong_password_and_unknown_user_get_the_same_401(app) -> None:
    wrong = login_status(app, "ann1", "not the password")
    unknown = login_status(app, "nobody", "not the password")
    assert wrong[0] == unknown[0] == 401
    assert wrong[1]["detail"] == unknown[1]["detail"] == "Wrong user name or password."


def test_passwords_are_stored_as_argon2id_hashes(app) -> None:
    with app.state.db.read() as s:
        h = s.scalar(sa.select(User.password_hash).where(User.username == "ann1"))
    assert h.startswith("$argon2id$") and PASSWORD not in h


def test_repeated_failures_lock_the_account_even_for_the_right_password(app) -> None:
    for _ in range(3):
        assert login_status(app, "ann2", "guess")[0] == 401
    assert login_status(app, "ann2", PASSWORD)[0] == 429
    assert login_status(app, "ann1", PASSWORD)[0] == 200  # other accounts are unaffected


def test_html_login_form_shows_the_error_and_redirects_on_success(app) -> None:
    c = client(app)
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    bad = c.post("/login", data={"username": "ann1", "password": "nope", "csrf_token": token, "next": "/"})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    ok = c.post(
        "/login", data={"username": "ann1", "password": PASSWORD, "csrf_token": token, "next": "/annotate"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/annotate"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_login_never_redirects_off_site(app) -> None:
    c = client(app)
    token = c.get("/api/login").json()["csrf_token"]
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = c.post(
            "/login", data={"username": "ann1", "password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert r.status_code == 303 and r.headers["location"] == "/annotate"


# ------------------------------------------------------------------------------- sessions
def age_sessions(app, **delta: float) -> None:
    with app.state.db.write() as s:
        for login_row in s.scalars(sa.select(LoginSession)):
            login_row.last_seen_at -= timedelta(**delta)
            login_row.created_at -= timedelta(**delta)
            login_row.expires_at -= timedelta(**delta)


def test_an_idle_session_expires(app) -> None:
    ann = client(app, "ann1")
    assert ann.get("/api/queue").status_code == 200
    age_sessions(app, minutes=app.state.config.session_idle_minutes + 1)
    r = ann.get("/api/queue")
    assert r.status_code == 401 and r.json()["detail"] == "Your session has expired."
    page = ann.get("/annotate")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=/annotate")


def test_a_session_expires_after_its_maximum_age_even_when_active(app) -> None:
    ann = client(app, "ann1")
    with app.state.db.write() as s:
        for row in s.scalars(sa.select(LoginSession)):
            row.expires_at = row.created_at  # past its absolute limit, last_seen recent
    assert ann.get("/api/queue").status_code == 401


def test_logout_ends_the_session_and_a_forged_cookie_is_not_a_login(app) -> None:
    ann = client(app, "ann1")
    assert ann.post("/logout").status_code == 303
    assert ann.get("/api/queue").status_code == 401
    stranger = client(app)
    stranger.cookies.set("congruence_session", "forged-token-value")
    assert stranger.get("/api/queue").status_code == 401


def test_deactivated_users_are_logged_out(app) -> None:
    ann = client(app, "ann1")
    assert client(app, "admin").patch("/api/admin/users/ann1", json={"active": False}).status_code == 200
    assert ann.get("/api/queue").status_code == 401
    assert login_status(app, "ann1", PASSWORD)[0] == 401


# ------------------------------------------------------------------------------- CSRF
def test_state_changes_need_the_sessions_csrf_token(app) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    body = {"op_id": op(), "base_version": 0, **FULL}
    good = ann.headers.pop("X-CSRF-Token")
    assert ann.put(f"/api/pairs/{pid}/annotation", json=body).status_code == 403  # missing
    ann.headers["X-CSRF-Token"] = good[:-2] + "xx"
    r = ann.put(f"/api/pairs/{pid}/annotation", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    ann.headers["X-CSRF-Token"] = client(app, "ann1").headers["X-CSRF-Token"]  # another session's token
    assert ann.put(f"/api/pairs/{pid}/annotation", json=body).status_code == 403
    ann.headers["X-CSRF-Token"] = good
    assert ann.put(f"/api/pairs/{pid}/annotation", json=body).status_code == 200
    admin = client(app, "admin")
    admin.headers.pop("X-CSRF-Token")
    r = admin.post("/api/admin/users", json={"username": "mallory", "password": PASSWORD, "role": "admin"})
    assert r.status_code == 403


def test_login_needs_the_double_submit_token(app) -> None:
    c = client(app)
    r = c.post(
        "/login", json={"username": "ann1", "password": PASSWORD, "csrf_token": "made-up-token-123456"}
    )
    assert r.status_code == 403
    c.get("/api/login")
    r = c.post("/login", json={"username": "ann1", "password": PASSWORD})  # cookie but no token
    assert r.status_code == 403


# ------------------------------------------------------------------------------- other users' ids
def test_other_users_ids_are_not_found(app) -> None:
    ann1 = client(app, "ann1")
    pid = ann1.get("/api/queue").json()[0]["pair_id"]
    media = ann1.get(f"/api/pairs/{pid}").json()["frame_url"]
    save(ann1, pid, 0, **FULL)
    ann2 = client(app, "ann2")  # nothing assigned
    assert ann2.get("/api/queue").json() == []
    assert ann2.get(f"/api/pairs/{pid}").status_code == 404
    assert ann2.get(media).status_code == 404
    assert save(ann2, pid, 0, **FULL).status_code == 404
    assert ann2.get("/api/pairs/999999").status_code == 404  # same answer as a missing id
    assert ann2.get("/media/999999").status_code == 404
    # the annotation of ann1 is untouched
    assert ann1.get(f"/api/pairs/{pid}").json()["annotation"]["version"] == 1


def test_roles_guard_their_routes(app) -> None:
    ann = client(app, "ann1")
    for url in ("/api/admin/users", "/api/admin/export/annotations", "/api/admin/agreement", "/api/rate"):
        assert ann.get(url).status_code == 403, url
    r = ann.post("/api/admin/users", json={"username": "x", "password": PASSWORD, "role": "admin"})
    assert r.status_code == 403
    exp = client(app, "exp1")
    assert exp.put("/api/responses/abc/rating", json={"op_id": op(), "base_version": 0}).status_code == 404
    assert client(app, "admin").get("/api/queue").status_code == 403


# ------------------------------------------------------------------------------- paths
@pytest.mark.parametrize(
    "url",
    [
        "/media/../../etc/passwd",
        "/media/..%2F..%2Fetc%2Fpasswd",
        "/media/1/../../congruence/app/models.py",
        "/static/../models.py",
        "/static/%2e%2e/web.py",
        "/static/..%2Fweb.py",
        "/media/%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_urls_reach_no_file(app, url: str) -> None:
    r = client(app, "admin").get(url)
    assert r.status_code in (404, 400), (url, r.status_code)
    assert (
        b"root:" not in r.content and b"DeclarativeBase" not in r.content and b"create_app" not in r.content
    )


def traversal_zip(session_dir: Path, name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(session_dir / "turns.parquet", "turns.parquet")
        z.write(session_dir / "summary.json", "summary.json")
        z.writestr(name, b"x")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil.png", "frames/../../evil.png", "/etc/evil.png", "C:/evil.png"])
def test_zip_entries_outside_the_folder_are_refused(app, analysed_session: Path, name: str) -> None:
    r = client(app, "admin").post(
        "/api/admin/import/session?session_id=evil", content=traversal_zip(analysed_session, name)
    )
    assert r.status_code == 400 and "outside" in r.json()["detail"]


def test_a_turn_table_naming_a_frame_outside_its_folder_is_refused(
    app, analysed_session: Path, tmp_path
) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    table = pd.read_parquet(analysed_session / "turns.parquet")
    table["face_key_crop_file"] = "../../../../etc/passwd"
    table.to_parquet(evil / "turns.parquet")
    (evil / "summary.json").write_text((analysed_session / "summary.json").read_text())
    from .helpers import zip_folder

    r = client(app, "admin").post("/api/admin/import/session?session_id=evil", content=zip_folder(evil))
    assert r.status_code == 400 and "outside its folder" in r.json()["detail"]
    with app.state.db.read() as s:
        from congruence.app.models import AnalysedSession

        assert s.scalar(sa.select(sa.func.count(AnalysedSession.id))) == 1  # nothing half-imported


def test_a_frame_that_is_not_an_image_is_refused(app, analysed_session: Path, tmp_path) -> None:
    import shutil

    from .helpers import zip_folder

    evil = tmp_path / "evil"
    shutil.copytree(analysed_session, evil, ignore=shutil.ignore_patterns(".cache", "session"))
    frame = pd.read_parquet(evil / "turns.parquet")["face_key_crop_file"].iloc[0]
    (evil / frame).write_text("<script>alert(1)</script>")
    r = client(app, "admin").post("/api/admin/import/session?session_id=evil", content=zip_folder(evil))
    assert r.status_code == 400 and "not a PNG or JPEG" in r.json()["detail"]


# ------------------------------------------------------------------------------- sizes
def test_oversized_uploads_get_413(app, session_zip: bytes) -> None:
    admin = client(app, "admin")
    big = session_zip + b"\0" * (2 * len(session_zip))
    assert admin.post("/api/admin/import/session?session_id=big", content=big).status_code == 413
    huge_json = {"op_id": op(), "base_version": 0, "incongruence": "none", "pad": "x" * 100_000}
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    assert ann.put(f"/api/pairs/{pid}/annotation", json=huge_json).status_code == 413
    r = admin.post("/api/admin/import/responses", params={"filename": "r.jsonl"}, content=b"{}\n" * 200_000)
    assert r.status_code == 413


def test_a_zip_bomb_is_refused(app, analysed_session: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(analysed_session / "turns.parquet", "turns.parquet")
        z.write(analysed_session / "summary.json", "summary.json")
        z.writestr("frames/turn0001.png", b"\0" * (200 * 1024 * 1024))  # 200 MiB of zeros, ~200 KiB packed
    assert len(buf.getvalue()) < app.state.config.max_upload_bytes
    r = client(app, "admin").post("/api/admin/import/session?session_id=bomb", content=buf.getvalue())
    assert r.status_code == 413


def test_a_non_zip_upload_is_refused(app) -> None:
    r = client(app, "admin").post("/api/admin/import/session?session_id=x", content=b"PK not really")
    assert r.status_code == 400 and "not a zip" in r.json()["detail"]


# ------------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"engagement": 1.7}, "engagement"),
        ({"engagement": -0.1}, "engagement"),
        ({"engagement": "high"}, "engagement"),
        ({"incongruence": "sarcasm"}, "incongruence"),
        ({"valence": 1.5}, "valence"),
        ({"arousal": -2}, "arousal"),
        ({"dominance": "NaN"}, "dominance"),
        ({"mood": "sad"}, "mood"),
        ({"op_id": "../../x"}, "op_id"),
        ({"base_version": -1}, "base_version"),
    ],
)
def test_malformed_annotation_values_get_422_naming_the_field(app, values: dict, field: str) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    body = {"op_id": op(), "base_version": 0, **values}
    r = ann.put(f"/api/pairs/{pid}/annotation", json=body)
    assert r.status_code == 422
    assert field in r.json()["detail"]
    assert ann.get(f"/api/pairs/{pid}").json()["annotation"]["version"] == 0  # nothing saved


def test_malformed_json_and_bad_user_input_are_refused(app) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    r = ann.put(
        f"/api/pairs/{pid}/annotation", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    admin = client(app, "admin")
    for body, status in (
        ({"username": "../admin", "password": PASSWORD, "role": "annotator"}, 400),
        ({"username": "shorty", "password": "short", "role": "annotator"}, 400),
        ({"username": "newbie", "password": PASSWORD, "role": "root"}, 422),
        ({"username": "ann1", "password": PASSWORD, "role": "annotator"}, 409),
    ):
        r = admin.post("/api/admin/users", json=body)
        assert r.status_code == status, (body, r.text)
    r = admin.post("/api/admin/samples", json={"share": 1.7, "experts": ["exp1"]})
    assert r.status_code == 422 and "share" in r.json()["detail"]
    r = admin.post("/api/admin/assign", json={"usernames": ["exp1"], "kind": "annotate"})
    assert r.status_code == 400 and "expert" in r.json()["detail"]


def test_responses_carry_security_headers(app) -> None:
    r = client(app, "ann1").get("/annotate")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in r.headers["cache-control"]


def test_user_content_is_escaped_in_pages(app, analysed_session: Path, tmp_path) -> None:
    import shutil

    from .helpers import zip_folder

    evil = tmp_path / "evil"
    shutil.copytree(analysed_session, evil, ignore=shutil.ignore_patterns(".cache", "session"))
    summary = json.loads((evil / "summary.json").read_text())
    summary["turns"][0]["text"] = "<script>alert('x')</script></script>"
    (evil / "summary.json").write_text(json.dumps(summary))
    admin = client(app, "admin")
    assert (
        admin.post("/api/admin/import/session?session_id=evil", content=zip_folder(evil)).status_code == 201
    )
    admin.post("/api/admin/assign", json={"usernames": ["ann2"], "session_ids": ["evil"]})
    ann = client(app, "ann2")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    page = ann.get(f"/annotate/{pid}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page  # shown as text in the transcript


def test_login_helper_sets_csrf(app) -> None:
    c = client(app)
    login(c, "exp1")
    assert c.get("/api/me").json()["role"] == "expert"
