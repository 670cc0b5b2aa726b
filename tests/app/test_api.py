"""The JSON API end to end on a real analysed session: import, queues, autosave, rating, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from congruence.analyze import load_table

from .helpers import FULL, add_users, client, op, save

RESPONSES = [
    {
        "session_id": "demo",
        "turn_index": 1,
        "system": "gpt-4o/dissonance",
        "technique": "Reflection",
        "response": "It sounds like you are saying you are fine, and I wonder how it feels to say that.",
    },
    {
        "session_id": "demo",
        "turn_index": 1,
        "system": "llama3/base",
        "technique": "Validation",
        "response": "That is great to hear. Keep going!",
    },
    {
        "session_id": "demo",
        "turn_index": 1,
        "system": "mistral/continuous",
        "technique": "Open question",
        "response": "What does 'fine' look like for you this week?",
    },
]


@pytest.fixture
def app(make_app, session_zip):
    app = make_app()
    add_users(app)
    admin = client(app, "admin")
    r = admin.post("/api/admin/import/session", content=session_zip)
    assert r.status_code == 201, r.text
    return app


def test_import_keeps_every_client_turn_its_frame_and_the_whole_transcript(
    app, analysed_session: Path
) -> None:
    table, _ = load_table(analysed_session / "turns.parquet")
    admin = client(app, "admin")
    [listed] = admin.get("/api/admin/sessions").json()
    assert listed["session_id"] == "demo" and listed["pairs"] == len(table)
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    ann = client(app, "ann1")
    queue = ann.get("/api/queue?order=session").json()
    assert [q["turn_index"] for q in queue] == list(table["turn_index"])
    view = ann.get(f"/api/pairs/{queue[0]['pair_id']}").json()
    assert view["client_text"] == table["text"].iloc[0]
    assert view["counsellor_text"] == table["counsellor_text"].iloc[0]
    assert [t["current"] for t in view["context"]].count(True) == 1
    assert {t["role"] for t in view["context"]} == {"client", "counsellor"}
    frame = ann.get(view["frame_url"])
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    assert frame.content == (analysed_session / table["face_key_crop_file"].iloc[0]).read_bytes()


def test_importing_the_same_session_id_twice_is_refused_but_another_id_works(app, session_zip) -> None:
    admin = client(app, "admin")
    again = admin.post("/api/admin/import/session", content=session_zip)
    assert again.status_code == 409 and "already imported" in again.json()["detail"]
    other = admin.post("/api/admin/import/session?session_id=demo-copy", content=session_zip)
    assert other.status_code == 201 and other.json()["session_id"] == "demo-copy"


def test_an_annotator_sees_only_their_assignments(app) -> None:
    admin = client(app, "admin")
    admin.post("/api/admin/assign", json={"usernames": ["ann1", "ann2"], "mode": "split"})
    q1 = client(app, "ann1").get("/api/queue").json()
    q2 = client(app, "ann2").get("/api/queue").json()
    assert q1 and q2
    assert not {q["pair_id"] for q in q1} & {q["pair_id"] for q in q2}
    assert len(q1) + len(q2) == 3
    other = q2[0]["pair_id"]
    ann1 = client(app, "ann1")
    assert ann1.get(f"/api/pairs/{other}").status_code == 404
    assert save(ann1, other, 0, **FULL).status_code == 404


def test_autosave_versions_retries_and_conflicts(app) -> None:
    client(app, "admin").post("/api/admin/assign", json={"usernames": ["ann1"]})
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    first = save(ann, pid, 0, incongruence="none")
    assert first.status_code == 200 and first.json()["version"] == 1
    body = {"op_id": op(), "base_version": 1, **FULL}
    second = ann.put(f"/api/pairs/{pid}/annotation", json=body)
    assert second.json()["version"] == 2 and not second.json()["replayed"]
    retry = ann.put(f"/api/pairs/{pid}/annotation", json=body)  # the same save again (lost response)
    assert retry.status_code == 200 and retry.json()["replayed"] and retry.json()["version"] == 2
    stale = save(ann, pid, 1, incongruence="contradiction")  # a second tab still at version 1
    assert stale.status_code == 409
    assert stale.json()["current"]["incongruence"] == "minimizing" and stale.json()["current"]["version"] == 2
    view = ann.get(f"/api/pairs/{pid}").json()["annotation"]
    assert {k: view[k] for k in FULL} == FULL and view["version"] == 2
    # a partial form is saved as it is (fields not yet filled stay None)
    assert save(ann, pid, 2, incongruence="none").json()["annotation"]["engagement"] is None
    with app.state.db.read() as s:
        from congruence.app.models import AnnotationRevision

        assert s.query(AnnotationRevision).count() == 3


def test_queue_disagreement_first_follows_the_modality_scores(app, analysed_session: Path) -> None:
    table, _ = load_table(analysed_session / "turns.parquet")
    client(app, "admin").post("/api/admin/assign", json={"usernames": ["ann1"]})
    queue = client(app, "ann1").get("/api/queue?order=disagreement").json()
    cols = ["text_face_score", "face_voice_score", "text_voice_score"]
    dis = ["text_face_dissonance", "face_voice_dissonance", "text_voice_dissonance"]
    table["max"] = table[cols].max(axis=1)
    table["total"] = table[cols].sum(axis=1) + table[dis].sum(axis=1)
    expected = table.sort_values(["max", "total"], ascending=False, kind="stable")["turn_index"].tolist()
    assert [q["turn_index"] for q in queue] == expected
    assert queue[0]["disagreement"] == pytest.approx(table["max"].max())


def test_model_estimates_are_hidden_by_default_and_revealing_them_is_recorded(app) -> None:
    admin = client(app, "admin")
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    ann = client(app, "ann1")
    pid = ann.get("/api/queue").json()[0]["pair_id"]
    view = ann.get(f"/api/pairs/{pid}").json()
    assert view["estimates_mode"] == "hidden" and view["estimates"] is None
    page = ann.get(f"/annotate/{pid}").text
    assert "warriner" not in page and "Model estimates" not in page
    assert ann.post(f"/api/pairs/{pid}/estimates").status_code == 403

    assert admin.put("/api/admin/settings", json={"model_estimates": "on_request"}).status_code == 200
    assert ann.get(f"/api/pairs/{pid}").json()["estimates"] is None  # still not sent unasked
    shown = ann.post(f"/api/pairs/{pid}/estimates").json()
    labels = {e["column"]: e for e in shown}
    assert labels["text_valence"]["kind"] == "proxy" and labels["text_valence"]["estimator"]
    save(ann, pid, 0, **FULL)
    rows = admin.get("/api/admin/export/annotations?format=json").json()
    assert rows[0]["ann_estimates_seen"] is True

    admin.put("/api/admin/settings", json={"model_estimates": "shown"})
    assert ann.get(f"/api/pairs/{pid}").json()["estimates"]


def test_export_joins_onto_the_turn_table_in_all_three_formats(app, analysed_session: Path) -> None:
    import io

    import pandas as pd

    from congruence.app.exporting import FINAL_COLUMNS, apply_annotations

    admin = client(app, "admin")
    admin.post("/api/admin/assign", json={"usernames": ["ann1"]})
    ann = client(app, "ann1")
    pid = ann.get("/api/queue?order=session").json()[0]["pair_id"]
    save(ann, pid, 0, **FULL)
    csv = pd.read_csv(io.StringIO(admin.get("/api/admin/export/annotations?format=csv").text))
    parquet = pd.read_parquet(io.BytesIO(admin.get("/api/admin/export/annotations?format=parquet").content))
    js = pd.DataFrame(admin.get("/api/admin/export/annotations?format=json").json())
    for df in (csv, parquet, js):
        assert list(df.columns) == list(FINAL_COLUMNS)
        assert len(df) == 1
        row = df.iloc[0]
        assert row["ann_incongruence"] == "minimizing" and row["ann_engagement"] == pytest.approx(0.55)
        assert row["ann_rater"] == "ann1" and row["ann_source"] == "annotator"
    turns, _ = load_table(analysed_session / "turns.parquet")
    merged = apply_annotations(turns, parquet)
    assert len(merged) == len(turns)
    hit = merged[merged["turn_index"] == parquet["turn_index"].iloc[0]].iloc[0]
    assert hit["ann_valence"] == pytest.approx(-0.4) and hit["ann_rater"] == "ann1"
    assert merged["ann_incongruence"].isna().sum() == len(turns) - 1


def test_final_export_prefers_the_expert_review_and_builds_a_consensus(app) -> None:
    admin = client(app, "admin")
    admin.post("/api/admin/assign", json={"usernames": ["ann1", "ann2"]})
    a1, a2 = client(app, "ann1"), client(app, "ann2")
    pids = [q["pair_id"] for q in a1.get("/api/queue?order=session").json()]
    for pid in pids:
        save(a1, pid, 0, **FULL)
        save(a2, pid, 0, **{**FULL, "incongruence": "minimizing", "engagement": 0.75})
    r = admin.post("/api/admin/samples", json={"share": 0.34, "seed": 1, "experts": ["exp1"]})
    assert r.status_code == 201 and r.json()["sampled"] == 1
    exp = client(app, "exp1")
    reviewed = exp.get("/api/queue").json()
    assert len(reviewed) == 1
    save(exp, reviewed[0]["pair_id"], 0, **{**FULL, "incongruence": "contradiction"})
    final = admin.get("/api/admin/export/annotations?format=json").json()
    by_source = {r["ann_source"] for r in final}
    assert by_source == {"expert", "consensus"}
    expert_row = next(r for r in final if r["ann_source"] == "expert")
    assert expert_row["ann_incongruence"] == "contradiction" and expert_row["ann_rater"] == "exp1"
    cons = next(r for r in final if r["ann_source"] == "consensus")
    assert cons["ann_engagement"] == pytest.approx((0.55 + 0.75) / 2) and "ann1" in cons["ann_rater"]
    every = admin.get("/api/admin/export/annotations?format=json&mode=all").json()
    assert len(every) == 2 * len(pids) + 1


def test_validation_sample_and_agreement_report(make_app, session_zip) -> None:
    app = make_app()
    add_users(app)
    admin = client(app, "admin")
    for i in range(4):  # 12 pairs from four imports of the real session
        assert (
            admin.post(f"/api/admin/import/session?session_id=s{i}", content=session_zip).status_code == 201
        )
    admin.post("/api/admin/assign", json={"usernames": ["ann1", "ann2"], "mode": "split"})
    labels = ["none", "minimizing", "contradiction"]
    for name in ("ann1", "ann2"):
        c = client(app, name)
        for i, q in enumerate(c.get("/api/queue?order=session").json()):
            save(c, q["pair_id"], 0, **{**FULL, "incongruence": labels[i % 3]})
    r = admin.post("/api/admin/samples", json={"share": 0.5, "seed": 7, "experts": ["exp1", "exp2"]})
    body = r.json()
    assert r.status_code == 201 and body["eligible"] == 12 and body["sampled"] == 6
    # proportional: 6 items from 12 in 6 strata of 2 (2 raters x 3 labels) -> one per stratum
    assert sorted(body["strata"].values()) == [1] * 6
    exp1, exp2 = client(app, "exp1"), client(app, "exp2")
    sampled = exp1.get("/api/queue").json()
    assert len(sampled) == 6 and [q["pair_id"] for q in exp2.get("/api/queue").json()] == [
        q["pair_id"] for q in sampled
    ]
    for q in sampled:
        agree = exp1.get(f"/api/pairs/{q['pair_id']}").json()
        assert agree["annotation"]["incongruence"] is None  # the expert does not see the rater's labels
    # exp1 agrees on everything; exp2 always says "none"
    with app.state.db.read() as s:
        from congruence.app.models import Annotation, User, ValidationItem

        truth = {
            it.pair_id: s.query(Annotation)
            .filter_by(pair_id=it.pair_id, user_id=it.rater_id)
            .one()
            .incongruence
            for it in s.query(ValidationItem)
        }
        assert {s.get(User, it.rater_id).username for it in s.query(ValidationItem)} == {"ann1", "ann2"}
    for pid, label in truth.items():
        save(exp1, pid, 0, **{**FULL, "incongruence": label})
        save(exp2, pid, 0, **{**FULL, "incongruence": "none"})
    rep = admin.get("/api/admin/agreement").json()
    t1 = {r["measure"]: r for r in next(t for t in rep["table2"] if t["expert"] == "exp1")["rows"]}
    t2 = {r["measure"]: r for r in next(t for t in rep["table2"] if t["expert"] == "exp2")["rows"]}
    assert t1["Overall"]["agreement_pct"] == 100.0 and t1["Overall"]["kappa"] == pytest.approx(1.0)
    assert t2["Overall"]["agreement_pct"] == pytest.approx(100 * 2 / 6)
    assert t2["Incong. type"]["n"] == 0
    m = rep["kappa_matrices"]["incongruence"]
    assert set(m["raters"]) == {"ann1", "ann2", "exp1", "exp2"}
    i, j = m["raters"].index("exp1"), m["raters"].index("ann1")
    assert m["kappa"][i][j] == pytest.approx(1.0)


def import_responses(app, rows=RESPONSES, **params) -> dict:
    admin = client(app, "admin")
    data = "\n".join(json.dumps(r) for r in rows).encode()
    r = admin.post("/api/admin/import/responses", params={"filename": "r.jsonl", **params}, content=data)
    assert r.status_code == 201, r.text
    admin.post("/api/admin/assign", json={"usernames": ["exp1", "exp2"], "kind": "rate"})
    return r.json()


def test_rating_is_blinded_and_the_order_is_randomised_per_rater(app) -> None:
    assert import_responses(app)["added"] == 3
    exp1, exp2 = client(app, "exp1"), client(app, "exp2")
    queue = exp1.get("/api/rate").json()
    assert len(queue) == 1 and queue[0]["responses"] == 3
    pid = queue[0]["pair_id"]
    view1, view2 = exp1.get(f"/api/rate/{pid}").json(), exp2.get(f"/api/rate/{pid}").json()
    page = exp1.get(f"/rate/{pid}").text
    for system in ("gpt-4o", "llama3", "mistral", "dissonance", "continuous"):
        assert system not in json.dumps(view1) and system not in page
    assert [r["label"] for r in view1["responses"]] == ["Response A", "Response B", "Response C"]
    assert exp1.get(f"/api/rate/{pid}").json()["responses"] == view1["responses"]  # stable on reload
    texts = sorted(r["text"] for r in view1["responses"])
    assert texts == sorted(r["response"] for r in RESPONSES)
    # the order is an HMAC of (instance secret, rater, response): over many raters every order appears
    from congruence.app.store import blind_order

    ids = [r["response_id"] for r in view1["responses"]]
    orders = {tuple(blind_order("secret", uid, ids)) for uid in range(60)}
    assert len(orders) == 6
    assert {r["response_id"] for r in view2["responses"]} == set(ids)


def test_ratings_are_saved_validated_and_exported(app) -> None:
    import io

    import pandas as pd

    import_responses(app)
    exp = client(app, "exp1")
    pid = exp.get("/api/rate").json()[0]["pair_id"]
    resp = exp.get(f"/api/rate/{pid}").json()["responses"]
    for i, r in enumerate(resp):
        url = f"/api/responses/{r['response_id']}/rating"
        ok = exp.put(
            url,
            json={
                "op_id": op(),
                "base_version": 0,
                "applicability": 5 - i,
                "empathy": 4,
                "comprehensiveness": 3,
            },
        )
        assert ok.status_code == 200 and ok.json()["version"] == 1
    for bad in (6, 0, 3.5, "3"):
        r = exp.put(
            f"/api/responses/{resp[0]['response_id']}/rating",
            json={"op_id": op(), "base_version": 1, "empathy": bad},
        )
        assert r.status_code == 422, bad
        assert "empathy" in r.json()["detail"]
    assert exp.get("/api/rate").json()[0]["status"] == "done"
    admin = client(app, "admin")
    csv = pd.read_csv(io.StringIO(admin.get("/api/admin/export/ratings?format=csv").text))
    js = admin.get("/api/admin/export/ratings?format=json").json()
    assert len(csv) == len(js) == 3
    assert set(csv["system"]) == {r["system"] for r in RESPONSES}  # unblinded for analysis
    assert sorted(csv["applicability"]) == [3, 4, 5] and set(csv["rater"]) == {"exp1"}
    assert {"session_id", "turn_index", "technique", "response", "empathy", "comprehensiveness"} <= set(
        csv.columns
    )
    rep = admin.get("/api/admin/agreement").json()
    assert rep["kappa_matrices"]["empathy"]["raters"] == ["exp1"]


def test_response_files_in_the_generation_formats_are_accepted(app) -> None:
    # `congruence respond --out` batch records, with the system from the strategy and backend
    batch = [
        {
            "key": "demo#3",
            "settings": {},
            "row": {
                "response_text": "You sound proud.",
                "response_technique": "Reflection",
                "response_strategy": "dissonance",
                "response_backend": "smollm2",
            },
        },
    ]
    assert import_responses(app, batch)["systems"] == ["dissonance/smollm2"]
    csv = "session_id,turn_index,response_technique,response_text\ndemo,5,Affirmation,That is a big step.\n"
    admin = client(app, "admin")
    r = admin.post(
        "/api/admin/import/responses",
        params={"filename": "x.csv", "system": "base-prompt"},
        content=csv.encode(),
    )
    assert r.status_code == 201 and r.json()["systems"] == ["base-prompt"]
    again = admin.post(
        "/api/admin/import/responses",
        params={"filename": "x.csv", "system": "base-prompt"},
        content=csv.encode(),
    )
    assert again.json()["added"] == 0 and again.json()["skipped_existing"] == 1


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (
            b'{"session_id": "demo", "turn_index": 99, "system": "x", "response": "hi"}',
            "r.jsonl",
            "no imported",
        ),
        (b'{"session_id": "demo", "turn_index": 1, "response": "hi"}', "r.jsonl", "missing system"),
        (
            b'{"session_id": "demo", "turn_index": "one", "system": "x", "response": "hi"}',
            "r.jsonl",
            "whole number",
        ),
        (b"not json", "r.jsonl", "not valid JSON"),
        (b"a,b\n1,2\n", "r.txt", "Cannot tell the format"),
    ],
)
def test_bad_response_files_are_refused_with_the_line(
    app, content: bytes, filename: str, message: str
) -> None:
    r = client(app, "admin").post(
        "/api/admin/import/responses", params={"filename": filename}, content=content
    )
    assert r.status_code == 400 and message in r.json()["detail"]
