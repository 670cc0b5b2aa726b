"""The findings of the adversarial pass (issue 12), each pinned: no 500s, strict values, no
lock-held password hashing, a lockout that reveals nothing, private data files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from congruence.app import security

from .helpers import FULL, PASSWORD, add_users, login, op, save

BIG = "9223372036854775808"  # 2**63: one past SQLite's and PostgreSQL's BIGINT


def client(app, username: str | None = None) -> TestClient:
    """Like helpers.client, but a server error comes back as a 500 instead of raising in the test."""
    c = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    if username:
        login(c, username)
    return c


@pytest.fixture
def app(make_app, session_zip):
    app = make_app(max_failed_logins=3)
    add_users(app)
    admin = client(app, "admin")
    assert admin.post("/api/admin/import/session", content=session_zip).status_code == 201
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    return app


def login_reply(app, username: str, password: str, c: TestClient | None = None) -> tuple[int, dict]:
    c = c or client(app)
    token = c.get("/api/login").json()["csrf_token"]
    r = c.post("/login", json={"username": username, "password": password, "csrf_token": token})
    return r.status_code, r.json()


# ------------------------------------------------------------------------------- 1. huge ids
@pytest.mark.parametrize(
    ("user", "method", "url"),
    [
        ("ann1", "GET", f"/api/pairs/{BIG}"),
        ("ann1", "GET", f"/annotate/{BIG}"),
        ("ann1", "GET", f"/media/{BIG}"),
        ("ann1", "POST", f"/api/pairs/{BIG}/estimates"),
        ("exp1", "GET", f"/api/rate/{BIG}"),
        ("exp1", "GET", f"/rate/{BIG}"),
        ("admin", "GET", "/api/admin/agreement?sample_id=99999999999999999999999"),
        ("admin", "GET", f"/media/{BIG}"),
        ("ann1", "GET", "/login?expired=99999999999999999999999999"),
    ],
)
def test_ids_beyond_bigint_are_refused_not_crashed(app, user: str, method: str, url: str) -> None:
    r = client(app, user).request(method, url)
    assert r.status_code in (404, 422), (url, r.status_code, r.text[:200])


def test_saving_to_a_huge_pair_id_is_refused(app) -> None:
    r = save(client(app, "ann1"), int(BIG), 0, **FULL)
    assert r.status_code in (404, 422)
    r = client(app, "ann1").put(f"/api/pairs/{BIG}0000/annotation", json={"op_id": op(), "base_version": 0})
    assert r.status_code in (404, 422)


def test_a_huge_base_version_is_refused(app) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    r = ann.put(f"/api/pairs/{pid}/annotation", json={"op_id": op(), "base_version": 2**70})
    assert r.status_code == 422 and "base_version" in r.json()["detail"]


# ------------------------------------------------------------------------------- 2. deep JSON
DEEP = b"[" * 30_000 + b"]" * 30_000


def test_deeply_nested_json_is_refused_at_login_without_an_account(app) -> None:
    c = client(app)
    c.get("/api/login")
    r = c.post("/login", content=DEEP, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422) and "nested" in r.json()["detail"]


@pytest.mark.parametrize(
    ("user", "method", "url"),
    [
        ("ann1", "PUT", "/api/pairs/1/annotation"),
        ("admin", "POST", "/api/admin/assign"),
        ("admin", "PUT", "/api/admin/settings"),
        ("exp1", "PUT", "/api/responses/abc/rating"),
    ],
)
def test_deeply_nested_json_is_refused_at_every_endpoint(app, user: str, method: str, url: str) -> None:
    r = client(app, user).request(method, url, content=DEEP, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested" in r.json()["detail"]


def test_a_deeply_nested_response_file_is_refused(app) -> None:
    r = client(app, "admin").post(
        "/api/admin/import/responses", params={"filename": "r.jsonl"}, content=b"[" * 30_000 + b"\n"
    )
    assert r.status_code == 400


# ------------------------------------------------------------------------------- 3. surrogates
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/admin/assign", b'{"usernames": ["\\ud800"]}'),
        ("/api/admin/assign", b'{"usernames": ["ann1"], "session_ids": ["\\udfff"]}'),
        ("/api/admin/samples", b'{"experts": ["\\ud800"]}'),
        ("/api/admin/users", b'{"username": "x\\ud800", "password": "a long password", "role": "expert"}'),
    ],
)
def test_lone_surrogates_are_refused(app, url: str, body: bytes) -> None:
    r = client(app, "admin").post(url, content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text


def test_a_lone_surrogate_in_a_response_file_is_refused(app) -> None:
    admin = client(app, "admin")
    for row in (
        b'{"session_id": "\\ud800", "turn_index": 1, "system": "s", "response": "r"}\n',
        b'{"session_id": "demo", "turn_index": 1, "system": "\\ud800", "response": "r"}\n',
        b'{"session_id": "demo", "turn_index": 1, "system": "s", "response": "\\udc00"}\n',
    ):
        r = admin.post("/api/admin/import/responses", params={"filename": "r.jsonl"}, content=row)
        assert r.status_code == 400, r.text


def test_a_lone_surrogate_at_login_is_refused(app) -> None:
    c = client(app)
    token = c.get("/api/login").json()["csrf_token"]
    body = json.dumps({"username": "ann1\ud800", "password": "x", "csrf_token": token}).encode()
    r = c.post("/login", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 401, 422)


# ------------------------------------------------------------------------------- 4. strict types
@pytest.mark.parametrize(
    "values",
    [
        {"engagement": True},
        {"engagement": False},
        {"engagement": "0.5"},
        {"engagement": " 0.5 "},
        {"engagement": "1e-1"},
        {"valence": True},
        {"arousal": "0"},
        {"base_version": "0"},
        {"base_version": True},
        {"base_version": 0.0},
        {"incongruence": 1},
    ],
)
def test_wrong_types_are_not_coerced(app, values: dict) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    r = ann.put(f"/api/pairs/{pid}/annotation", json={"op_id": op(), "base_version": 0, **values})
    assert r.status_code == 422, (values, r.text)
    assert ann.get(f"/api/pairs/{pid}").json()["annotation"]["version"] == 0


def test_whole_numbers_are_still_accepted_for_real_scales(app) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    r = ann.put(f"/api/pairs/{pid}/annotation", json={"op_id": op(), "base_version": 0, "engagement": 1})
    assert r.status_code == 200 and r.json()["annotation"]["engagement"] == 1.0


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/admin/samples", {"experts": ["exp1"], "share": "0.5"}),
        ("POST", "/api/admin/samples", {"experts": ["exp1"], "seed": True}),
        ("POST", "/api/admin/samples", {"experts": ["exp1"], "seed": "3"}),
        ("PATCH", "/api/admin/users/ann2", {"active": "no"}),
        ("PATCH", "/api/admin/users/ann2", {"active": 0}),
        ("POST", "/api/admin/assign", {"usernames": "ann1"}),
        ("POST", "/api/admin/assign", {"usernames": [1]}),
        ("POST", "/api/admin/users", {"username": 5, "password": PASSWORD, "role": "expert"}),
    ],
)
def test_admin_inputs_are_strict(app, method: str, url: str, body: dict) -> None:
    r = client(app, "admin").request(method, url, json=body)
    assert r.status_code == 422, (body, r.text)


def test_ratings_are_strict(app) -> None:
    exp = client(app, "exp1")
    r = exp.put("/api/responses/abc/rating", json={"op_id": op(), "base_version": 0, "empathy": True})
    assert r.status_code == 422


# ------------------------------------------------------------------------------- 5. expert redirect
def test_an_expert_with_an_unfinished_review_is_sent_to_the_review_queue(app) -> None:
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    assert save(ann, pid, 0, **FULL).status_code == 200
    admin = client(app, "admin")
    assert admin.post("/api/admin/samples", json={"share": 1.0, "experts": ["exp1"]}).status_code == 201
    exp = client(app, "exp1")
    r = exp.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/annotate"
    assert exp.get("/annotate").status_code == 200
    c = client(app)
    token = c.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post("/login", data={"username": "exp1", "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 303 and r.headers["location"] != "/login"
    hops = [r.headers["location"]]
    for _ in range(3):
        nxt = c.get(hops[-1])
        if nxt.status_code != 303:
            break
        hops.append(nxt.headers["location"])
    assert nxt.status_code == 200, hops


# ------------------------------------------------------------------------------- 6. hashing off the lock
def test_password_hashing_never_runs_inside_a_database_write(app, monkeypatch) -> None:
    db = app.state.db
    calls: list[tuple[str, bool]] = []
    real_verify, real_hash = security.verify_password, security.hash_password

    def verify(*a, **kw):
        calls.append(("verify", db.write_in_progress() or db.write_locked()))
        return real_verify(*a, **kw)

    def hash_(*a, **kw):
        calls.append(("hash", db.write_in_progress() or db.write_locked()))
        return real_hash(*a, **kw)

    monkeypatch.setattr(security, "verify_password", verify)
    monkeypatch.setattr(security, "hash_password", hash_)
    login_reply(app, "ann1", PASSWORD)
    login_reply(app, "ann1", "wrong password")
    login_reply(app, "nobody", "wrong password")
    admin = client(app, "admin")
    admin.post("/api/admin/users", json={"username": "newbie", "password": PASSWORD, "role": "expert"})
    admin.patch("/api/admin/users/newbie", json={"password": "another long passphrase"})
    assert calls and not any(inside for _, inside in calls), calls
    assert {k for k, _ in calls} == {"verify", "hash"}


def test_unknown_and_known_names_cost_one_verification_each(app, monkeypatch) -> None:
    n = {"verify": 0}
    real = security.verify_password

    def verify(*a, **kw):
        n["verify"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(security, "verify_password", verify)
    login_reply(app, "ann1", "wrong password")
    known = n["verify"]
    login_reply(app, "nobody-here", "wrong password")
    assert known == 1 and n["verify"] - known == 1


# ------------------------------------------------------------------------------- 7-8. throttling
def test_locked_and_unknown_names_get_the_same_reply(app) -> None:
    for name in ("ann2", "ghost"):
        for _ in range(3):
            assert login_reply(app, name, "guess")[0] == 401
    known, unknown = login_reply(app, "ann2", "guess"), login_reply(app, "ghost", "guess")
    assert known[0] == unknown[0] == 429
    assert known[1] == unknown[1]


def test_a_lockout_cannot_keep_a_user_out(app) -> None:
    trusted = client(app)
    assert login_reply(app, "ann2", PASSWORD, trusted)[0] == 200  # ann2's own browser
    trusted.post("/logout", headers={"X-CSRF-Token": trusted.get("/api/me").json()["csrf_token"]})
    for _ in range(6):  # an attacker keeps failing on ann2
        login_reply(app, "ann2", "guess")
    assert login_reply(app, "ann2", PASSWORD)[0] == 429  # an unknown browser waits ...
    assert login_reply(app, "ann2", PASSWORD, trusted)[0] == 200  # ... ann2's own browser does not


def test_the_account_delay_is_bounded_and_grows_exponentially(app) -> None:
    throttle = app.state.login_throttle
    clock = [1000.0]
    throttle.clock = lambda: clock[0]
    waits = []
    for _ in range(8):
        status, body = login_reply(app, "ann2", "guess")
        if status == 429:
            waits.append(body["retry_after_s"])
            clock[0] += body["retry_after_s"] + 0.1
    assert waits == sorted(waits) and waits[-1] <= app.state.config.lockout_minutes * 60
    assert len(set(waits)) > 1  # it grows
    clock[0] += app.state.config.lockout_minutes * 60 + 1
    assert login_reply(app, "ann2", PASSWORD)[0] == 200


def test_one_client_failing_on_many_names_is_throttled(app) -> None:
    statuses = [login_reply(app, f"user{i}", "guess")[0] for i in range(25)]
    assert statuses[0] == 401 and statuses[-1] == 429
    assert 401 not in statuses[statuses.index(429) :]


# ------------------------------------------------------------------------------- 9. common passwords
@pytest.mark.parametrize(
    "password", ["password", "12345678", "Password1", "qwerty123", "iloveyou!", "ann1ann1ann1"]
)
def test_common_passwords_are_refused_with_the_reason(app, password: str) -> None:
    r = client(app, "admin").post(
        "/api/admin/users", json={"username": "ann1ann1", "password": password, "role": "annotator"}
    )
    assert r.status_code == 400, password
    assert "common" in r.json()["detail"] or "user name" in r.json()["detail"]


def test_a_common_password_is_refused_on_change_too(app) -> None:
    r = client(app, "admin").patch("/api/admin/users/ann2", json={"password": "12345678"})
    assert r.status_code == 400 and "common" in r.json()["detail"]


# ------------------------------------------------------------------------------- 10. headers on errors
SECURITY = ("content-security-policy", "x-frame-options", "x-content-type-options")


def test_security_headers_on_404_and_on_500(app) -> None:
    c = client(app, "admin")
    missing = c.get("/no/such/page")
    assert missing.status_code == 404 and all(h in missing.headers for h in SECURITY)
    with app.state.db.write() as s:
        s.execute(sa.text("DROP TABLE settings"))  # a broken database: the next settings read fails
    r = c.get("/api/admin/settings")
    assert r.status_code == 500
    assert all(h in r.headers for h in SECURITY), dict(r.headers)


# ------------------------------------------------------------------------------- 11. private files
def test_the_sqlite_database_and_its_folder_are_private(make_app, tmp_path: Path) -> None:
    app = make_app()
    add_users(app, {"admin": "admin"})
    folder = app.state.config.data_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.glob("app.sqlite3*"))
    assert {f.name for f in files} >= {"app.sqlite3", "app.sqlite3-wal", "app.sqlite3-shm"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
