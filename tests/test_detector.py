"""Learned incongruence detector: features, labels, session-level splits, calibration, save / load.

No labelled counselling data ships with the project, so these tests use a synthetic but
structured turn table (:func:`synthetic_turns`): the E-THER label is a relation between the text
and face valence (contradiction = opposite signs, minimizing = distressed face over neutral
words), so a model must combine modalities to find it. The real-data check is
tests/test_constructed.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.incongruence.detector import (
    FACE_COLUMNS,
    LABELS,
    FeatureSpec,
    IncongruenceDetector,
    attach_labels,
    cross_validate,
    evaluate,
    feature_frame,
    majority_labels,
    modality_present,
    read_labels,
    read_tables,
    session_splits,
)
from congruence.incongruence.pairs import score_table
from congruence.perception.face.geometry import AU_NAMES
from congruence.table import FER_CLASSES


def synthetic_turns(
    n_sessions: int = 10,
    turns: int = 24,
    *,
    seed: int = 0,
    emb_dim: int = 16,
    p_missing_face: float = 0.1,
    p_missing_voice: float = 0.1,
) -> pd.DataFrame:
    """A turn table shaped like ``congruence analyze``'s, with labels that follow E-THER's definitions.

    - none: face valence ~ text valence; contradiction: opposite clear valences; minimizing:
      near-neutral words over a distressed face. Each session (person) has its own resting face
      valence; voice features carry no label information.
    - ``face_status = "no_face"`` / ``voice_status = "silence"`` rows have those values missing.
    - the rule-based pair columns are added per session (as ``analyze`` does).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        rest = rng.normal(0, 0.1)
        for t in range(turns):
            label = rng.choice(LABELS, p=[0.5, 0.25, 0.25])
            if label == "none":
                tv = rng.uniform(-0.9, 0.9)
                fv = tv + rng.normal(0, 0.15)
            elif label == "contradiction":
                tv = rng.choice([-1, 1]) * rng.uniform(0.35, 0.9)
                fv = -np.sign(tv) * rng.uniform(0.35, 0.9)
            else:
                tv = rng.normal(0, 0.08)
                fv = -rng.uniform(0.4, 0.9)
            fv = float(np.clip(fv + rest, -1, 1))
            r = {
                "session_id": f"s{s:02d}",
                "turn_index": 2 * t + 1,
                "text": f"turn {t}",
                "text_status": "ok",
                "text_valence": tv,
                "text_arousal": rng.uniform(-0.5, 0.5),
                "text_dominance": rng.normal(0, 0.2),
                "text_sentiment": float(np.clip(tv + rng.normal(0, 0.2), -1, 1)),
            }
            tcat, fcat = np.full(7, 0.05), np.full(7, 0.05)
            for cat, v in ((tcat, tv), (fcat, fv)):
                cat[3] += 2 * max(v, 0)
                cat[4] += 2 * max(-v, 0)
                cat[6] += 1 - abs(v)
            for c, a, b in zip(FER_CLASSES, tcat / tcat.sum(), fcat / fcat.sum(), strict=True):
                r[f"text_cat_{c}"], r[f"face_expr_{c}"] = a, b
            emb = rng.normal(0, 1, emb_dim)
            emb[0] += 2 * tv
            r["text_embedding"] = list(emb / np.linalg.norm(emb))
            r.update(
                face_status="ok",
                face_valence=fv,
                face_arousal=float(np.clip(abs(fv) * 0.5 + rng.normal(0, 0.1), -1, 1)),
                face_au12=max(fv, 0) + rng.normal(0, 0.05),
                face_au04=max(-fv, 0) + rng.normal(0, 0.05),
                face_au15=max(-fv, 0) * 0.5 + rng.normal(0, 0.05),
                voice_status="ok",
                voice_arousal=rng.normal(0, 0.3),
                voice_f0_median=rng.normal(180, 20),
                voice_intensity_mean=rng.normal(65, 3),
                voice_jitter=rng.uniform(0.005, 0.02),
            )
            if rng.random() < p_missing_face:
                r.update({k: None for k in r if k.startswith("face_")})
                r["face_status"] = "no_face"
            if rng.random() < p_missing_voice:
                r.update({k: None for k in r if k.startswith("voice_")})
                r["voice_status"] = "silence"
            r["ann_incongruence"] = str(label)
            rows.append(r)
    table = pd.DataFrame(rows)
    return pd.concat([score_table(g) for _, g in table.groupby("session_id", sort=False)], ignore_index=True)


@pytest.fixture(scope="module")
def turns() -> pd.DataFrame:
    return synthetic_turns()


# ------------------------------------------------------------------------------------- features
def test_feature_lists_match_the_analyzers() -> None:
    # the AU names and FER classes come from the face / text modules, so a renamed column shows up here
    assert all(f"face_{au}" in FACE_COLUMNS and f"face_{au}_z" in FACE_COLUMNS for au in AU_NAMES)
    assert all(f"face_expr_{c}" in FACE_COLUMNS for c in FER_CLASSES)


def test_every_feature_column_is_one_an_analysis_declares() -> None:
    # the detector chooses among the analyzers' columns(); a list entry no analyzer writes would be
    # a feature that is NaN on every real table
    from congruence.incongruence import features
    from congruence.pipeline.run import declared_provenance
    from congruence.table import MODALITIES, PAIR_NAMES

    declared = declared_provenance()
    for modality, columns in features.BASE_COLUMNS.items():
        assert [c for c in columns if c not in declared] == [], modality
        assert all(c in declared for c in features.CORE_COLUMNS[modality])
    assert features.TEXT_EMBEDDING in declared
    assert any(c.startswith(features.EGEMAPS_PREFIX) for c in declared)
    assert set(features.MODALITIES) == set(MODALITIES)
    assert all(f"{pair}_score" in declared for pair in PAIR_NAMES)


def test_missing_modality_gets_indicator_and_no_stale_values(turns: pd.DataFrame) -> None:
    t = turns.head(6).copy()
    t.loc[t.index[0], "face_status"] = "no_face"  # a stale value must not leak through
    t.loc[t.index[0], "face_valence"] = 0.9
    X = feature_frame(t, FeatureSpec(("text", "face")))
    assert X.loc[t.index[0], "face_missing"] == 1.0
    assert np.isnan(X.loc[t.index[0], "face_valence"])
    ok = t.index[1]
    assert X.loc[ok, "face_missing"] == 0.0 and X.loc[ok, "face_valence"] == pytest.approx(
        t.loc[ok, "face_valence"]
    )
    assert [c for c in X.columns if c.startswith("text_emb_")] == [f"text_emb_{j:03d}" for j in range(16)]
    # cross features are the rule columns and signed gaps, NaN where a side is missing
    assert X.loc[ok, "x_tf_dv"] == pytest.approx(t.loc[ok, "face_valence"] - t.loc[ok, "text_valence"])
    assert np.isnan(X.loc[t.index[0], "x_text_face_score"])
    assert "voice_missing" not in X.columns  # voice not selected


def test_fitted_columns_fix_the_matrix_even_when_columns_are_absent(turns: pd.DataFrame) -> None:
    spec = FeatureSpec()
    cols = list(feature_frame(turns, spec).columns)
    without_voice = turns.drop(columns=[c for c in turns.columns if c.startswith("voice_")])
    X = feature_frame(without_voice, spec, columns=cols)
    assert list(X.columns) == cols
    assert (X["voice_missing"] == 1.0).all() and X["voice_f0_median"].isna().all()


def test_modality_present_uses_status_then_values() -> None:
    t = pd.DataFrame({"face_status": ["ok", "no_face", None], "face_valence": [0.1, None, 0.3]})
    assert modality_present(t, "face").tolist() == [True, False, True]
    assert modality_present(pd.DataFrame({"face_valence": [None, 0.2]}), "face").tolist() == [False, True]


def test_invalid_modality_is_a_user_error() -> None:
    with pytest.raises(CongruenceError, match="Invalid modalities"):
        FeatureSpec(("text", "smell"))


# --------------------------------------------------------------------------------------- labels
def test_labels_file_round_trip_majority_and_join(tmp_path, turns: pd.DataFrame) -> None:
    p = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "session_id": ["s00", "s00", "s00", "s01", "s01", "zz"],
            "turn_index": [1, 1, 1, 3, 3, 1],
            "ann_incongruence": ["Minimising", "none", "minimizing", "none", "contradiction", "none"],
            "rater": ["a", "b", "c", "a", "b", "a"],
            "engagement": [0.2, 0.4, 0.6, 0.5, 0.7, 0.1],
        }
    ).to_csv(p, index=False)
    labels = read_labels(p)
    assert set(labels["incongruence"]) == {"minimizing", "none", "contradiction"}
    one = majority_labels(labels).set_index(["session_id", "turn_index"])
    assert one.loc[("s00", 1), "incongruence"] == "minimizing"  # 2 of 3 raters
    assert one.loc[("s01", 3), "incongruence"] == "none"  # a tie goes to the first-listed rater
    assert majority_labels(labels, rater="b").set_index(["session_id", "turn_index"]).loc[
        ("s01", 3)
    ].incongruence == ("contradiction")
    t = turns.assign(ann_incongruence=None)
    joined = attach_labels(t, labels)
    hit = joined[joined["ann_incongruence"].notna()]
    assert len(hit) == 2 and joined.attrs["labels_unmatched"] == 1  # session zz is not in the table
    row = joined[(joined.session_id == "s00") & (joined.turn_index == 1)].iloc[0]
    assert row.ann_incongruence == "minimizing" and row.ann_engagement == pytest.approx(0.4)
    assert row.ann_rater == "majority"


def test_bad_labels_are_user_errors(tmp_path, turns: pd.DataFrame) -> None:
    p = tmp_path / "bad.csv"
    pd.DataFrame({"session_id": ["s00"], "turn_index": [1], "incongruence": ["sarcasm"]}).to_csv(
        p, index=False
    )
    with pytest.raises(CongruenceError, match="Unknown incongruence label"):
        read_labels(p)
    p.write_text("session_id,turn\ns00,1\n")
    with pytest.raises(CongruenceError, match="lacks the column"):
        read_labels(p)
    p.write_text("session_id,turn_index,incongruence\nnope,1,none\n")
    with pytest.raises(CongruenceError, match="No label matches"):
        attach_labels(turns, read_labels(p))


def test_read_tables_concatenates_and_rejects_duplicates(tmp_path, turns: pd.DataFrame) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    turns[turns.session_id == "s00"].to_parquet(a / "turns.parquet")
    turns[turns.session_id == "s01"].to_parquet(b / "turns.parquet")
    both = read_tables([tmp_path])
    assert set(both.session_id) == {"s00", "s01"}
    assert isinstance(both["text_embedding"].iloc[0], list | np.ndarray)
    with pytest.raises(CongruenceError, match="appear twice"):
        read_tables([a / "turns.parquet", a / "turns.parquet"])


# --------------------------------------------------------------------------------------- splits
@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.sampled_from("abcdefgh"), min_size=4, max_size=60), k=st.integers(2, 6))
def test_session_splits_never_split_a_session(groups: list[str], k: int) -> None:
    if len(set(groups)) < 2:
        with pytest.raises(CongruenceError):
            session_splits(groups, n_splits=k)
        return
    folds = session_splits(groups, n_splits=k)
    g = np.asarray(groups)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(len(groups)))  # every row tested exactly once
    for tr, te in folds:
        assert not set(g[tr]) & set(g[te])


# ------------------------------------------------------------------------------------- detector
@pytest.fixture(scope="module")
def cv_all(turns: pd.DataFrame):
    return cross_validate(lambda: IncongruenceDetector(), turns, n_splits=3)


def test_multimodal_detector_finds_the_relation_on_held_out_sessions(cv_all) -> None:
    ev = cv_all.evaluation
    assert ev.macro_f1 > 0.8 and ev.kappa > 0.7
    assert ev.confusion.to_numpy().sum() == ev.n == 240
    # out-of-fold: every session's rows were predicted by a model that did not see that session
    p = cv_all.predictions
    assert p.groupby("session_id")["fold"].nunique().max() == 1


def test_one_modality_cannot_see_a_cross_modal_label(turns: pd.DataFrame, cv_all) -> None:
    text_only = cross_validate(lambda: IncongruenceDetector(modalities=("text",)), turns, n_splits=3)
    voice_only = cross_validate(lambda: IncongruenceDetector(modalities=("voice",)), turns, n_splits=3)
    assert text_only.evaluation.macro_f1 < cv_all.evaluation.macro_f1 - 0.2
    assert voice_only.evaluation.kappa < 0.2  # voice carries no label information here
    assert voice_only.evaluation.n_unscored == int((turns.voice_status != "ok").sum())


def test_probabilities_are_distributions_and_missing_rows_are_explicit(turns: pd.DataFrame) -> None:
    det = IncongruenceDetector(modalities=("face",)).fit(turns)
    pred = det.predictions(turns)
    p = pred[[f"p_{c}" for c in LABELS]]
    observed = turns.face_status == "ok"
    assert np.allclose(p[observed].sum(axis=1), 1.0)
    assert p[~observed].isna().all().all() and pred.loc[~observed, "pred"].isna().all()
    assert np.allclose(pred.loc[observed, "p_incongruent"], 1 - pred.loc[observed, "p_none"])
    assert det.training_["calibration"].startswith("sigmoid over 3 session-level folds")
    assert set(det.columns()) >= {"pred", "p_none", "p_incongruent"}


def test_save_load_round_trip(tmp_path, turns: pd.DataFrame) -> None:
    det = IncongruenceDetector(model="logreg", task="binary").fit(turns)
    path = det.save(tmp_path / "det.joblib")
    back = IncongruenceDetector.load(path)
    assert back.classes == ("congruent", "incongruent") and back.feature_names_ == det.feature_names_
    pd.testing.assert_frame_equal(back.predict_proba(turns), det.predict_proba(turns))
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(CongruenceError, match="not a detector file"):
        IncongruenceDetector.load(tmp_path / "junk.joblib")


def test_single_class_training_predicts_it_with_certainty(turns: pd.DataFrame) -> None:
    only_none = turns.assign(ann_incongruence="none")
    det = IncongruenceDetector(modalities=("text",)).fit(only_none)
    assert (det.predict(turns) == "none").all()
    assert "one class" in det.training_["calibration"]


def test_unlabelled_table_is_a_user_error(turns: pd.DataFrame) -> None:
    with pytest.raises(CongruenceError, match="No turn has a human incongruence label"):
        IncongruenceDetector().fit(turns.assign(ann_incongruence=None))


# ------------------------------------------------------------------------------------ evaluation
def test_evaluate_against_hand_computed_values() -> None:
    y = ["none", "none", "minimizing", "contradiction", "contradiction", "none", None]
    p = ["none", "minimizing", "minimizing", "contradiction", "none", "none", "none"]
    ev = evaluate(y, p)
    assert ev.n == 6 and ev.n_unscored == 1
    assert ev.accuracy == pytest.approx(4 / 6)
    # kappa = (p_o - p_e) / (1 - p_e); marginals: human (3, 1, 2), predicted (3, 2, 1) over n = 6
    p_e = (3 * 3 + 1 * 2 + 2 * 1) / 36
    assert ev.kappa == pytest.approx((4 / 6 - p_e) / (1 - p_e))
    f1 = [2 * 2 / (3 + 3), 2 * 1 / (1 + 2), 2 * 1 / (2 + 1)]  # 2 TP / (support + predicted)
    assert ev.macro_f1 == pytest.approx(np.mean(f1))
    assert ev.confusion.loc["contradiction", "none"] == 1 and ev.confusion.loc["none", "minimizing"] == 1
    assert ev.binary["accuracy"] == pytest.approx(4 / 6)
    md = ev.to_markdown(title="x")
    assert "| none | 2 | 1 | 0 |" in md


def test_a_model_that_predicts_one_class_is_flagged_degenerate() -> None:
    y = ["none", "minimizing", "contradiction", "none"]
    ev = evaluate(y, ["none"] * 4)
    assert ev.degenerate and ev.predicted_classes == ["none"] and ev.kappa == 0.0
    assert "predicts 'none' for all 4 turns" in ev.degenerate_warning("fusion")
    assert "Warning: degenerate model" in ev.to_markdown() and ev.to_dict()["degenerate"] is True
    # right answers that happen to be one class are not degenerate, nor is a varied model
    assert not evaluate(["none"] * 3, ["none"] * 3).degenerate
    assert not evaluate(y, ["none", "none", "contradiction", "none"]).degenerate
    assert evaluate(y, ["none", "none", "contradiction", "none"]).degenerate_warning() == ""


def test_macro_f1_counts_only_classes_present_in_labels_or_predictions() -> None:
    # issue 13: perfect predictions on data without 'minimizing' gave accuracy 1.000, macro-F1 0.667
    y = ["none", "contradiction", "none", "contradiction"]
    ev = evaluate(y, list(y))
    assert ev.accuracy == 1.0 and ev.macro_f1 == 1.0
    assert ev.f1_labels == ("none", "contradiction")
    md = ev.to_markdown()
    assert "classes present in the labels or the predictions: none, contradiction (absent: minimizing)" in md
    # a class only predicted still counts (its F1 is 0): macro over none, minimizing, contradiction
    ev2 = evaluate(["none", "none", "contradiction"], ["none", "minimizing", "contradiction"])
    assert ev2.f1_labels == ("none", "minimizing", "contradiction")
    assert ev2.macro_f1 == pytest.approx(np.mean([2 / 3, 0.0, 1.0]))
    assert ev2.to_dict()["macro_f1_labels"] == ["none", "minimizing", "contradiction"]


def test_detect_train_without_labels_says_one_thing(tmp_path) -> None:
    # issue 13: a cross-validation note and then "No turn has a human incongruence label"
    from typer.testing import CliRunner

    from congruence.cli import app

    t = synthetic_turns(n_sessions=2, turns=6).assign(ann_incongruence=None)
    t.to_parquet(tmp_path / "turns.parquet")
    args = ["detect", "train", str(tmp_path / "turns.parquet"), "-o", str(tmp_path / "m.joblib")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2
    assert "No turn has a human incongruence label" in r.output and "--labels" in r.output
    assert "labelled session" not in r.output and "cross-validat" not in r.output
    assert not (tmp_path / "m.joblib").exists()
