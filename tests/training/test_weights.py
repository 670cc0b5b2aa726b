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
