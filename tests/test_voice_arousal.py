"""Property tests of the pure arousal-proxy formulas (congruence.perception.voice.arousal)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from congruence.perception.voice.arousal import (
    AROUSAL_INPUTS,
    arousal_index,
    raw_arousal,
    raw_arousal_index,
    speaker_normalised_arousal,
)

COLS = [i.column for i in AROUSAL_INPUTS]
finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
features = st.fixed_dictionaries({c: finite for c in COLS})


@given(features)
def test_raw_arousal_is_bounded(values):
    a = raw_arousal(values)
    assert a is not None and -1.0 <= a <= 1.0


@given(features, st.sampled_from(COLS), st.floats(min_value=1e-3, max_value=1e3))
def test_raw_index_rises_with_every_input(values, col, delta):
    up = dict(values, **{col: values[col] + delta})
    assert raw_arousal_index(up) > raw_arousal_index(values)
    assert raw_arousal(up) >= raw_arousal(values)


def test_missing_inputs_are_left_out_not_zeroed():
    ref = {i.column: i.ref_mean for i in AROUSAL_INPUTS}
    loud_only = {AROUSAL_INPUTS[1].column: AROUSAL_INPUTS[1].ref_mean + 2 * AROUSAL_INPUTS[1].ref_sd}
    # with one input present its z-score is the whole index (not diluted by absent inputs)
    assert raw_arousal_index(loud_only) == pytest.approx(2.0)
    assert raw_arousal_index(dict(ref, **{COLS[0]: None, COLS[2]: float("nan")})) == pytest.approx(0.0)
    assert raw_arousal_index({}) is None
    assert raw_arousal({}) is None
    assert arousal_index({c: None for c in COLS}) is None


def _table(rows: list[dict], speakers: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["speaker"] = speakers
    return df


session = st.lists(features, min_size=2, max_size=8)


@settings(max_examples=60)
@given(session)
def test_speaker_normalised_is_bounded(rows):
    a = speaker_normalised_arousal(_table(rows, ["A"] * len(rows)))
    assert a.notna().all()
    assert ((a >= -1.0) & (a <= 1.0)).all()


@settings(max_examples=60)
@given(session, st.data())
def test_normalised_turn_that_is_higher_on_every_input_is_not_less_aroused(rows, data):
    i, j = data.draw(st.permutations(range(len(rows))))[:2]
    # make turn i >= turn j on every input
    rows = [dict(r) for r in rows]
    for c in COLS:
        hi, lo = max(rows[i][c], rows[j][c]), min(rows[i][c], rows[j][c])
        rows[i][c], rows[j][c] = hi, lo
    a = speaker_normalised_arousal(_table(rows, ["A"] * len(rows)))
    assert a.iloc[i] >= a.iloc[j] - 1e-9


@settings(max_examples=60)
@given(session, st.sampled_from(COLS), st.floats(min_value=0.1, max_value=10), st.floats(-100, 100))
def test_speaker_normalisation_ignores_gain_and_offset_of_a_speaker(rows, col, scale, shift):
    base = _table(rows, ["A"] * len(rows))
    assume(base[col].std(ddof=0) > 1e-6 * max(1.0, base[col].abs().max()))
    moved = base.copy()
    moved[col] = moved[col] * scale + shift  # e.g. another microphone gain for this speaker
    np.testing.assert_allclose(
        speaker_normalised_arousal(moved).to_numpy(), speaker_normalised_arousal(base).to_numpy(), atol=1e-6
    )


def test_each_speaker_is_normalised_against_their_own_turns():
    pitch, loud = COLS[0], COLS[1]
    # a high-pitched calm speaker B and a low-pitched speaker A who gets animated in turn 2
    rows = [
        {pitch: 20.0, loud: 0.5},
        {pitch: 26.0, loud: 1.2},
        {pitch: 38.0, loud: 0.6},
        {pitch: 38.5, loud: 0.62},
        {pitch: 37.5, loud: 0.58},
    ]
    df = _table(rows, ["A", "A", "B", "B", "B"])
    a = speaker_normalised_arousal(df)
    raw = [raw_arousal(r) for r in rows]
    assert raw[2] > raw[1]  # raw mapping: B's calm turn looks more aroused (higher absolute pitch)
    assert a.iloc[1] > a.iloc[2]  # after speaker normalisation A's animated turn is higher
    assert a.iloc[1] > 0 > a.iloc[0]


def test_single_turn_session_keeps_the_raw_mapping():
    row = {c: i.ref_mean + 1.5 * i.ref_sd for c, i in zip(COLS, AROUSAL_INPUTS, strict=True)}
    a = speaker_normalised_arousal(_table([row], ["A"]))
    assert a.iloc[0] == pytest.approx(math.tanh(1.5))
    assert a.iloc[0] == pytest.approx(raw_arousal(row))


def test_rows_without_inputs_give_nan_and_missing_speaker_column_means_one_speaker():
    rows = [{COLS[0]: 20.0}, {COLS[0]: 30.0}, {COLS[0]: None}]
    df = pd.DataFrame(rows)
    a = speaker_normalised_arousal(df)
    assert a.iloc[0] < 0 < a.iloc[1]
    assert math.isnan(a.iloc[2])
