"""Reading what the app imports: analysed sessions and generated responses.

**Analysed sessions** are ``congruence analyze`` output folders (``turns.parquet``,
``summary.json``, ``frames/turnNNNN.png``), given as a folder on the server (CLI) or as a zip of
that folder (upload). Only those files are read; a frame path from the table must stay inside
the folder, be a regular file and be a PNG or JPEG, so a crafted table cannot make the server read
another file. Zip entries with absolute paths or ``..`` are refused, and the uncompressed size is
bounded (zip bombs).

**Responses to rate** (one per line / row)::

    {"session_id": "demo", "turn_index": 1, "system": "gpt-4o/dissonance",
     "technique": "Reflection", "response": "It sounds like ..."}

as JSONL, CSV or Parquet. ``response_technique`` / ``response_text`` (the columns of
``congruence respond``) are accepted for ``technique`` / ``response``, and the batch JSONL of
``congruence respond --out`` (records ``{"key": "demo#1", "row": {...}}``) is read as well. A
missing ``system`` comes from the import option, else from ``response_strategy`` +
``response_backend``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from congruence.app.disagreement import disagreement, disagreement_total
from congruence.app.schemas import is_unicode
from congruence.errors import CongruenceError

#: Turn-table columns kept as the "model estimates" of a pair (shown only when configured).
ESTIMATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("text_valence", "Words: valence"),
    ("text_arousal", "Words: arousal"),
    ("text_dominance", "Words: dominance"),
    ("face_valence_key", "Face at the key frame: valence"),
    ("face_arousal_key", "Face at the key frame: arousal"),
    ("face_expression_key", "Face at the key frame: expression"),
    ("face_valence", "Face over the turn: valence"),
    ("face_arousal", "Face over the turn: arousal"),
    ("voice_valence", "Voice: valence"),
    ("voice_arousal", "Voice: arousal"),
    ("face_engagement", "Engagement (visible cues)"),
    ("text_face_type", "Text-face: incongruence type"),
    ("text_face_score", "Text-face: mismatch score"),
    ("face_voice_type", "Face-voice: incongruence type"),
    ("face_voice_score", "Face-voice: mismatch score"),
    ("face_voice_dissonance", "Face-voice: dissonance (T = 0.5)"),
    ("text_voice_type", "Text-voice: incongruence type"),
    ("text_voice_score", "Text-voice: mismatch score"),
)
MAX_FRAME_BYTES = 16 * 1024 * 1024
#: Uncompressed bytes a session zip may expand to, as a multiple of the upload limit.
ZIP_EXPANSION = 8
IMAGE_MAGIC: dict[bytes, str] = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:#+-]{0,199}$")


class ImportRefused(CongruenceError):
    """Input that is refused as a whole (nothing of it is imported)."""


class UploadTooLarge(ImportRefused):
    """An upload whose content exceeds the limit once unpacked."""


@dataclass
class PairData:
    turn_index: int
    pair_index: int
    client_text: str
    counsellor_text: str | None
    start: float | None
    end: float | None
    frame: bytes | None
    frame_mime: str | None
    estimates: list[dict[str, Any]]
    disagreement: float | None
    disagreement_total: float | None


@dataclass
class SessionData:
    session_id: str
    turns: list[dict[str, Any]]
    pairs: list[PairData]
    provenance: dict[str, Any]
    source: str
    warnings: list[str] = field(default_factory=list)


def _clean(v: Any) -> Any:
    """A JSON-safe scalar: numpy types unwrapped, NaN/NA as None."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, int | float | str | bool):
        return v
    try:
        import pandas as pd

        if v is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def check_session_id(session_id: str) -> str:
    if not SESSION_ID_RE.fullmatch(session_id or ""):
        raise ImportRefused(
            f"'{session_id}' is not a usable session id.",
            "Use up to 200 letters, digits and . _ : # + -, starting with a letter or digit.",
        )
    return session_id


def image_mime(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` from the file's magic bytes; ``None`` for anything else."""
    return next((mime for magic, mime in IMAGE_MAGIC.items() if data.startswith(magic)), None)


def _read_frame(root: Path, rel: Any, warnings: list[str]) -> tuple[bytes | None, str | None]:
    rel = _clean(rel)
    if not rel:
        return None, None
    candidate = PurePosixPath(str(rel).replace("\\", "/"))
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ImportRefused(
            f"The turn table names a frame outside its folder: {rel!r}.",
            "Import the folder written by `congruence analyze` unchanged.",
        )
    path = (root / candidate).resolve()
    if not path.is_relative_to(root.resolve()):  # e.g. a symbolic link pointing elsewhere
        raise ImportRefused(f"The frame {rel!r} leads outside the session folder.", "Remove links.")
    if not path.is_file():
        warnings.append(f"frame {rel} is missing; the pair is shown without an image")
        return None, None
    if path.stat().st_size > MAX_FRAME_BYTES:
        raise ImportRefused(f"The frame {rel} is larger than {MAX_FRAME_BYTES} bytes.", "Use smaller frames.")
    data = path.read_bytes()
    mime = image_mime(data)
    if mime is None:
        raise ImportRefused(f"The frame {rel} is not a PNG or JPEG image.", "Re-run `congruence analyze`.")
    return data, mime


def read_analysed_session(folder: str | Path, *, session_id: str | None = None) -> SessionData:
    """Read an analysed-session folder into what the database stores (no database access).

    ``session_id`` overrides the id in the table (e.g. to import the same session twice).
    """
    from congruence.table import read

    root = Path(folder)
    table_path, summary_path = root / "turns.parquet", root / "summary.json"
    if not table_path.is_file() or not summary_path.is_file():
        raise ImportRefused(
            f"{root} is not an analysed session (turns.parquet and summary.json are needed).",
            "Run `congruence analyze` (or `congruence demo`) and import its output folder.",
        )
    try:
        analysis = read(root)
    except CongruenceError as exc:
        raise ImportRefused(f"Cannot read {root}: {exc.problem}", "Re-run `congruence analyze`.") from None
    if analysis.problems:
        raise ImportRefused(f"Cannot read {root}: {analysis.problems[0]}", "Re-run `congruence analyze`.")
    table, prov, summary = analysis.table, analysis.provenance, analysis.summary
    for col in ("session_id", "turn_index", "text"):
        if col not in table.columns:
            raise ImportRefused(f"turns.parquet has no '{col}' column.", "Re-run `congruence analyze`.")
    sid = check_session_id(session_id or str(summary.get("session_id") or table["session_id"].iloc[0]))
    warnings: list[str] = []
    turns = [
        {
            "turn_index": int(t["index"]),
            "speaker": str(t.get("speaker") or ""),
            "role": t.get("role"),
            "text": str(t.get("text") or ""),
            "start": _clean(t.get("start")),
            "end": _clean(t.get("end")),
        }
        for t in summary.get("turns", [])
    ]
    pairs: list[PairData] = []
    for pos, row in enumerate(table.to_dict("records")):
        if row.get("role") not in (None, "client") and _clean(row.get("role")) is not None:
            continue
        frame, mime = _read_frame(root, row.get("face_key_crop_file"), warnings)
        estimates = []
        for col, label in ESTIMATE_COLUMNS:
            if col not in row:
                continue
            p = prov.get(col)
            estimates.append(
                {
                    "column": col,
                    "label": label,
                    "value": _clean(row.get(col)),
                    "estimator": p.estimator if p else None,
                    "kind": str(p.kind) if p else None,
                }
            )
        pairs.append(
            PairData(
                turn_index=int(row["turn_index"]),
                pair_index=int(
                    _clean(row.get("pair_index")) if _clean(row.get("pair_index")) is not None else pos
                ),
                client_text=str(row.get("text") or ""),
                counsellor_text=_clean(row.get("counsellor_text")),
                start=_clean(row.get("start")),
                end=_clean(row.get("end")),
                frame=frame,
                frame_mime=mime,
                estimates=estimates,
                disagreement=disagreement(row),
                disagreement_total=disagreement_total(row),
            )
        )
    if not turns:  # an older summary without turns: the pairs alone give the transcript
        for p in pairs:
            turns.append(
                {
                    "turn_index": p.turn_index,
                    "speaker": "client",
                    "role": "client",
                    "text": p.client_text,
                    "start": p.start,
                    "end": p.end,
                }
            )
    provenance = {c: p.as_dict() for c, p in prov.items() if c in dict(ESTIMATE_COLUMNS)}
    return SessionData(sid, turns, pairs, provenance, source=root.name, warnings=warnings)


def _session_root(names: list[str]) -> str:
    """The folder inside the zip that holds turns.parquet (the zip root or one folder down)."""
    hits = [n for n in names if PurePosixPath(n).name == "turns.parquet" and len(PurePosixPath(n).parts) <= 2]
    if len(hits) != 1:
        raise ImportRefused(
            "The zip must hold exactly one turns.parquet (at its root or in one folder).",
            "Zip the output folder of `congruence analyze`.",
        )
    return str(PurePosixPath(hits[0]).parent) if len(PurePosixPath(hits[0]).parts) == 2 else ""


#: Entries extracted from an uploaded session zip (relative to the session folder); others are skipped.
ZIP_WANTED = re.compile(r"^(turns\.parquet|summary\.json|frames/[A-Za-z0-9_.-]+\.(png|jpg|jpeg))$")


@contextmanager
def unpacked_session_zip(data: bytes, *, max_bytes: int) -> Iterator[Path]:
    """Safely extract the session files of an uploaded zip into a temporary folder."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportRefused("The upload is not a zip file.", "Zip the analysed-session folder.") from None
    with zf, tempfile.TemporaryDirectory(prefix="congruence-import-") as tmp:
        infos = zf.infolist()
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise ImportRefused(
                    f"The zip entry {info.filename!r} points outside the folder (path traversal).",
                    "Zip the analysed-session folder itself, with relative paths.",
                )
        root = _session_root([i.filename for i in infos if not i.is_dir()])
        total = 0
        out = Path(tmp)
        for info in infos:
            if info.is_dir():
                continue
            rel = info.filename[len(root) + 1 :] if root else info.filename
            if not ZIP_WANTED.match(rel):
                continue
            total += info.file_size
            if total > max_bytes * ZIP_EXPANSION:
                raise UploadTooLarge(
                    "The zip expands to more than the upload limit allows.",
                    "Import large sessions with `congruence annotations import-session` on the server.",
                )
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                copied = 0
                while chunk := src.read(1 << 20):
                    copied += len(chunk)
                    if copied > info.file_size:  # the header lied about the size
                        raise UploadTooLarge(
                            "A zip entry is larger than its header says.", "Re-create the zip."
                        )
                    dst.write(chunk)
        yield out


# --------------------------------------------------------------------------------- responses
@dataclass
class ResponseRow:
    line: int
    session_id: str
    turn_index: int
    system: str
    technique: str | None
    text: str


def _rows_from_bytes(data: bytes, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        rows = []
        for i, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportRefused(f"Line {i} is not valid JSON ({exc.msg}).", "Fix the line.") from None
            except RecursionError:
                raise ImportRefused(f"Line {i} is nested too deeply.", "Write flat objects.") from None
            if not isinstance(rec, dict):
                raise ImportRefused(f"Line {i} is not a JSON object.", "Write one object per line.")
            if isinstance(rec.get("row"), dict) and "key" in rec:  # `congruence respond --out` record
                sid, _, turn = str(rec["key"]).rpartition("#")
                rec = {"session_id": sid, "turn_index": turn, **rec["row"]}
            rec["_line"] = i
            rows.append(rec)
        return rows
    if fmt == "csv":
        text = data.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        try:
            return [{**r, "_line": i} for i, r in enumerate(reader, 2)]
        except csv.Error as exc:
            raise ImportRefused(f"The CSV file cannot be read ({exc}).", "Save it as plain CSV.") from None
    if fmt == "parquet":
        import pandas as pd

        try:
            df = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ImportRefused(
                f"The file is not a readable Parquet table ({type(exc).__name__}).", "Export it again."
            ) from None
        return [{**r, "_line": i} for i, r in enumerate(df.to_dict("records"), 1)]
    raise ImportRefused(f"Unknown response file format '{fmt}'.", "Use jsonl, csv or parquet.")


def response_format(name: str) -> str:
    suffix = Path(name).suffix.lower()
    fmt = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(
        suffix
    )
    if fmt is None:
        raise ImportRefused(f"Cannot tell the format of '{name}'.", "Use a .jsonl, .csv or .parquet file.")
    return fmt


def parse_responses(data: bytes, fmt: str, *, system: str | None = None) -> list[ResponseRow]:
    """Validate a response file; every problem is reported with its line, and nothing is kept."""
    try:
        rows = _rows_from_bytes(data, fmt)
    except UnicodeDecodeError:
        raise ImportRefused("The response file is not UTF-8 text.", "Save it as UTF-8.") from None
    out, problems = [], []
    for r in rows:
        line = r.pop("_line")

        def get(*keys: str, r: dict[str, Any] = r) -> Any:
            return next((_clean(r[k]) for k in keys if k in r and _clean(r[k]) not in (None, "")), None)

        sid, turn = get("session_id"), get("turn_index", "turn")
        text = get("response", "response_text")
        sys_name = get("system") or system
        if sys_name is None and get("response_strategy"):
            sys_name = "/".join(str(x) for x in (get("response_strategy"), get("response_backend")) if x)
        missing = [
            n
            for n, v in (("session_id", sid), ("turn_index", turn), ("response", text), ("system", sys_name))
            if v is None
        ]
        if missing:
            problems.append(f"line {line}: missing {', '.join(missing)}")
            continue
        try:
            turn_i = int(float(turn))
            if float(turn) != turn_i:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"line {line}: turn_index {turn!r} is not a whole number")
            continue
        if len(str(sys_name)) > 200:
            problems.append(f"line {line}: system name longer than 200 characters")
            continue
        texts = (sid, sys_name, text, get("technique", "response_technique"))
        if not all(is_unicode(str(x)) for x in texts if x is not None):
            problems.append(f"line {line}: text with a lone UTF-16 surrogate (not valid Unicode)")
            continue
        out.append(
            ResponseRow(
                line, str(sid), turn_i, str(sys_name), get("technique", "response_technique"), str(text)
            )
        )
    if problems:
        raise ImportRefused(
            "The response file has problems: "
            + "; ".join(problems[:20])
            + (" ..." if len(problems) > 20 else ""),
            "Give each row session_id, turn_index, system (or --system), technique and response.",
        )
    if not out:
        raise ImportRefused("The response file holds no responses.", "Check the file.")
    return out
