"""The sessions of a corpus: from a folder of recordings and transcripts, or from a manifest.

A folder: each media file (video or audio) with the transcript of the same stem beside it is one
session, a transcript without media a text-only session; the session id is the stem. A manifest:
a CSV or JSON Lines file with one session per row, columns ``media``, ``transcript``,
``session_id`` and optional ``roles`` (``"S1=client,S2=counsellor"``); relative paths are read
from the manifest's folder, and a row with media but an empty transcript is transcribed (ASR).

What cannot be a session (a media file without transcript, a session id used twice, a manifest row
that cannot be read) is a :class:`Problem` with the reason, never an exception: the rest of the
corpus still runs.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from congruence.errors import CongruenceError
from congruence.ingest.media import AUDIO_EXTS, VIDEO_EXTS
from congruence.ingest.transcripts import TRANSCRIPT_EXTS

MEDIA_EXTS = frozenset(VIDEO_EXTS | AUDIO_EXTS)
MANIFEST_EXTS = frozenset({".csv", ".jsonl"})
#: a session id names a folder and a Parquet partition: no path separators, no leading dot
_SAFE_ID = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]*$")


@dataclass(frozen=True)
class SessionSource:
    """One session of the corpus: its id and inputs (``media`` None: text only; ``transcript``
    None: ASR)."""

    session_id: str
    media: str | None
    transcript: str | None
    roles: str | None = None
    origin: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "origin"}


@dataclass(frozen=True)
class Problem:
    """An input that is not a session, with where it came from and what to do."""

    origin: str
    reason: str
    session_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_uri(path: str) -> bool:
    """Whether a manifest path names a ``pyarrow.fs`` location (``s3://``, ``gs://``, ``hdfs://``,
    ``file://``) rather than a local or shared-filesystem path.

    >>> is_uri("s3://bucket/a.mp4"), is_uri("/data/a.mp4"), is_uri("C:/data/a.mp4")
    (True, False, False)
    """
    scheme, sep, _ = path.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.isalnum()


def load_sources(
    source: str | Path, *, exclude: Path | None = None
) -> tuple[list[SessionSource], list[Problem]]:
    """The sessions ``source`` (a folder or a ``.csv`` / ``.jsonl`` manifest) stands for, and the
    inputs that are not sessions. Duplicate session ids are refused (every copy: which one was
    meant is not ours to guess). ``exclude``: a folder not to scan (the corpus output)."""
    p = Path(source).resolve()  # workers may run elsewhere (another cwd, another node)
    if p.is_dir():
        sessions, problems = _from_folder(p, exclude)
    elif p.is_file():
        if p.suffix.lower() not in MANIFEST_EXTS:
            raise CongruenceError(
                f"{p} is neither a folder nor a manifest (.csv or .jsonl).",
                "Pass a folder of recordings and transcripts, or a manifest with columns "
                "media, transcript, session_id (optional roles).",
            )
        sessions, problems = _from_manifest(p)
    else:
        raise CongruenceError(f"No folder or manifest at {p}.", "Check the path.")
    by_id: dict[str, list[SessionSource]] = defaultdict(list)
    for s in sessions:
        by_id[s.session_id].append(s)
    unique = []
    for sid, group in by_id.items():
        if len(group) > 1:
            problems.append(
                Problem(
                    ", ".join(g.origin for g in group),
                    f"session id {sid!r} is used {len(group)} times; none of them is analysed. "
                    "Give each session its own id (rename the files, or set session_id in a manifest).",
                    sid,
                )
            )
        else:
            unique.append(group[0])
    if not unique and not problems:
        raise CongruenceError(
            f"{p} holds no session (no media file or transcript).",
            f"Put recordings ({', '.join(sorted(MEDIA_EXTS))}) with transcripts of the same name "
            "in the folder, or pass a manifest.",
        )
    return sorted(unique, key=lambda s: s.session_id), problems


def _from_folder(root: Path, exclude: Path | None) -> tuple[list[SessionSource], list[Problem]]:
    skip = exclude.resolve() if exclude is not None else None
    files = [
        f
        for f in sorted(root.rglob("*"))
        if f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(root).parts)
        and (skip is None or not f.resolve().is_relative_to(skip))
    ]
    by_stem: dict[Path, dict[str, list[Path]]] = defaultdict(lambda: {"media": [], "transcript": []})
    for f in files:
        ext = f.suffix.lower()
        if ext in MEDIA_EXTS:
            by_stem[f.with_suffix("")]["media"].append(f)
        elif ext in TRANSCRIPT_EXTS:
            by_stem[f.with_suffix("")]["transcript"].append(f)
    sessions: list[SessionSource] = []
    problems: list[Problem] = []
    for stem, found in sorted(by_stem.items()):
        sid, origin = stem.name, str(stem.relative_to(root))
        media, transcripts = found["media"], found["transcript"]
        if len(media) > 1 or len(transcripts) > 1:
            names = ", ".join(f.name for f in media + transcripts)
            problems.append(
                Problem(origin, f"several media files or transcripts share the name {sid!r} ({names}).", sid)
            )
        elif media and not transcripts:
            problems.append(
                Problem(
                    str(media[0].relative_to(root)),
                    f"no transcript for {media[0].name}: put {sid}.srt (or .vtt, .csv, .json) beside it, "
                    "or list it in a manifest with an empty transcript to transcribe it (ASR).",
                    sid,
                )
            )
        else:
            sessions.append(
                SessionSource(
                    sid,
                    str(media[0]) if media else None,
                    str(transcripts[0]),
                    origin=str((media or transcripts)[0].relative_to(root)),
                )
            )
    return sessions, problems


def _rows(path: Path) -> list[tuple[int, Any]]:
    """(line number, row) of a manifest; a row is a dict, or the reason it is not one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CongruenceError(
            f"The manifest {path} cannot be read ({exc}).", "Save it as UTF-8 text."
        ) from None
    if path.suffix.lower() == ".jsonl":
        out: list[tuple[int, Any]] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((n, f"not valid JSON ({exc.msg} at column {exc.colno})"))
                continue
            out.append((n, row if isinstance(row, dict) else "not a JSON object"))
        return out
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"media", "transcript"} & {f.strip() for f in reader.fieldnames}:
        raise CongruenceError(
            f"The manifest {path} has no media or transcript column (header: {reader.fieldnames}).",
            "Its first line must name the columns: media, transcript, session_id, roles.",
        )
    rows: list[tuple[int, Any]] = []
    for row in reader:
        n = reader.line_num
        if None in row:  # more cells than header fields
            rows.append((n, f"{len(row) - 1 + len(row[None])} cells for {len(reader.fieldnames)} columns"))
        else:
            rows.append((n, {k.strip(): v for k, v in row.items() if k is not None}))
    return rows


def _from_manifest(path: Path) -> tuple[list[SessionSource], list[Problem]]:
    base = path.parent
    sessions: list[SessionSource] = []
    problems: list[Problem] = []

    def resolve(value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if is_uri(str(value).strip()):
            return str(value).strip()
        p = Path(str(value).strip()).expanduser()
        return str(p if p.is_absolute() else base / p)

    for n, row in _rows(path):
        origin = f"{path.name} line {n}"
        if isinstance(row, str):
            problems.append(Problem(origin, f"unreadable row: {row}."))
            continue
        media, transcript = resolve(row.get("media")), resolve(row.get("transcript"))
        sid_raw = row.get("session_id")
        sid = str(sid_raw).strip() if sid_raw not in (None, "") else None
        named = media if media is not None else transcript
        if named is None:
            problems.append(Problem(origin, "the row names neither media nor transcript.", sid))
            continue
        sid = sid or Path(named.split("://", 1)[-1]).stem
        # object-store paths are checked by the worker that fetches them (it holds the credentials)
        missing = [
            f for f in (media, transcript) if f is not None and not is_uri(f) and not Path(f).is_file()
        ]
        if missing:
            problems.append(Problem(origin, f"file not found: {', '.join(missing)}.", sid))
            continue
        if not _SAFE_ID.match(sid):
            problems.append(
                Problem(
                    origin, f"session id {sid!r} cannot name a folder (no '/', '\\' or leading '.').", sid
                )
            )
            continue
        roles = row.get("roles")
        sessions.append(
            SessionSource(
                sid,
                media,
                transcript,
                str(roles).strip() if roles not in (None, "") else None,
                origin,
            )
        )
    return sessions, problems
