"""Vocal arousal PROXY: a weighted sum of acoustic features that rise with arousal, speaker-normalised.

No speech-emotion model is available offline, so the embedded default estimates arousal from
acoustics by a documented rule. Acoustic correlates of arousal are well established: pitch level,
loudness, speaking rate, spectral flux and a flatter spectral balance (higher alpha ratio) all rise
with activation (Scherer 2003, "Vocal communication of emotion", Speech Communication 40;
Eyben et al. 2016, "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS)", IEEE TAC 7(2),
whose eGeMAPS names are used for the inputs below). Valence, by contrast, has no reliable acoustic
correlate without a trained model, which is why this module estimates arousal only.

The proxy is *relative*: it says whether a turn is more or less activated than the same
speaker's other turns in the session. Absolute values across speakers (a high-pitched voice is not
an aroused voice) are not meaningful, and the values are not calibrated against any rating scale.

Formula (per turn t of speaker s, inputs i with weights w_i > 0)::

    z_i(t) = (x_i(t) - mu_i) / sigma_i
    A(t)   = sum_{i present} w_i * z_i(t) / sum_{i present} w_i      (the arousal index)
    voice_arousal(t) = tanh(A(t))                                     in (-1, 1)

*Raw mapping* (one turn, or a speaker with fewer than ``min_turns`` measured turns): mu_i and
sigma_i are the fixed reference values of :data:`AROUSAL_INPUTS` (rough values for conversational
adult speech at a normal recording level). *Speaker-normalised mapping*
(:func:`speaker_normalised_arousal`): mu_i and sigma_i are the mean and population standard
deviation of x_i over the speaker's turns in the session; an input whose speaker SD is 0 gets
z = 0 (no deviation from the speaker's baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from congruence.table import as_number

EGEMAPS_PREFIX = "voice_egemaps_"


@dataclass(frozen=True)
class ArousalInput:
    """One input of the arousal index: its table column, weight and reference mean / SD."""

    column: str
    weight: float
    ref_mean: float
    ref_sd: float


# Weights: pitch and loudness carry most of the arousal signal in the literature (Scherer 2003);
# rate, flux and alpha ratio add smaller independent parts. Reference values are rough figures for
# adult conversational speech (used only by the raw, single-turn mapping).
AROUSAL_INPUTS: tuple[ArousalInput, ...] = (
    ArousalInput(EGEMAPS_PREFIX + "F0semitoneFrom27.5Hz_sma3nz_amean", 0.25, 28.0, 5.0),  # semitones
    ArousalInput(EGEMAPS_PREFIX + "loudness_sma3_amean", 0.25, 0.9, 0.4),  # eGeMAPS loudness (sone-like)
    ArousalInput("voice_rate", 0.20, 4.5, 1.0),  # syllable nuclei per second of phonation
    ArousalInput(EGEMAPS_PREFIX + "spectralFlux_sma3_amean", 0.15, 0.4, 0.2),
    ArousalInput(EGEMAPS_PREFIX + "alphaRatioV_sma3nz_amean", 0.15, -12.0, 4.0),  # dB, rises with effort
)


def arousal_index(
    z: Mapping[str, float | None], inputs: Sequence[ArousalInput] = AROUSAL_INPUTS
) -> float | None:
    """Weighted mean of z-scores: ``A = sum_i w_i z_i / sum_{i present} w_i``.

    Missing or non-finite inputs are left out and the weights renormalised over the rest;
    ``None`` when no input is present.

    >>> arousal_index({i.column: 1.0 for i in AROUSAL_INPUTS})
    1.0
    """
    num = 0.0
    den = 0.0
    for inp in inputs:
        v = as_number(z.get(inp.column))
        if v is not None:
            num += inp.weight * v
            den += inp.weight
    if den == 0.0:
        return None
    return num / den


def arousal_from_index(index: float | None) -> float | None:
    """Map an arousal index to [-1, 1]: ``tanh(A)`` (``None`` stays ``None``)."""
    return None if index is None else math.tanh(index)


def reference_z(values: Mapping[str, object], inputs: Sequence[ArousalInput] = AROUSAL_INPUTS) -> dict:
    """z-scores against the fixed reference values: ``z_i = (x_i - ref_mean_i) / ref_sd_i``."""
    out: dict[str, float | None] = {}
    for inp in inputs:
        v = as_number(values.get(inp.column))
        out[inp.column] = None if v is None else (v - inp.ref_mean) / inp.ref_sd
    return out


def raw_arousal_index(
    values: Mapping[str, object], inputs: Sequence[ArousalInput] = AROUSAL_INPUTS
) -> float | None:
    """The raw arousal index of one turn: :func:`arousal_index` of :func:`reference_z`.

    Monotonically increasing in every input (all weights are positive).

    >>> raw_arousal_index({i.column: i.ref_mean for i in AROUSAL_INPUTS})
    0.0
    """
    return arousal_index(reference_z(values, inputs), inputs)


def raw_arousal(
    values: Mapping[str, object], inputs: Sequence[ArousalInput] = AROUSAL_INPUTS
) -> float | None:
    """Single-turn arousal proxy in [-1, 1]: ``tanh(raw_arousal_index(values))``."""
    return arousal_from_index(raw_arousal_index(values, inputs))


def speaker_normalised_arousal(
    table: pd.DataFrame,
    *,
    speaker_column: str = "speaker",
    inputs: Sequence[ArousalInput] = AROUSAL_INPUTS,
    min_turns: int = 2,
) -> pd.Series:
    """Speaker-normalised arousal proxy of every row of a turn table, in [-1, 1].

    Per speaker s and input i: ``z_i(t) = (x_i(t) - mean_s(x_i)) / sd_s(x_i)`` (population SD
    over the speaker's rows where x_i is finite); ``z_i = 0`` when that SD is 0; when the speaker has
    fewer than ``min_turns`` finite values of x_i, the reference z of the raw mapping is used
    instead. Then ``tanh(sum_i w_i z_i / sum_i w_i)`` as in the module docstring. Rows without a
    single finite input get ``None`` (NaN in the Series). Without a ``speaker_column`` the whole
    table is one speaker. Adding a constant to (or scaling by c > 0) one speaker's values of an
    input - a different microphone gain - leaves that speaker's results unchanged.

    Returns a float Series aligned with ``table.index``.
    """
    if speaker_column in table.columns:
        speakers = table[speaker_column].astype("string").fillna("<unknown>")
    else:
        speakers = pd.Series("<all>", index=table.index, dtype="string")
    z = pd.DataFrame(index=table.index, dtype=float)
    for inp in inputs:
        if inp.column not in table.columns:
            z[inp.column] = np.nan
            continue
        x = pd.to_numeric(table[inp.column], errors="coerce").astype(float)
        x = x.where(np.isfinite(x))
        col = pd.Series(np.nan, index=table.index, dtype=float)
        for _, idx in x.groupby(speakers).groups.items():
            xs = x.loc[idx]
            valid = xs.dropna()
            if len(valid) >= min_turns:
                sd = float(valid.std(ddof=0))
                col.loc[idx] = (
                    0.0 if sd <= 1e-12 * max(1.0, abs(float(valid.mean()))) else (xs - valid.mean()) / sd
                )
            else:
                col.loc[idx] = (xs - inp.ref_mean) / inp.ref_sd
        z[inp.column] = col
    out = []
    for _, row in z.iterrows():
        a = arousal_from_index(arousal_index(row.to_dict(), inputs))
        out.append(np.nan if a is None else a)
    return pd.Series(out, index=table.index, dtype=float, name="voice_arousal")
