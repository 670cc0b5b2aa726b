"""A bounded load test: 20 raters autosaving concurrently on loopback lose and double nothing.

Correctness only (no timing assertions); the latency benchmark is bench/bench_app_load.py.
"""

from __future__ import annotations

import pytest

from congruence.app.loadtest import run_load, verify

from .helpers import PASSWORD, add_users, client, live_server

RATERS = 20
SECONDS = 5.0


@pytest.mark.slow
def test_twenty_concurrent_raters_lose_and_duplicate_no_save(make_app, session_zip: bytes) -> None:
    app = make_app()
    names = [f"rater{i:02d}" for i in range(RATERS)]
    add_users(app, {"admin": "admin", **dict.fromkeys(names, "annotator")})
    admin = client(app, "admin")
    for sid in ("load-a", "load-b"):
        assert (
            admin.post(f"/api/admin/import/session?session_id={sid}", content=session_zip).status_code == 201
        )
    assert admin.post("/api/admin/assign", json={"usernames": names}).json()["assigned"] == RATERS * 6

    with live_server(app) as base:
        report = run_load(base, [(n, PASSWORD) for n in names], duration_s=SECONDS, join_timeout_s=60)

    assert report.errors == []
    assert report.conflicts == 0  # each rater edits only their own annotations
    assert report.saves >= RATERS  # every rater got through at least one save
    assert {a.rater for a in report.acks} == set(names)
    assert report.replays_checked > 0
    assert verify(app.state.db.engine, report) == []

    # the check is not vacuous: a lost revision and a stale value are both caught
    import sqlalchemy as sa

    from congruence.app.models import Annotation, AnnotationRevision

    with app.state.db.write() as s:
        s.execute(sa.delete(AnnotationRevision).where(AnnotationRevision.op_id == report.acks[0].op_id))
        last = report.acks[-1]
        ann = s.scalars(sa.select(Annotation).where(Annotation.pair_id == last.pair_id)).first()
        ann.engagement = 2.0
    problems = verify(app.state.db.engine, report)
    assert any("lost writes" in p for p in problems) and any("!= last acknowledged" in p for p in problems)


def test_the_load_test_refuses_non_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        run_load("http://example.org", [("a", "b")], duration_s=0.1)
