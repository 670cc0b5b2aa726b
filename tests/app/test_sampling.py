"""Stratified validation sample: exact size, proportional strata, reproducible."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congruence.app.sampling import ETHER_SHARE, allocate, sample_size, stratified_sample
from congruence.errors import CongruenceError

strata_lists = st.lists(
    st.sampled_from(["a|none", "a|minimizing", "b|none", "b|contradiction", "c|none"]),
    min_size=1,
    max_size=300,
)


def test_ether_share_gives_100_of_789_pairs() -> None:
    assert sample_size(789, ETHER_SHARE) == 100
    assert sample_size(789, 0.127) == 100


@settings(max_examples=200, deadline=None)
@given(strata=strata_lists, share=st.floats(min_value=0.01, max_value=1.0), seed=st.integers(0, 10_000))
def test_sample_has_the_requested_size_and_each_stratum_its_proportional_share(
    strata: list[str], share: float, seed: int
) -> None:
    picked = stratified_sample(strata, share=share, seed=seed)
    n = sample_size(len(strata), share)
    assert len(picked) == n
    assert len(set(picked)) == n and all(0 <= i < len(strata) for i in picked)
    sizes, got = Counter(strata), Counter(strata[i] for i in picked)
    for stratum, size in sizes.items():
        quota = n * size / len(strata)
        assert math.floor(quota) <= got[stratum] <= math.ceil(quota)


@settings(max_examples=50, deadline=None)
@given(strata=strata_lists, seed=st.integers(0, 10_000))
def test_the_same_seed_draws_the_same_sample(strata: list[str], seed: int) -> None:
    assert stratified_sample(strata, share=0.3, seed=seed) == stratified_sample(strata, share=0.3, seed=seed)


def test_different_seeds_draw_different_items_within_strata() -> None:
    strata = ["a"] * 50 + ["b"] * 50
    draws = {tuple(stratified_sample(strata, n=10, seed=s)) for s in range(10)}
    assert len(draws) > 5
    for d in draws:  # but always 5 + 5
        assert sum(i < 50 for i in d) == 5


def test_allocation_is_largest_remainder() -> None:
    # quotas 3.5, 2.1, 1.4 of n = 7: floors 3, 2, 1 and the one left goes to the largest remainder (a)
    assert allocate({"a": 35, "b": 21, "c": 14}, 7) == {"a": 4, "b": 2, "c": 1}


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_0_1_is_refused(share: float) -> None:
    with pytest.raises(CongruenceError, match="share"):
        stratified_sample(["a", "b"], share=share)


def test_share_and_n_are_exclusive() -> None:
    with pytest.raises(CongruenceError):
        stratified_sample(["a"], share=0.5, n=1)
    with pytest.raises(CongruenceError):
        stratified_sample(["a"])
