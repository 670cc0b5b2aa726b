"""The turn-table contract: write -> read keeps provenance; discover on every layout; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from congruence import table as T
from congruence.errors import CongruenceError
from congruence.provenance import Kind, Provenance
from congruence.table import read_table


def _table(session_id: str = "s1", n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": [session_id] * n,
            "turn_index": [2 * i + 1 for i in range(n)],
            "start": [2.0 * i for i in range(n)],
            "end": [2.0 * i + 1.5 for i in range(n)],
            "text": [f"turn {i}" for i in range(n)],
            "text_valence": [0.1 * i for i in range(n)],
            "face_status": ["ok"] * (n - 1) + ["no_face"],
            "face_valence": [0.5] * (n - 1) + [None],
            "text_embedding": [[0.1, 0.2]] * n,
        }
    )


PROV = {
    "text_valence": Provenance("warriner2013-lexicon-mean", Kind.PROXY, "mean of word norms"),
    "face_valence": Provenance("circumplex(fer-2013)", Kind.PROXY),
    "face_status": Provenance("mediapipe+sort", Kind.MEASUREMENT, "ok / no_face / no_frames"),
}


def _analysis(root: Path, session_id: str = "s1", n: int = 3) -> Path:
    T.write(root, _table(session_id, n), T.assemble_provenance(PROV), {"session_id": session_id})
    return root


# ------------------------------------------------------------------------------ write / read

names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).map(lambda s: f"text_{s}")
provs = st.builds(
    Provenance,
    estimator=st.text(min_size=1, max_size=30),
    kind=st.sampled_from(list(Kind)),
    note=st.text(max_size=60),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cols=st.dictionaries(names, provs, min_size=1, max_size=6),
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=5),
)
def test_write_then_read_keeps_values_and_provenance(tmp_path: Path, cols, values) -> None:
    table = pd.DataFrame({"session_id": "s", "turn_index": range(len(values))})
    for c in cols:
        table[c] = values
    root = tmp_path / "a"
    T.write(root, table, cols, {"session_id": "s"})
    back = T.read(root)
    assert back.provenance == {**cols}  # every column's estimator, kind and note, exactly
    pd.testing.assert_frame_equal(back.table, table)
    assert back.summary["session_id"] == "s" and not back.problems
    # the summary lists the proxies, so a proxy is never mistaken for a model
    assert back.summary["proxies"] == sorted(c for c, p in cols.items() if p.kind is Kind.PROXY)


def test_read_of_the_csv_takes_provenance_from_the_summary(tmp_path: Path) -> None:
    root = _analysis(tmp_path / "a")
    (root / T.TABLE_FILE).unlink()  # only the spreadsheet left
    back = T.read(root)
    assert back.provenance["text_valence"] == PROV["text_valence"]
    assert "text_embedding" not in back.table.columns  # vectors never go to the CSV
    assert list(back.table["turn_index"]) == [1, 3, 5]


def test_read_a_turns_parquet_file_and_a_folder_alike(tmp_path: Path) -> None:
    root = _analysis(tmp_path / "a")
    by_file, by_folder = T.read(root / T.TABLE_FILE), T.read(root)
    pd.testing.assert_frame_equal(by_file.table, by_folder.table)
    assert by_file.provenance == by_folder.provenance and by_file.root == root
    assert by_file.session_id == "s1"


def test_missing_summary_is_a_problem_not_an_error(tmp_path: Path) -> None:
    root = _analysis(tmp_path / "a")
    (root / T.SUMMARY_FILE).write_text("{not json")
    back = T.read(root)
    assert back.problems and "summary.json cannot be read" in back.problems[0]
    assert back.provenance["face_valence"] == PROV["face_valence"]  # still in the Parquet


def test_io_read_table_keeps_provenance(tmp_path: Path) -> None:
    root = _analysis(tmp_path / "a")
    df = read_table(root)
    assert df.attrs["provenance"]["text_valence"] == PROV["text_valence"].as_dict()
    df.to_parquet(tmp_path / "again.parquet")  # pandas writes attrs as JSON: they must serialise


def test_write_needs_the_index_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="turn_index"):
        T.write(tmp_path, pd.DataFrame({"session_id": ["s"]}), {})


# ------------------------------------------------------------------------------ discover


def _corpus(root: Path, statuses: dict[str, str | None]) -> Path:
    """A corpus folder as the corpus runner writes it: manifest, session folders, partitioned dataset."""
    sessions = {}
    for sid, status in statuses.items():
        _analysis(root / T.CORPUS_SESSIONS / sid, sid)
        part = root / T.CORPUS_DATASET / f"session_id={sid}"
        part.mkdir(parents=True)
        _table(sid).drop(columns="session_id").to_parquet(part / "part-0.parquet")
        sessions[sid] = {} if status is None else {"status": status}
    (root / T.CORPUS_FILE).write_text(json.dumps({"sessions": sessions}))
    return root


def test_discover_an_analysis_folder_and_a_table_file(tmp_path: Path) -> None:
    root = _analysis(tmp_path / "a")
    assert T.discover(root) == [root]
    assert T.discover(root / T.TABLE_FILE) == [root / T.TABLE_FILE]


def test_discover_a_corpus_yields_its_finished_sessions(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c", {"b": "done", "a": "done", "c": "failed", "d": "running"})
    assert T.discover(root) == [root / "sessions" / "a", root / "sessions" / "b"]
    tables = T.read_all([root])
    assert [t.session_id for t in tables] == ["a", "b"]
    assert all(t.provenance["text_valence"] == PROV["text_valence"] for t in tables)


def test_discover_a_corpus_without_status_takes_every_session_with_a_table(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c", {"a": None, "b": None})
    (root / "sessions" / "half").mkdir()  # a session whose analysis never finished: no table
    assert T.discover(root) == [root / "sessions" / "a", root / "sessions" / "b"]


def test_discover_a_corpus_manifest_as_a_list(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c", {"a": "done", "b": "failed"})
    (root / T.CORPUS_FILE).write_text(
        json.dumps({"sessions": [{"session_id": "a", "status": "done"}, {"session_id": "b", "status": "x"}]})
    )
    assert T.discover(root) == [root / "sessions" / "a"]


def test_discover_a_folder_of_analyses(tmp_path: Path) -> None:
    a, b = _analysis(tmp_path / "x" / "a", "a"), _analysis(tmp_path / "x" / "b", "b")
    (b / T.TABLE_FILE).unlink()  # a CSV-only analysis counts too
    assert T.discover(tmp_path / "x") == [a, b]


def test_a_folder_that_is_not_an_analysis_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CongruenceError) as e:
        T.discover(tmp_path)
    assert "holds no analysis" in e.value.problem and "congruence analyze" in e.value.fix
    with pytest.raises(CongruenceError, match=r"no turns\.parquet") as e:
        T.read(tmp_path)
    assert "congruence analyze" in e.value.fix
    with pytest.raises(CongruenceError, match="No folder"):
        T.read(tmp_path / "nope")
    with pytest.raises(CongruenceError, match="not a turn table"):
        T.read(tmp_path / "notes.txt")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CongruenceError, match="cannot be read"):
        T.read(tmp_path / "broken.parquet")
    (tmp_path / T.CORPUS_FILE).write_text("[1, 2]")
    with pytest.raises(CongruenceError, match="not a corpus manifest"):
        T.discover(tmp_path)


def test_detector_reads_a_corpus_through_the_contract(tmp_path: Path) -> None:
    from congruence.incongruence.detector import read_tables

    root = _corpus(tmp_path / "c", {"a": "done", "b": "done", "c": "failed"})
    t = read_tables([root])
    assert sorted(set(t["session_id"])) == ["a", "b"] and len(t) == 6


# ------------------------------------------------------------------------------ vocabularies


def test_missing_values_follow_the_status_convention() -> None:
    v = T.missing_values("voice", "no_audio", ["voice_arousal", "voice_status", "face_valence"])
    assert v == {"voice_arousal": None, "voice_status": "no_audio"}
    with pytest.raises(ValueError, match="unknown modality"):
        T.status_column("smell")


def test_the_stages_use_the_contract_vocabularies() -> None:
    """Each stage's own list must match the contract's (no drifting copies)."""
    from congruence.incongruence.pairs import PAIRS
    from congruence.perception.face.analyzer import FaceAnalyzer
    from congruence.perception.text.analyzer import TextAnalyzer

    assert tuple(name for name, *_ in PAIRS) == T.PAIR_NAMES
    face_cols = FaceAnalyzer().columns()
    assert all(f"face_expr_{c}" in face_cols for c in T.FER_CLASSES)
    text_cols = TextAnalyzer().columns()
    assert all(f"text_cat_{c}" in text_cols for c in T.FER_CLASSES)
    assert all(f"text_emo_{c}" in text_cols for c in T.NRC_CATEGORIES)


def test_undeclared_modality_columns_are_flagged() -> None:
    flags = T.undeclared(["text_new", "voice_x", "speaker", "text_valence"], PROV)
    assert set(flags) == {"text_new", "voice_x"}
    assert all(p.kind is Kind.PROXY and p.estimator == "unknown" for p in flags.values())
