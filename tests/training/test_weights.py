"""Properties of the E-THER sample weights (eq. 4-6, notes i-ii)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from congruence.errors import CongruenceError
from congruence.training.weights import (
    binary_weights,
    continuous_weights,
    engagement_weights,
    normalise_batch,
    sample_weights,
)

unit = st.floats(0.0, 1.0, allow_nan=False)
batch = st.lists(unit, min_size=1, max_size=32)
gammas = st.floats(0.8, 1.2)


@given(batch, gammas)
def test_continuous_weights_lie_in_1_2_and_grow_with_s(s, gamma):
    w = continuous_weights(s, gamma=gamma)
    assert np.all((w >= 1.0) & (w <= 2.0))
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-12)  # monotone in s


@given(st.lists(st.integers(0, 1), min_size=1, max_size=32), gammas)
def test_s_equal_indicator_recovers_binary_scheme(ind, gamma):
    assert np.allclose(continuous_weights(ind, gamma=gamma), binary_weights(ind))
    assert set(binary_weights(ind).tolist()) <= {1.0, 2.0}


@given(batch)
def test_engagement_weights_are_one_plus_e(e):
    w = engagement_weights(e)
    assert np.allclose(w, 1.0 + np.asarray(e)) and np.all((w >= 1) & (w <= 2))


@given(batch, gammas)
def test_normalised_weights_have_batch_mean_one_and_same_ratios(s, gamma):
    w = continuous_weights(s, gamma=gamma)
    n = normalise_batch(w)
    assert n.mean() == pytest.approx(1.0)
    assert np.allclose(n / n[0], w / w[0])


def test_incongruent_samples_weigh_more_in_every_scheme_that_sees_them():
    ind, s = [0, 1, 0, 1], [0.1, 0.9, 0.0, 1.0]
    for w in (sample_weights("binary", indicator=ind), sample_weights("continuous", score=s, normalise=True)):
        assert w[1] > w[0] and w[3] > w[2]
    assert np.all(sample_weights("uniform", n=4) == 1)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(CongruenceError, match="gamma"):
        continuous_weights([0.5], gamma=2.0)
    with pytest.raises(CongruenceError, match=r"\[0, 1\]"):
        continuous_weights([1.5])
    with pytest.raises(CongruenceError, match="needs the score"):
        sample_weights("continuous")
    with pytest.raises(CongruenceError, match="Unknown weight scheme"):
        sample_weights("inverse", n=2)


# ----------------------------------------------------------------- E-THER's batch-median score (eq. 3)
SQ = 1 / np.sqrt(2)


def _tiny_batch():
    """Five turns: four with both VA pairs (mismatches 0.1, 0.2, 0.3, 0.5 -> batch median 0.25)
    and FER-class distributions, one without a face."""
    one_hot = [1.0, 0, 0, 0, 0, 0, 0]
    e_v = [[0.0, 0.0], [0.2, 0.0], [0.0, 0.3], [0.3, 0.4], None]
    e_t = [[0.1, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.5, 0.5]]
    z_v = [[1.0, 1.0, 0, 0, 0, 0, 0], one_hot, one_hot, one_hot, None]
    z_t = [one_hot, one_hot, one_hot, one_hot, one_hot]
    return e_v, e_t, z_v, z_t


def test_batch_scores_follow_eq3_with_the_batch_median_by_hand():
    from congruence.training.weights import batch_scores

    e_v, e_t, z_v, z_t = _tiny_batch()
    s = batch_scores([0.9, 0.9, 0.9, 0.9, 0.33], e_v, e_t, z_v, z_t, lam=0.5)
    # tau_e = median(0.1, 0.2, 0.3, 0.5) = 0.25; row 0: 0.1 / 0.25 + 0.5 (1 - cos 45 deg)
    expected = [0.4 + 0.5 * (1 - SQ), 0.8, 1.0, 1.0, 0.33]  # 1.2 and 2.0 clip to 1; no face: fallback
    assert s.tolist() == pytest.approx(expected)
    # the same rows in another batch get another tau_e: the score is a batch statistic
    alone = batch_scores([0.9, 0.9], e_v[:2], e_t[:2], z_v[:2], z_t[:2], lam=0.5)
    assert alone.tolist() == pytest.approx([0.1 / 0.15 + 0.5 * (1 - SQ), 1.0])


def test_collator_weights_use_the_batch_median_by_default_and_the_table_score_as_option():
    from congruence.training.config import Config
    from congruence.training.trainer import Collator

    assert Config().weights.tau == "batch_median"  # the paper's form is the default
    e_v, e_t, z_v, z_t = _tiny_batch()
    batch = [
        {"score": 0.9, "score_kind": "continuous", "face_va": a, "text_va": b, "face_cats": c, "text_cats": d}
        for a, b, c, d in zip(e_v, e_t, z_v, z_t, strict=True)
    ]
    batch[4]["score"] = 0.33
    batch[2]["score_kind"], batch[2]["score"] = "indicator", 0.0  # a human label: s = I stays
    paper = Collator(encoder=None, scheme="continuous", gamma=1.0).weights(batch)  # type: ignore[arg-type]
    # tau_e still from the four rows with VA (the median is the batch's), row 2 keeps s = I = 0
    assert paper.tolist() == pytest.approx([1.4 + 0.5 * (1 - SQ), 1.8, 1.0, 2.0, 1.33])
    fixed = Collator(encoder=None, scheme="continuous", gamma=1.0, tau="fixed").weights(batch)  # type: ignore[arg-type]
    assert fixed.tolist() == pytest.approx([1.9, 1.9, 1.0, 1.9, 1.33])


def test_dataset_instances_keep_the_inputs_of_eq3():
    from pathlib import Path

    import pandas as pd

    from congruence.table import FER_CLASSES
    from congruence.training.dataset import instance_from_row

    row = {"session_id": "s", "turn_index": 1, "text": "fine", "counsellor_text": "ok", "face_status": "ok",
           "text_face_score": 0.4, "face_valence": -0.5, "face_arousal": 0.2, "text_valence": 0.6,
           "text_arousal": 0.1, **{f"face_expr_{c}": 1 / 7 for c in FER_CLASSES},
           **{f"text_cat_{c}": float(c == "happy") for c in FER_CLASSES}}  # fmt: skip
    inst = instance_from_row(pd.Series(row), frames_root=Path("."))
    assert inst["score_kind"] == "continuous" and inst["score"] == 0.4
    assert inst["face_va"] == [-0.5, 0.2] and inst["text_va"] == [0.6, 0.1]
    assert inst["text_cats"] == [float(c == "happy") for c in FER_CLASSES] and len(inst["face_cats"]) == 7
    del row["text_arousal"]
    assert instance_from_row(pd.Series(row), frames_root=Path("."))["text_va"] is None
