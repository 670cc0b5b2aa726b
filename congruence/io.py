"""Crash-safe files: atomic writes and an append-only JSONL store of finished work; Markdown tables.

Reading tables is the turn-table contract's job (:mod:`congruence.table`).

A killed run must lose nothing already computed and must never leave a half-written file that
looks complete: results are appended one record per line and fsync'ed; final outputs are written
to a temporary name in the same folder and renamed over the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomic(
    target: str | os.PathLike[str], writer: Callable[[IO[Any]], object], *, binary: bool = False
) -> None:
    """Write a file atomically with ``writer(fh)``."""
    with (
        atomic_path(target) as tmp,
        open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh,
    ):
        writer(fh)
        fh.flush()
        os.fsync(fh.fileno())


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    write_atomic(target, lambda fh: json.dump(data, fh, indent=2, default=str, ensure_ascii=False))


def file_digest(path: str | os.PathLike[str], *, chunk: int = 1 << 22) -> str:
    """BLAKE2b content hash of a file (streamed; a 2-hour video hashes in seconds)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def text_digest(*parts: Any) -> str:
    return hashlib.blake2b(
        json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=12
    ).hexdigest()


class JsonlStore:
    """Append-only ``key -> record`` store; a torn last line (from a kill) is ignored on load."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # torn write of a killed run: that record is simply redone
                    if isinstance(rec, dict) and "key" in rec:
                        self._records[rec["key"]] = rec

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        rec = {"key": key, **record}
        line = json.dumps(rec, default=_json_default, ensure_ascii=False)
        with open(self.path, "a", encoding="utf-8") as fh:
            if fh.tell() > 0:
                fh.write("\n")  # a torn previous line never swallows this record
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._records[key] = rec


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def markdown_table(df: Any, *, floatfmt: str = ".3f", missing: str = "") -> str:
    """A data frame as a GitHub-flavoured Markdown table (index dropped), ending in a newline.

    Floats use ``floatfmt``; a NaN / infinite float prints as ``missing``; ``|`` in a cell is escaped.
    The one Markdown table writer of the package (evaluation tables, disagreement reports).

    >>> import pandas as pd
    >>> print(markdown_table(pd.DataFrame({"a": ["x|y"], "b": [float("nan")]}), missing="n/a"), end="")
    | a | b |
    | --- | --- |
    | x\\|y | n/a |
    """
    import math
    import numbers

    def cell(v: object) -> str:
        if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral):  # Python and NumPy floats
            f = float(v)
            return format(f, floatfmt) if math.isfinite(f) else missing
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
