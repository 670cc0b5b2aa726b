"""Migrations build exactly the models' schema, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from congruence.app.config import AppConfig
from congruence.app.db import Database
from congruence.app.models import Base

from .helpers import FULL, add_users, client, op, save


def schema_diff(db: Database) -> list:
    with db.engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)


def test_sqlite_migrations_match_the_models_and_are_idempotent(tmp_path) -> None:
    db = Database(config=AppConfig(data_dir=tmp_path))
    db.migrate()
    db.migrate()
    assert schema_diff(db) == []
    with db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "app.sqlite3").exists()
    db.dispose()


def test_a_database_url_that_cannot_be_reached_is_a_clear_error(tmp_path) -> None:
    from congruence.errors import CongruenceError

    db = Database(config=AppConfig(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(CongruenceError, match="Cannot open the database"):
        db.migrate()


@pytest.mark.slow
def test_postgresql_migrations_match_the_models(postgres_url: str, tmp_path) -> None:
    db = Database(config=AppConfig(data_dir=tmp_path, database_url=postgres_url))
    db.migrate()
    db.migrate()
    assert db.engine.dialect.name == "postgresql"
    assert schema_diff(db) == []
    db.dispose()


@pytest.mark.slow
def test_the_app_works_on_postgresql(make_app, postgres_url: str, session_zip: bytes) -> None:
    app = make_app(database_url=postgres_url)
    assert app.state.db.engine.dialect.name == "postgresql"
    add_users(app)
    admin = client(app, "admin")
    assert admin.post("/api/admin/import/session", content=session_zip).status_code == 201
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    ann = client(app, "ann1")
    pid = ann.get("/api/queue?order=disagreement").json()[0]["pair_id"]
    assert ann.get(ann.get(f"/api/pairs/{pid}").json()["frame_url"]).status_code == 200
    assert save(ann, pid, 0, **FULL).json()["version"] == 1
    assert save(ann, pid, 0, **FULL).status_code == 409
    rows = admin.get("/api/admin/export/annotations?format=json").json()
    assert rows[0]["ann_incongruence"] == "minimizing" and rows[0]["ann_engagement"] == 0.55

    # concurrent saves of one annotation from the same version: exactly one wins, the rest conflict
    ann.get("/api/me")
    results: list[int] = []
    body_version = 1

    def one() -> None:
        r = ann.put(
            f"/api/pairs/{pid}/annotation", json={"op_id": op(), "base_version": body_version, **FULL}
        )
        results.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a save is still running after 30 s (a hang, not a result)"
    assert sorted(results).count(200) == 1 and set(results) <= {200, 409}
    with app.state.db.read() as s:
        from congruence.app.models import AnnotationRevision

        assert s.scalar(sa.select(sa.func.count(AnnotationRevision.id))) == 2


@pytest.mark.slow
def test_racing_first_saves_on_postgresql_apply_once(make_app, postgres_url: str, session_zip: bytes) -> None:
    app = make_app(database_url=postgres_url)
    add_users(app)
    admin = client(app, "admin")
    admin.post("/api/admin/import/session", content=session_zip)
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    ann = client(app, "ann1")
    first, second = [q["pair_id"] for q in ann.get("/api/queue").json()][:2]
    same_op = {"op_id": op(), "base_version": 0, **FULL}
    results: dict[str, list] = {"same": [], "different": []}

    def send(kind: str, pair: int, body: dict) -> None:
        r = ann.put(f"/api/pairs/{pair}/annotation", json=body)
        results[kind].append((r.status_code, r.json().get("replayed")))

    threads = [threading.Thread(target=send, args=("same", first, same_op)) for _ in range(6)]
    threads += [
        threading.Thread(target=send, args=("different", second, {"op_id": op(), "base_version": 0, **FULL}))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a save is still running after 60 s (a hang, not a result)"
    # one save sent six times (a client retrying): applied once, the others answered as replays
    assert sorted(results["same"]) == [(200, False)] + [(200, True)] * 5
    # six different saves from version 0: one wins, five are told to reload
    assert sorted(s for s, _ in results["different"]) == [200] + [409] * 5
    with app.state.db.read() as s:
        from congruence.app.models import AnnotationRevision

        assert s.scalar(sa.select(sa.func.count(AnnotationRevision.id))) == 2
