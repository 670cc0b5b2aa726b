"""A session's rows for the responder: client turns, their keys and context, the client frame,
the resumable results file, and the one-line failure summary.

Split from :mod:`congruence.generation.respond` (which re-exports ``read_results`` and
``failure_summary``); nothing here generates text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congruence.errors import CongruenceError
from congruence.generation.prompts import DialogueTurn
from congruence.table import is_missing

if TYPE_CHECKING:  # annotations only
    from congruence.generation.respond import Reply


def _row_get(row: Mapping[str, Any], key: str) -> Any:
    """``row[key]``, with a missing cell (None, NaN, pd.NA) as ``None``."""
    v = row.get(key)
    return None if is_missing(v) else v


def _is_client(row: Mapping[str, Any]) -> bool:
    role = _row_get(row, "role")
    if role is None:
        return True
    return str(getattr(role, "value", role)).strip().lower() in ("client", "patient")


def _turn_key(row: Mapping[str, Any], position: int) -> str:
    session = _row_get(row, "session_id")
    turn = next(
        (_row_get(row, k) for k in ("turn_index", "turn", "index") if _row_get(row, k) is not None), None
    )
    turn = position if turn is None else turn
    if isinstance(turn, float) and turn.is_integer():
        turn = int(turn)
    return f"{session if session is not None else ''}#{turn}"


def _context(rows: list[dict[str, Any]], i: int, text_col: str, n: int) -> list[DialogueTurn]:
    """Up to ``n`` turns before row ``i`` in its session, from the input rows only."""
    if n <= 0:
        return []
    session = _row_get(rows[i], "session_id")
    turns: list[DialogueTurn] = []
    for r in rows[:i]:
        if _row_get(r, "session_id") != session:
            continue
        text = _row_get(r, text_col)
        if _is_client(r):
            if text:
                turns.append(DialogueTurn("client", str(text), r))
            follow = _row_get(r, "counsellor_text")
            if follow:
                turns.append(DialogueTurn("counsellor", str(follow)))
        elif text:
            turns.append(DialogueTurn("counsellor", str(text)))
    return turns[-n:]


def _load_image(row: Mapping[str, Any], root: str | os.PathLike[str] | None) -> Any:
    rel = next(
        (_row_get(row, k) for k in ("face_key_crop_file", "face_image", "image_path") if _row_get(row, k)),
        None,
    )
    if not rel:
        return None
    path = Path(rel) if root is None or Path(rel).is_absolute() else Path(root) / rel
    if not path.is_file():
        return None  # a missing frame is missing data: the reply is made from the words and affect
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class _ResultFile:
    """Append-only JSONL of finished turns (one fsync'ed line each) that a re-run resumes from."""

    def __init__(self, path: Path, settings: dict[str, Any], *, resume: bool) -> None:
        from congruence.io import JsonlStore

        self.path = path
        if path.exists() and not resume:
            raise CongruenceError(
                f"{path} already exists and resume is off.", "Delete it, choose another --out, or resume."
            )
        self.settings = settings
        for rec in read_results(path) if path.exists() else []:
            if rec.get("settings") != settings:
                raise CongruenceError(
                    f"{path} holds responses made with other settings "
                    f"({_diff(rec.get('settings'), settings)}).",
                    "Use a new --out file for new settings, or run with the settings the file was made with.",
                )
        self._store = JsonlStore(path)

    def get(self, key: str) -> dict[str, Any] | None:
        rec = self._store.get(key)
        return dict(rec["row"]) if rec is not None else None

    def put(self, key: str, reply: Reply) -> None:
        self._store.put(key, {"settings": self.settings, "row": reply.row(), "samples": list(reply.samples)})


def _diff(old: Any, new: Mapping[str, Any]) -> str:
    if not isinstance(old, Mapping):
        return "unknown settings"
    changed = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in new.items() if old.get(k) != v]
    return "; ".join(changed) or "unknown settings"


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a batch results file (torn last lines skipped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "key" in rec:
                out.append(rec)
    return out


def failure_summary(statuses: Sequence[Any], flags: Sequence[Any]) -> str | None:
    """One line on the replies that failed and why, or ``None`` when none failed.

    ``statuses`` and ``flags`` are the ``response_status`` / ``response_flags`` columns.

    >>> failure_summary(["generated", "failed", "failed", None],
    ...                 ["", "degenerate:repetition;retries_exhausted", "parse_failed", None])
    '2 of 3 replies failed: repetition 1, parse_failed 1.'
    """
    from congruence.generation.degenerate import failure_counts

    pairs = [(s, f) for s, f in zip(statuses, flags, strict=True) if isinstance(s, str) and s]
    failed = [f for s, f in pairs if s == "failed"]
    if not failed:
        return None
    why = ", ".join(f"{k} {v}" for k, v in failure_counts(failed).most_common())
    return f"{len(failed)} of {len(pairs)} replies failed: {why or 'no reply text'}."
