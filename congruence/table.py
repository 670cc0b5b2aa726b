"""The turn table: the contract every stage writes to and reads from.

One row per client turn, identified like audinterface's ``(file, start, end)`` index by
:data:`INDEX_COLUMNS`; every other column is named ``<modality>_<value>`` (``text_valence``,
``face_expr_happy``), ``<pair>_<value>`` (``text_face_score``) or is a transcript/annotation
field, and carries a :class:`~congruence.provenance.Provenance` that the stage producing it
declared (each analyzer's ``columns()``). This module owns:

- the index columns and the shared vocabularies (FER-2013 classes, NRC EmoLex categories,
  modality and modality-pair names), so no stage re-types them;
- the missing-value convention (``<modality>_status`` says why values are missing);
- the column -> provenance map, assembled from the stages' declarations;
- :func:`write`, :func:`read` and :func:`discover` of analysis folders (``turns.parquet`` with the
  provenance in each Arrow field's metadata, ``turns.csv``, ``summary.json``) and of corpus
  folders (:data:`CORPUS_FILE` + ``sessions/<session_id>/`` + a Parquet dataset partitioned by
  session under ``turns/``, written by :func:`write_corpus_partition`, read by :func:`read_corpus`).

It imports no stage, so every stage (analysis, report, detector, training, app) can depend on it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.io import atomic_path, write_atomic, write_json
from congruence.provenance import Kind, Provenance

# ------------------------------------------------------------------------------ vocabularies

#: Columns that identify a row, like audinterface's (file, start, end) index.
INDEX_COLUMNS: tuple[str, ...] = ("session_id", "turn_index", "start", "end")
#: The perception modalities, in the order the pipeline runs them.
MODALITIES: tuple[str, ...] = ("text", "voice", "face")
#: The seven FER-2013 classes (Goodfellow et al., 2013), in the face classifier's output order;
#: the text side maps its emotions onto the same classes (E-THER eq. 3 compares like with like).
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: The ten NRC EmoLex categories (Mohammad & Turney, 2013): eight emotions and two polarities.
NRC_CATEGORIES: tuple[str, ...] = (
    "anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust", "positive", "negative",
)  # fmt: skip
#: Modality pairs scored per turn and the two modalities of each (E-THER's text-face first).
PAIR_MODALITIES: Mapping[str, tuple[str, str]] = {
    "text_face": ("text", "face"),
    "face_voice": ("face", "voice"),
    "text_voice": ("text", "voice"),
}
PAIR_NAMES: tuple[str, ...] = tuple(PAIR_MODALITIES)
#: ``<modality>_status`` of a turn whose media lacks that modality altogether.
MISSING_MEDIA_STATUS: Mapping[str, str] = {"face": "no_video", "voice": "no_audio"}

# ------------------------------------------------------------------------------ file layout

TABLE_FILE = "turns.parquet"
CSV_FILE = "turns.csv"
SUMMARY_FILE = "summary.json"
#: A corpus folder: this manifest, ``sessions/<session_id>/`` analysis folders and the turn
#: tables of all sessions as one Parquet dataset partitioned by ``session_id`` under ``turns/``.
CORPUS_FILE = "corpus.json"
CORPUS_SESSIONS = "sessions"
CORPUS_DATASET = "turns"
DONE = "done"

#: Provenance of the columns the pipeline itself writes (from the transcript, not an estimator).
BASE_PROVENANCE: Mapping[str, Provenance] = {
    "speaker": Provenance("transcript", Kind.MEASUREMENT),
    "text": Provenance("transcript", Kind.MEASUREMENT),
    "face_key_crop_file": Provenance(
        "key-frame-crop", Kind.MEASUREMENT, "client's face at the E-THER key frame"
    ),
}


def status_column(modality: str) -> str:
    """The column that says why a modality's values are missing on a turn.

    >>> status_column("face")
    'face_status'
    """
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; one of {', '.join(MODALITIES)}")
    return f"{modality}_status"


def missing_values(modality: str, status: str, columns: Iterable[str] = ()) -> dict[str, Any]:
    """The values of a turn whose ``modality`` could not be measured: ``None`` for every declared
    column and the reason in the status column (never a zero that looks like a measurement).

    >>> missing_values("face", "no_video", ["face_valence", "face_status"])
    {'face_valence': None, 'face_status': 'no_video'}
    """
    values: dict[str, Any] = dict.fromkeys(c for c in columns if c.startswith(f"{modality}_"))
    values[status_column(modality)] = status
    return values


def is_missing(value: Any) -> bool:
    """Whether a cell holds no value: ``None``, a NaN (Python or NumPy float), pandas' ``NA`` / ``NaT``.

    The one test of "missing" for single values; an empty string is a value here (see
    :func:`is_blank` for text and label cells).

    >>> [is_missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, 0.0, "")]
    [True, True, True, True, False, False]
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def is_blank(value: Any) -> bool:
    """:func:`is_missing`, or text of white space only: a text or label cell with nothing in it.

    >>> [is_blank(v) for v in (None, "  ", "none", 0.0)]
    [True, True, False, False]
    """
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def as_number(value: Any) -> float | None:
    """A cell as a finite float, or ``None`` when it holds no number: missing, infinite, a bool,
    text, or anything ``float()`` refuses. Never raises.

    >>> as_number(0.5), as_number(np.int64(2)), as_number(None), as_number(float("inf")), as_number("0.5")
    (0.5, 2.0, None, None, None)
    """
    if is_missing(value) or isinstance(value, bool | np.bool_ | str | bytes):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def numeric_column(table: pd.DataFrame, column: str) -> np.ndarray:
    """A column as a float array (text and missing cells NaN); all NaN if ``table`` lacks it
    (an absent modality is missing data, not an error).

    >>> t = pd.DataFrame({"a": [1, None, "x"]})
    >>> numeric_column(t, "a").tolist(), numeric_column(t, "b").tolist()
    ([1.0, nan, nan], [nan, nan, nan])
    """
    if column not in table.columns:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)


# ------------------------------------------------------------------------------ provenance


def assemble_provenance(*declared: Mapping[str, Provenance]) -> dict[str, Provenance]:
    """The column -> provenance map from what each stage declares, in stage order.

    Starts from :data:`BASE_PROVENANCE`; a later stage's declaration of a column replaces an
    earlier one (a session step that rewrites a column owns it).
    """
    out = dict(BASE_PROVENANCE)
    for d in declared:
        out.update(d)
    return out


def undeclared(columns: Iterable[str], provenance: Mapping[str, Provenance]) -> dict[str, Provenance]:
    """Provenance flags for modality columns no stage declared, so no value goes unlabelled.

    >>> undeclared(["text_x", "speaker"], {})["text_x"].estimator
    'unknown'
    """
    return {
        c: Provenance("unknown", Kind.PROXY, "no provenance declared")
        for c in columns
        if c.startswith(tuple(f"{m}_" for m in MODALITIES)) and c not in provenance
    }


def _prov_from_dict(d: Mapping[str, Any]) -> Provenance:
    try:
        return Provenance(str(d["estimator"]), Kind(d["kind"]), str(d.get("note", "")))
    except ValueError:
        return Provenance(str(d["estimator"]), Kind.PROXY, f"unknown kind {d['kind']!r}")


# ------------------------------------------------------------------------------ write


def is_vector_column(s: pd.Series) -> bool:
    """Whether a column holds vectors (embeddings), which a spreadsheet cannot hold."""
    first = next((v for v in s if v is not None and not (isinstance(v, float) and math.isnan(v))), None)
    return isinstance(first, list | np.ndarray)


def write_parquet(
    path: str | os.PathLike[str], table: pd.DataFrame, provenance: Mapping[str, Provenance]
) -> None:
    """``table`` as Parquet, atomically, with each column's provenance in its field metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    fields = []
    for f in arrow.schema:
        prov = provenance.get(f.name)
        fields.append(f.with_metadata({"provenance": json.dumps(prov.as_dict())}) if prov else f)
    arrow = pa.Table.from_arrays(arrow.columns, schema=pa.schema(fields, metadata=arrow.schema.metadata))
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def write(
    out: str | os.PathLike[str],
    table: pd.DataFrame,
    provenance: Mapping[str, Provenance],
    summary: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write an analysis folder: ``turns.parquet`` (with provenance), ``turns.csv`` (scalar
    columns) and ``summary.json`` (``summary`` plus the provenance, the proxies and the counts of
    each modality's status). Every file is written atomically. Returns the paths by kind.
    """
    out = Path(out)
    outputs = {
        "parquet": str(out / TABLE_FILE),
        "csv": str(out / CSV_FILE),
        "summary": str(out / SUMMARY_FILE),
    }
    missing = [c for c in ("session_id", "turn_index") if c not in table.columns]
    if missing:
        raise ValueError(f"a turn table needs the index column(s) {', '.join(missing)}")
    write_parquet(outputs["parquet"], table, provenance)
    # vectors do not belong in a spreadsheet: the CSV keeps the scalar columns
    flat = table[[c for c in table.columns if not is_vector_column(table[c])]]
    write_atomic(outputs["csv"], lambda fh: flat.to_csv(fh, index=False))
    write_json(
        outputs["summary"],
        {
            **(summary or {}),
            "provenance": {k: v.as_dict() for k, v in sorted(provenance.items())},
            "proxies": sorted(k for k, v in provenance.items() if v.kind is Kind.PROXY),
            "missing": {
                m: table[status_column(m)].value_counts(dropna=False).to_dict()
                for m in MODALITIES
                if status_column(m) in table
            },
        },
    )
    return outputs


# ------------------------------------------------------------------------------ read


@dataclass
class TurnTable:
    """One analysis read back: the table, each column's provenance, the summary, and what was
    wrong with the folder (``problems``: readable, but e.g. without its summary)."""

    root: Path
    table: pd.DataFrame
    provenance: dict[str, Provenance]
    summary: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def session_id(self) -> str | None:
        sid = self.summary.get("session_id")
        if sid is None and "session_id" in self.table and len(self.table):
            sid = self.table["session_id"].iloc[0]
        return None if sid is None else str(sid)


def load_table(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Provenance]]:
    """Read a ``turns.parquet`` with the provenance of each column (from its field metadata)."""
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    prov = {}
    for f in t.schema:
        if f.metadata and b"provenance" in f.metadata:
            prov[f.name] = _prov_from_dict(json.loads(f.metadata[b"provenance"]))
    return t.to_pandas(), prov


_NOT_ANALYSIS_FIX = "Run `congruence analyze SESSION --out FOLDER` first and pass FOLDER."


def read(path: str | os.PathLike[str]) -> TurnTable:
    """Read one analysis: a folder holding ``turns.parquet`` (or only ``turns.csv``), or a
    Parquet / CSV turn table file (its folder's ``summary.json`` is read if there is one).

    Provenance comes from the Parquet field metadata, completed from ``summary.json`` (a CSV has
    only the latter). A missing or damaged summary is a ``problem``, not an error; a path that is
    not an analysis is a :class:`~congruence.errors.CongruenceError` saying what to pass.
    """
    p = Path(path)
    if p.is_dir():
        root = p
        table_path = p / TABLE_FILE if (p / TABLE_FILE).is_file() else p / CSV_FILE
        if not table_path.is_file():
            raise CongruenceError(
                f"{p} has no {TABLE_FILE}, so it is not an analysis output folder.", _NOT_ANALYSIS_FIX
            )
    elif p.is_file():
        root, table_path = p.parent, p
    elif p.suffix:
        raise CongruenceError(f"No turn table at {p}.", "Check the path.")
    else:
        raise CongruenceError(f"No folder at {p}.", "Pass the output folder of `congruence analyze`.")
    suffix = table_path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table, provenance = load_table(table_path)
        elif suffix in (".csv", ".tsv"):
            table, provenance = pd.read_csv(table_path, sep="\t" if suffix == ".tsv" else ","), {}
        else:
            raise CongruenceError(
                f"{table_path} is not a turn table ({suffix or 'no suffix'}).",
                f"Pass an analysis folder, a {TABLE_FILE} or a {CSV_FILE}.",
            )
    except CongruenceError:
        raise
    except Exception as exc:  # pyarrow and pandas raise several types for a damaged file
        raise CongruenceError(
            f"{table_path} cannot be read ({exc.__class__.__name__}: {exc}).",
            "Re-run `congruence analyze` to rewrite it.",
        ) from exc
    problems: list[str] = []
    summary: dict[str, Any] = {}
    summary_path = root / SUMMARY_FILE
    if summary_path.is_file():
        try:
            loaded = json.loads(summary_path.read_text(encoding="utf-8"))
            summary = loaded if isinstance(loaded, dict) else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"summary.json cannot be read ({exc}); session details and warnings are missing.")
    else:
        problems.append("summary.json is missing; session details and warnings are missing.")
    # the summary describes every column; the Parquet metadata wins where both exist
    for col, d in (summary.get("provenance") or {}).items():
        if col not in provenance and isinstance(d, dict) and "estimator" in d and "kind" in d:
            provenance[col] = _prov_from_dict(d)
    return TurnTable(root=root, table=table, provenance=provenance, summary=summary, problems=problems)


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table from CSV, TSV, JSON (records), JSON Lines or Parquet, chosen by suffix, as a DataFrame.

    For the stages that take any table (responses, ratings). A folder written by ``congruence
    analyze`` stands for its ``turns.parquet``; a Parquet file is read with :func:`read`, so the
    columns' provenance is kept in ``df.attrs["provenance"]`` (column -> ``Provenance.as_dict()``,
    so the frame can still be written to Parquet). Unreadable or
    unknown files are a :class:`~congruence.errors.CongruenceError` that names the file.
    """
    p = Path(path)
    if p.is_dir() and (p / TABLE_FILE).is_file():
        p = p / TABLE_FILE
    if not p.is_file():
        raise CongruenceError(f"Table not found: {p}.", "Check the path (a table or an analysis folder).")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        analysis = read(p)
        # plain dicts: pandas writes ``attrs`` into Parquet metadata as JSON
        analysis.table.attrs["provenance"] = {c: v.as_dict() for c, v in analysis.provenance.items()}
        return analysis.table
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
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


# ------------------------------------------------------------------------------ discover


def read_corpus_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """A corpus folder's :data:`CORPUS_FILE`; ``sessions`` maps each session id to its record
    (``status`` among them). A list of records with ``session_id`` is accepted too."""
    path = Path(root) / CORPUS_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CongruenceError(f"{path} cannot be read ({exc}).", "Re-run the corpus analysis.") from None
    if not isinstance(manifest, dict):
        raise CongruenceError(
            f"{path} is not a corpus manifest (a JSON object).", "Re-run the corpus analysis."
        )
    sessions = manifest.get("sessions") or {}
    if isinstance(sessions, list):
        sessions = {str(s.get("session_id")): s for s in sessions if isinstance(s, dict)}
    manifest["sessions"] = {
        str(k): (v if isinstance(v, dict) else {"status": v}) for k, v in sessions.items()
    }
    return manifest


def is_corpus(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / CORPUS_FILE).is_file()


def discover(path: str | os.PathLike[str]) -> list[Path]:
    """The analyses a path stands for, each a folder or a table file that :func:`read` accepts.

    - an analysis folder (holding ``turns.parquet`` or ``turns.csv``): itself;
    - a turn table file (``turns.parquet``, ``.csv``): itself;
    - a corpus folder (:data:`CORPUS_FILE`): its finished session folders under ``sessions/``
      (status ``"done"`` in the manifest; every session folder with a ``turns.parquet`` when the
      manifest records no status), sorted by session id;
    - any other folder: every analysis folder below it (so a folder of sessions works).

    A path that holds no analysis is a :class:`~congruence.errors.CongruenceError`.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise CongruenceError(f"No folder or turn table at {p}.", "Check the path.")
    if (p / TABLE_FILE).is_file() or (p / CSV_FILE).is_file():
        return [p]
    if is_corpus(p):
        manifest = read_corpus_manifest(p)
        sessions = manifest["sessions"]
        has_status = any("status" in rec for rec in sessions.values())
        found = []
        for folder in sorted((p / CORPUS_SESSIONS).glob("*/")):
            rec = sessions.get(folder.name, {})
            done = rec.get("status") == DONE if has_status else True
            if done and (folder / TABLE_FILE).is_file():
                found.append(folder)
        return found
    found = sorted({f.parent for f in p.rglob(TABLE_FILE)})
    csv_only = sorted({f.parent for f in p.rglob(CSV_FILE)} - set(found))
    if not found and not csv_only:
        raise CongruenceError(
            f"{p} holds no analysis ({TABLE_FILE}, {CSV_FILE} or {CORPUS_FILE}).", _NOT_ANALYSIS_FIX
        )
    return sorted(found + csv_only)


# ------------------------------------------------------------------------------ corpus dataset


def corpus_partition(root: str | os.PathLike[str], session_id: str) -> Path:
    """The folder of one session's rows in a corpus's Parquet dataset: ``turns/session_id=<id>/``
    (Hive partitioning; the id URI-escaped as pyarrow's ``partitioning="hive"`` expects)."""
    from urllib.parse import quote

    return Path(root) / CORPUS_DATASET / f"session_id={quote(str(session_id), safe='')}"


def write_corpus_partition(
    root: str | os.PathLike[str], table: pd.DataFrame, provenance: Mapping[str, Provenance]
) -> Path:
    """Write one session's turn table into the corpus dataset (atomically, provenance in the field
    metadata as in ``turns.parquet``); the ``session_id`` column lives in the folder name."""
    ids = table["session_id"].astype(str).unique()
    if len(ids) != 1:
        raise ValueError(f"a corpus partition holds one session, got {len(ids)}")
    path = corpus_partition(root, ids[0]) / "part-0.parquet"
    write_parquet(path, table.drop(columns=["session_id"]), provenance)
    return path


def read_corpus(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Provenance]]:
    """The turn tables of a corpus's finished sessions as one table (sessions sorted by id; columns
    in session-table order) and the provenance of every column, from the Parquet dataset under
    ``turns/``. Other readers: ``pyarrow.dataset.dataset(root / "turns", partitioning="hive")``.
    """
    from urllib.parse import unquote

    base = Path(root) / CORPUS_DATASET
    parts = (
        sorted((unquote(d.name.split("=", 1)[1]), d) for d in base.glob("session_id=*") if d.is_dir())
        if base.is_dir()
        else []
    )
    frames: list[pd.DataFrame] = []
    provenance: dict[str, Provenance] = {}
    for sid, folder in parts:
        for f in sorted(folder.glob("*.parquet")):
            t, prov = load_table(f)
            t.insert(0, "session_id", sid)
            frames.append(t)
            provenance.update(prov)
    if not frames:
        raise CongruenceError(
            f"{base} holds no finished session.", "Run `congruence corpus analyze SOURCE --out FOLDER` first."
        )
    return pd.concat(frames, ignore_index=True), provenance


def read_all(paths: Iterable[str | os.PathLike[str]]) -> list[TurnTable]:
    """Every analysis the paths stand for (see :func:`discover`), read."""
    return [read(a) for p in paths for a in discover(p)]


__all__ = [
    "BASE_PROVENANCE",
    "CORPUS_DATASET",
    "CORPUS_FILE",
    "CORPUS_SESSIONS",
    "CSV_FILE",
    "FER_CLASSES",
    "INDEX_COLUMNS",
    "MISSING_MEDIA_STATUS",
    "MODALITIES",
    "NRC_CATEGORIES",
    "PAIR_MODALITIES",
    "PAIR_NAMES",
    "SUMMARY_FILE",
    "TABLE_FILE",
    "TurnTable",
    "assemble_provenance",
    "corpus_partition",
    "discover",
    "is_corpus",
    "load_table",
    "missing_values",
    "read",
    "read_all",
    "read_corpus",
    "read_corpus_manifest",
    "read_table",
    "status_column",
    "undeclared",
    "write",
    "write_corpus_partition",
    "write_parquet",
]
