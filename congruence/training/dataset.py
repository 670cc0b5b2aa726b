"""E-THER training instances from analysed (and annotated) sessions, with session-level splits.

One instance per dialogue pair (E-THER III-B): the client frame at the verbal response, the client
utterance, the counsellor response as the target, the incongruence indicator and type, engagement,
valence / arousal / dominance (labels only, never model input) and the continuous score ``s``.

Human annotations (``ann_*`` columns, e.g. from ``congruence app``) win over model estimates; each
field says which it used (``*_source`` = ``human`` / ``model`` / ``none``) and ``label_source``
summarises the row (``human``, ``model`` or ``mixed``). Model estimates of engagement and face
valence / arousal are proxies (see the analysis table's provenance); they are labelled ``model``
here only in the sense "not a human label".

>>> split_sessions(["a", "b", "c", "d"], n_eval=2, seed=0)
{'a': 'eval', 'b': 'train', 'c': 'eval', 'd': 'train'}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.incongruence.labels import LABELS
from congruence.perception.face.geometry import AU_NAMES
from congruence.table import FER_CLASSES, as_number, is_blank

#: Face features fed to the embedded model's face encoder (FER-2013 expression probabilities,
#: mesh action-unit proxies, expression-derived valence / arousal), all from ``congruence analyze``.
FACE_EXPR = tuple(f"face_expr_{c}" for c in FER_CLASSES)
FACE_AU = tuple(f"face_{au}" for au in AU_NAMES)
FACE_FEATURES: tuple[str, ...] = (*FACE_EXPR, *FACE_AU, "face_valence", "face_arousal")

REQUIRED_COLUMNS = ("session_id", "turn_index", "text", "counsellor_text")
INCONGRUENCE_TYPES: tuple[str, ...] = LABELS  # E-THER's types

#: Columns of an instance table (and of the exported dataset).
INSTANCE_COLUMNS = (
    "session_id", "turn_index", "split", "client_text", "counsellor_text", "frame_path", "face_present",
    "face_features", "incongruent", "incongruence_type", "incongruence_source", "score", "score_source",
    "engagement", "engagement_source", "valence", "arousal", "dominance", "vad_source", "label_source",
    "rater", "score_kind", "face_va", "text_va", "face_cats", "text_cats",
)  # fmt: skip
#: The per-turn inputs of E-THER's eq. 3 kept with each instance, so the trainer can compute ``s``
#: with the batch median ``tau_e`` (congruence.training.weights.batch_scores): the face and text
#: (valence, arousal) and FER-2013 class distributions (face classifier / text mapping).
SCORE_INPUTS: dict[str, tuple[str, ...]] = {
    "face_va": ("face_valence", "face_arousal"),
    "text_va": ("text_valence", "text_arousal"),
    "face_cats": tuple(f"face_expr_{c}" for c in FER_CLASSES),
    "text_cats": tuple(f"text_cat_{c}" for c in FER_CLASSES),
}


def _vector(row: pd.Series, columns: Sequence[str]) -> list[float] | None:
    values = [as_number(row.get(c)) for c in columns]
    return None if any(v is None for v in values) else [float(v) for v in values if v is not None]


def read_turn_tables(paths: Iterable[str | Path]) -> list[tuple[pd.DataFrame, Path]]:
    """Turn tables (``turns.parquet`` of ``congruence analyze``) with the folder their frames are in.

    Each path is an analysis output folder (holding ``turns.parquet``), a corpus folder (its
    finished sessions) or a Parquet / CSV file; see :func:`congruence.table.discover`.
    """
    from congruence.table import read_all

    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise CongruenceError(
                f"No turn table at {p}.",
                "Pass analysis output folders (with turns.parquet) or Parquet files.",
            )
        out += [(t.table, t.root) for t in read_all([p])]
    return out


def check_columns(table: pd.DataFrame, required: Sequence[str] = REQUIRED_COLUMNS, where: str = "") -> None:
    """Raise a :class:`CongruenceError` naming the missing columns of a turn table."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CongruenceError(
            f"The turn table{' ' + where if where else ''} lacks the column(s) {', '.join(missing)}.",
            "Build it with `congruence analyze` (dialogue pairs need the counsellor turn after each "
            "client turn) or add the columns.",
        )


def _incongruence(row: pd.Series) -> tuple[int | None, str | None, str]:
    ann = row.get("ann_incongruence")
    if not is_blank(ann):
        t = str(ann).strip().lower()
        if t not in INCONGRUENCE_TYPES:
            raise CongruenceError(
                f"Unknown incongruence annotation {ann!r} "
                f"(session {row['session_id']}, turn {row['turn_index']}).",
                f"Use one of: {', '.join(INCONGRUENCE_TYPES)}.",
            )
        return int(t != "none"), t, "human"
    est = row.get("text_face_type")
    if not is_blank(est) and str(est) in INCONGRUENCE_TYPES:
        return int(str(est) != "none"), str(est), "model"
    return None, None, "none"


def instance_from_row(row: pd.Series, *, frames_root: Path, score_from: str = "auto") -> dict[str, Any]:
    """One training instance from one client-turn row (see the module doc for sources).

    ``score_from``: ``auto`` (a human incongruence label gives ``s = I``, E-THER note i; otherwise
    the model's ``text_face_score``), ``model`` (always the model score, falling back to ``I``) or
    ``label`` (always ``s = I``).
    """
    i, itype, isrc = _incongruence(row)
    model_s = as_number(row.get("text_face_score"))
    if score_from not in ("auto", "model", "label"):
        raise CongruenceError(f"Unknown score_from {score_from!r}.", "Use auto, model or label.")
    if model_s is not None and (score_from == "model" or (score_from == "auto" and isrc != "human")):
        score, ssrc, skind = min(max(model_s, 0.0), 1.0), "model", "continuous"
    elif i is not None:
        score, ssrc, skind = float(i), isrc, "indicator"
    else:
        score, ssrc, skind = None, "none", None

    eng_h, eng_m = as_number(row.get("ann_engagement")), as_number(row.get("face_engagement"))
    if eng_h is not None:
        eng, esrc = eng_h, "human"
    elif eng_m is not None:
        eng, esrc = min(max(eng_m, 0.0), 1.0), "model"
    else:
        eng, esrc = None, "none"

    vad_h = [as_number(row.get(f"ann_{k}")) for k in ("valence", "arousal", "dominance")]
    if any(v is not None for v in vad_h):
        vad, vsrc = vad_h, "human"
    else:
        vad = [as_number(row.get("face_valence")), as_number(row.get("face_arousal")), None]
        vsrc = "model" if any(v is not None for v in vad) else "none"

    feats = [as_number(row.get(c)) for c in FACE_FEATURES]
    face_present = str(row.get("face_status", "ok")) in ("ok", "nan", "None") and all(
        f is not None for f in feats[: len(FACE_EXPR)]
    )
    frame = row.get("face_key_crop_file")
    frame_path = str((frames_root / str(frame)).resolve()) if not is_blank(frame) else None

    sources = {s for s in (isrc, ssrc, esrc, vsrc) if s != "none"}
    label_source = "mixed" if len(sources) > 1 else (sources.pop() if sources else "none")
    return {
        "session_id": str(row["session_id"]),
        "turn_index": int(row["turn_index"]),
        "split": None,
        "client_text": " ".join(str(row["text"]).split()),
        "counsellor_text": " ".join(str(row["counsellor_text"]).split()),
        "frame_path": frame_path,
        "face_present": bool(face_present),
        "face_features": [float(f or 0.0) for f in feats] if face_present else None,
        "incongruent": i,
        "incongruence_type": itype,
        "incongruence_source": isrc,
        "score": score,
        "score_source": ssrc,
        "engagement": eng,
        "engagement_source": esrc,
        "valence": vad[0],
        "arousal": vad[1],
        "dominance": vad[2],
        "vad_source": vsrc,
        "label_source": label_source,
        "rater": str(row["ann_rater"]) if not is_blank(row.get("ann_rater")) else None,
        # "continuous": s is eq. 3's (the trainer may recompute it per batch); "indicator": s = I
        "score_kind": skind,
        **{name: _vector(row, cols) for name, cols in SCORE_INPUTS.items()},
    }


def split_sessions(
    session_ids: Iterable[str], *, n_eval: int = 2, eval_sessions: Sequence[str] | None = None, seed: int = 0
) -> dict[str, str]:
    """Session-level split (E-THER: 16 train / 2 eval sessions): ``session_id -> "train" | "eval"``.

    ``eval_sessions`` names the held-out sessions; otherwise ``n_eval`` are drawn with ``seed``
    (the same sessions for the same ids and seed, whatever their order).
    """
    ids = sorted({str(s) for s in session_ids})
    if eval_sessions is not None:
        unknown = sorted(set(map(str, eval_sessions)) - set(ids))
        if unknown:
            raise CongruenceError(
                f"Eval session(s) {', '.join(unknown)} are not in the data.",
                f"Choose from: {', '.join(ids)}.",
            )
        held = set(map(str, eval_sessions))
    else:
        if n_eval < 1 or n_eval >= len(ids):
            raise CongruenceError(
                f"Cannot hold out {n_eval} of {len(ids)} session(s): splits are by session, and both "
                "sides need at least one.",
                "Add sessions or change n_eval (E-THER held out 2 of 18).",
            )
        order = np.random.default_rng(seed).permutation(len(ids))
        held = {ids[k] for k in order[:n_eval]}
    if len(held) == len(ids):
        raise CongruenceError("Every session is held out.", "Leave at least one session for training.")
    return {s: ("eval" if s in held else "train") for s in ids}


def build_instances(
    tables: Sequence[tuple[pd.DataFrame, Path]] | Sequence[str | Path],
    *,
    n_eval: int = 2,
    eval_sessions: Sequence[str] | None = None,
    seed: int = 0,
    score_from: str = "auto",
) -> pd.DataFrame:
    """All instances of the given turn tables, with a ``split`` column (columns: :data:`INSTANCE_COLUMNS`).

    Client turns without a following counsellor turn have no target and are left out.
    """
    pairs: Sequence[tuple[pd.DataFrame, Path]] = (
        read_turn_tables(tables)  # type: ignore[arg-type]
        if tables and not isinstance(tables[0], tuple)
        else tables  # type: ignore[assignment]
    )
    rows = []
    for table, root in pairs:
        check_columns(table, where=f"from {root}")
        for _, r in table.iterrows():
            if not is_blank(r["text"]) and not is_blank(r["counsellor_text"]):
                rows.append(instance_from_row(r, frames_root=Path(root), score_from=score_from))
    if not rows:
        raise CongruenceError(
            "No dialogue pair (client turn followed by a counsellor turn) in the given tables.",
            "Check the role assignment of the analysed sessions.",
        )
    df = pd.DataFrame(rows, columns=list(INSTANCE_COLUMNS))
    dup = df.duplicated(["session_id", "turn_index"])
    if dup.any():
        raise CongruenceError(
            f"{int(dup.sum())} duplicate (session_id, turn_index) instance(s).",
            "Give every analysed session its own session id.",
        )
    split = split_sessions(df["session_id"], n_eval=n_eval, eval_sessions=eval_sessions, seed=seed)
    df["split"] = df["session_id"].map(split)
    return df.sort_values(["split", "session_id", "turn_index"], ignore_index=True)


#: Fields each weight scheme / model input needs from an instance table.
NEEDED_FIELDS = {"binary": "incongruent", "continuous": "score", "engagement": "engagement"}


def check_instances(df: pd.DataFrame, *, scheme: str, needs_face: bool, needs_frame: bool = False) -> None:
    """Raise a clear error when the dataset lacks what a training configuration needs.

    ``needs_face``: the embedded model's ``face_features``; ``needs_frame``: a vision-language
    model's client frame (``frame_path``).
    """
    missing = [c for c in ("client_text", "counsellor_text", "split") if c not in df.columns]
    field = NEEDED_FIELDS.get(scheme)
    if field and field not in df.columns:
        missing.append(field)
    if needs_face and "face_features" not in df.columns:
        missing.append("face_features")
    if needs_frame and "frame_path" not in df.columns:
        missing.append("frame_path")
    if missing:
        raise CongruenceError(
            f"The dataset lacks the field(s) {', '.join(missing)}.",
            "Build it with `congruence dataset build` from analysed sessions.",
        )
    if field:
        n_na = int(df[field].isna().sum())
        if n_na:
            hint = {
                "engagement": "annotate engagement in `congruence app`",
                "incongruent": "annotate incongruence",
            }
            raise CongruenceError(
                f"{n_na} of {len(df)} instances have no {field} value, "
                f"which the {scheme!r} weight scheme needs.",
                f"{hint.get(field, 'annotate the sessions')}, or choose another weights.scheme.",
            )
    for split in ("train", "eval"):
        if not (df["split"] == split).any():
            raise CongruenceError(
                f"The dataset has no {split!r} instances.", "Rebuild it with session splits."
            )


def export_dataset(df: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write ``train.parquet``, ``eval.parquet``, a ``datasets.DatasetDict`` (``hf/``), ``dataset.json``."""
    from datasets import Dataset, DatasetDict

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    dd = {}
    for split in ("train", "eval"):
        part = df[df["split"] == split].reset_index(drop=True)
        p = out / f"{split}.parquet"
        part.to_parquet(p, index=False)
        paths[split] = p
        dd[split] = Dataset.from_pandas(part, preserve_index=False)
    DatasetDict(dd).save_to_disk(str(out / "hf"))
    paths["hf"] = out / "hf"
    summary = {
        "instances": {s: int((df["split"] == s).sum()) for s in ("train", "eval")},
        "sessions": {
            s: sorted(df.loc[df["split"] == s, "session_id"].unique().tolist()) for s in ("train", "eval")
        },
        "incongruent": int(df["incongruent"].fillna(0).sum()),
        "label_source": df["label_source"].value_counts().to_dict(),
        "face_features": list(FACE_FEATURES),
        "face_features_note": "FER-2013 expression probabilities (model), mesh AU proxies and "
        "expression-derived valence/arousal (proxies) from `congruence analyze`.",
    }
    (out / "dataset.json").write_text(json.dumps(summary, indent=2))
    paths["summary"] = out / "dataset.json"
    return paths


def load_instances(path: str | Path) -> pd.DataFrame:
    """An instance table from a ``congruence dataset build`` folder (or a Parquet file of instances)."""
    p = Path(path)
    if p.is_dir():
        parts = [p / f"{s}.parquet" for s in ("train", "eval")]
        if not all(f.is_file() for f in parts):
            raise CongruenceError(
                f"{p} holds no train.parquet / eval.parquet.", "Build it with `congruence dataset build`."
            )
        return pd.concat([pd.read_parquet(f) for f in parts], ignore_index=True)
    if not p.is_file():
        raise CongruenceError(f"Dataset {p} does not exist.", "Build it with `congruence dataset build`.")
    return pd.read_parquet(p)


__all__ = [
    "FACE_FEATURES",
    "INSTANCE_COLUMNS",
    "build_instances",
    "check_instances",
    "export_dataset",
    "instance_from_row",
    "load_instances",
    "read_turn_tables",
    "split_sessions",
]
