"""Affect for a single utterance (and optional face image) outside a full session analysis.

``congruence respond "I'm fine" --face-image face.jpg`` needs what ``congruence analyze`` would
put in the turn table: the words' valence / arousal, the face's expression, valence / arousal,
and the E-THER text-face incongruence type. :func:`affect_for` runs the registered text and face
analyzers on the one utterance / image and types the pair with
:func:`congruence.incongruence.pairs.text_face_type` (the same rules and neutral points as the session table).
The face estimates are those of the configured face analyzer, with its provenance (the embedded
default derives valence / arousal from the expression distribution: a proxy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from congruence.errors import CongruenceError
from congruence.table import as_number


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if isinstance(v, (np.ndarray, list, tuple)):
            continue  # embeddings and other vectors do not go into a prompt
        out[k] = v.item() if isinstance(v, np.generic) else v
    return out


def affect_for(
    text: str,
    image: np.ndarray | None = None,
    *,
    text_analyzer: str = "default",
    face_analyzer: str = "default",
) -> dict[str, Any]:
    """Turn-table-like affect columns for one utterance and (optionally) one RGB face image.

    Keys: the analyzers' columns (``text_valence``, ``face_valence``, ``face_expr_<class>``, ...,
    their ``*_status``) and ``text_face_type`` (``none`` / ``minimizing`` / ``contradiction``, or
    ``None`` when a side is missing).
    """
    from congruence.incongruence.pairs import text_face_type
    from congruence.ingest.media import Frame
    from congruence.registry import create

    out: dict[str, Any] = {}
    try:
        out.update(_flat(create("text.analyzer", text_analyzer).analyze_turn(text).values))
    except CongruenceError:
        raise
    except Exception as exc:  # the analyzers' own failures become a clear message
        raise CongruenceError(
            f"The text analyzer '{text_analyzer}' failed: {exc}", "Pass precomputed affect with --affect."
        ) from exc
    if image is not None:
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise CongruenceError(
                f"The face image must be RGB (H, W, 3), got {arr.shape}.", "Pass a colour photo."
            )
        try:
            feats = create("face.analyzer", face_analyzer).analyze_turn([Frame(0.0, arr)], key_time=0.0)
        except CongruenceError:
            raise
        except Exception as exc:
            raise CongruenceError(
                f"The face analyzer '{face_analyzer}' failed: {exc}", "Pass precomputed affect with --affect."
            ) from exc
        out.update(_flat(feats.values))

    def num(k: str) -> float | None:
        return as_number(out.get(k))

    out["text_face_type"] = text_face_type(
        num("face_valence"), num("face_arousal"), num("text_valence"), num("text_arousal")
    )
    return out


__all__ = ["affect_for"]
