"""How much the modalities disagree on a turn: the key of the "disagreement first" queue.

The mixed-signals paper (docs/references.md#mixed-signals) finds that turns on which unimodal models
disagree are the ambiguous ones that humans also find hard, and suggests them for active
learning. ``congruence analyze`` gives per client turn and per modality pair (text-face,
face-voice, text-voice) the E-THER continuous score ``s_p`` in [0, 1] (``<pair>_score``) and the
dissonance indicator ``d_p`` in {0, 1} (``<pair>_dissonance``, threshold T = 0.5). The queue sorts
by, descending:

1. ``max(max_p s_p, m)`` - the strongest mismatch between any two modalities, or between models
   (:func:`disagreement`);
2. ``sum_p (s_p + d_p) + m`` - then how many pairs disagree and how much (:func:`disagreement_total`).

``m`` is the share of model pairs that predict different labels for the turn
(:func:`model_disagreement`), from the table's ``pred_<model>`` columns when it has at least two
(e.g. the unimodal and fusion detectors' labels of ``congruence.incongruence``, merged into the
turn table as ``pred_text``, ``pred_face``, ``pred_fusion``); it is 0 when all agree, 1 when every
two differ, and absent without such columns.

Pairs with a missing modality are left out (no fake zeros); a turn with no score at all has no key
and goes to the end of the queue. The keys rank turns for attention; they are rule-based proxies
from proxy estimates and say nothing about what the client felt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from congruence.table import PAIR_NAMES, as_number, is_blank

SCORE_COLUMNS: tuple[str, ...] = tuple(f"{p}_score" for p in PAIR_NAMES)
DISSONANCE_COLUMNS: tuple[str, ...] = tuple(f"{p}_dissonance" for p in PAIR_NAMES)


def model_disagreement(row: Mapping[str, Any]) -> float | None:
    """Share of pairs of models (``pred_*`` columns) whose labels differ; ``None`` with fewer than 2.

    >>> model_disagreement({"pred_text": "none", "pred_face": "minimizing", "pred_fusion": "none"})
    0.6666666666666666
    """
    labels = [str(v) for k, v in row.items() if str(k).startswith("pred_") and not is_blank(v)]
    if len(labels) < 2:
        return None
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    return sum(a != b for a, b in pairs) / len(pairs)


def disagreement(row: Mapping[str, Any]) -> float | None:
    """``max(max_p s_p, m)`` over the modality pairs with a score and the models; ``None`` without any.

    >>> disagreement({"text_face_score": 0.2, "face_voice_score": 0.9, "text_voice_score": None})
    0.9
    """
    scores = [s for c in SCORE_COLUMNS if (s := as_number(row.get(c))) is not None]
    m = model_disagreement(row)
    if m is not None:
        scores.append(m)
    return max(scores) if scores else None


def disagreement_total(row: Mapping[str, Any]) -> float | None:
    """``sum_p (s_p + d_p) + m`` over what is present (the tie-breaker); ``None`` when nothing is.

    >>> disagreement_total({"text_face_score": 0.5, "text_face_dissonance": 1.0, "face_voice_score": 0.25})
    1.75
    """
    vals = [v for c in SCORE_COLUMNS + DISSONANCE_COLUMNS if (v := as_number(row.get(c))) is not None]
    m = model_disagreement(row)
    if m is not None:
        vals.append(m)
    return sum(vals) if vals else None


def queue_key(primary: float | None, total: float | None, position: int) -> tuple[int, float, float, int]:
    """Sort key (ascending) that puts the largest disagreement first and keyless turns last."""
    if primary is None:
        return (1, 0.0, 0.0, position)
    return (0, -primary, -(total or 0.0), position)
