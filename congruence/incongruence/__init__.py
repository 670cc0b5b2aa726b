"""Incongruence between modalities: E-THER's continuous score, the dissonance indicator, typed labels."""

from congruence.incongruence.pairs import FACE, TEXT, VOICE, ModalityColumns, pair_scores
from congruence.incongruence.scores import (
    TAU_FIXED,
    dissonance,
    ether_score,
    incongruence_type,
    incongruence_types,
    median_mismatch,
    mismatch,
    row_cosine,
)

__all__ = [
    "FACE",
    "TAU_FIXED",
    "TEXT",
    "VOICE",
    "ModalityColumns",
    "dissonance",
    "ether_score",
    "incongruence_type",
    "incongruence_types",
    "median_mismatch",
    "mismatch",
    "pair_scores",
    "row_cosine",
]
