"""Crash-safe files: atomic writes and an append-only JSONL store of finished work.

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


def read_table(path: str | os.PathLike[str]) -> Any:
    """A table from CSV, TSV, JSON (records), JSON Lines or Parquet, chosen by suffix, as a DataFrame.

    A folder written by ``congruence analyze`` (or a ``turns.parquet``) is read through the
    turn-table contract (:func:`congruence.table.read`): its columns' provenance is kept in
    ``df.attrs["provenance"]`` (column -> :class:`~congruence.provenance.Provenance`). Unreadable
    or unknown files are a :class:`~congruence.errors.CongruenceError` that names the file.
    """
    import pandas as pd

    from congruence import table as turn_table
    from congruence.errors import CongruenceError

    p = Path(path)
    if p.is_dir() and (p / turn_table.TABLE_FILE).is_file():
        p = p / turn_table.TABLE_FILE
    if not p.is_file():
        raise CongruenceError(f"Table not found: {p}.", "Check the path (a table or an analysis folder).")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        read = turn_table.read(p)
        read.table.attrs["provenance"] = read.provenance
        return read.table
    readers: dict[str, Callable[[Path], Any]] = {
        ".csv": pd.read_csv,
        ".tsv": lambda f: pd.read_csv(f, sep="\t"),
        ".tab": lambda f: pd.read_csv(f, sep="\t"),
        ".jsonl": lambda f: pd.read_json(f, lines=True),
        ".json": pd.read_json,
    }
    if suffix not in readers:
        raise CongruenceError(
            f"Unsupported table format '{suffix}' ({p.name}).", "Use .csv, .tsv, .json, .jsonl or .parquet."
        )
    try:
        return readers[suffix](p)
    except (ValueError, OSError) as e:
        raise CongruenceError(f"Could not read {p}: {e}.", "Check that the file is a valid table.") from e
