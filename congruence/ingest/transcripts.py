"""Transcript readers: SRT, WebVTT, CSV/TSV (speaker, start, end, utterance) and JSON.

All readers return :class:`~congruence.schema.Turn` objects in file order with times in seconds.
Speaker labels come from the format's own field (CSV/JSON column, WebVTT ``<v Name>``) or from a
``Name: text`` prefix in SRT/WebVTT cues; a cue without one gets speaker ``"?"``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from congruence.errors import TranscriptError
from congruence.schema import Turn

UNKNOWN_SPEAKER = "?"

_TIME = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)\s*$")
_SPEAKER_PREFIX = re.compile(r"^\s*(?:\[([^\]]{1,40})\]|([A-Z][\w .'-]{0,30}?)\s*:)\s+(.*)$", re.S)
_TAG = re.compile(r"<[^>]+>")


def parse_time(value: str | float | int) -> float:
    """Seconds from ``HH:MM:SS(.mmm)``, ``MM:SS(,mmm)``, or a plain number of seconds.

    >>> parse_time("00:01:17"), parse_time("01:02.5"), parse_time("3,25"), parse_time(4)
    (77.0, 62.5, 3.25, 4.0)
    """
    if isinstance(value, int | float):
        if value != value:
            raise ValueError(f"invalid time {value!r}")
        if value < 0:  # its own message: "cannot read -1.0" misled users (issue 13)
            raise ValueError(f"negative time {value!r}")
        return float(value)
    s = str(value).strip()
    m = _TIME.match(s)
    if m:
        h, mnt, sec = m.groups()
        total = int(h or 0) * 3600 + int(mnt) * 60 + float(sec.replace(",", "."))
    else:
        total = float(s.replace(",", "."))
    if total != total:
        raise ValueError(f"invalid time {value!r}")
    if total < 0:
        raise ValueError(f"negative time {value!r}")
    return total


def decode_text(raw: bytes, name: str = "transcript") -> tuple[str, list[str]]:
    """Decode transcript bytes: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252.

    Returns the text and warnings (a legacy encoding is decoded, and said so).
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), []
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise TranscriptError(
                f"{name} is not UTF-8 (byte {exc.start}) nor Windows-1252 text.",
                "Save it as UTF-8, e.g. `iconv -f <encoding> -t UTF-8 in.srt > out.srt`.",
            ) from exc
        return text, [f"{name} is not UTF-8; it was read as Windows-1252. Save it as UTF-8 to be sure."]


def _split_speaker(text: str) -> tuple[str, str]:
    m = _SPEAKER_PREFIX.match(text)
    if m:
        return (m.group(1) or m.group(2)).strip(), m.group(3).strip()
    return UNKNOWN_SPEAKER, text.strip()


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", _TAG.sub("", text)).strip()


def _blocks(text: str) -> list[list[str]]:
    return [
        b.splitlines() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    ]


def _cue_times(line: str, where: str) -> tuple[float, float]:
    left, _, right = line.partition("-->")
    try:
        start = parse_time(left)
        end = parse_time(right.strip().split()[0])
    except (ValueError, IndexError) as exc:
        raise TranscriptError(
            f"Bad cue time line {line.strip()!r} in {where}.", "Use HH:MM:SS,mmm --> HH:MM:SS,mmm."
        ) from exc
    return start, end


def parse_srt(text: str) -> list[Turn]:
    """SubRip: numbered blocks of ``start --> end`` and text lines."""
    turns: list[Turn] = []
    for block in _blocks(text):
        idx = next((i for i, ln in enumerate(block) if "-->" in ln), None)
        if idx is None:
            continue
        start, end = _cue_times(block[idx], "SRT")
        speaker, words = _split_speaker(" ".join(block[idx + 1 :]))
        turns.append(Turn(index=len(turns), speaker=speaker, text=_clean(words), start=start, end=end))
    if not turns:
        raise TranscriptError(
            "No subtitle cues found in the SRT file.", "Check that it has 'start --> end' lines."
        )
    return turns


def parse_vtt(text: str) -> list[Turn]:
    """WebVTT: cues with optional ids and settings; speakers from ``<v Name>`` voice tags."""
    body = text.lstrip("\ufeff")
    if not body.startswith("WEBVTT"):
        raise TranscriptError("A WebVTT file must start with 'WEBVTT'.", "Add the header or save it as .srt.")
    turns: list[Turn] = []
    for block in _blocks(body)[1:]:
        if not block or block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        idx = next((i for i, ln in enumerate(block) if "-->" in ln), None)
        if idx is None:
            continue
        start, end = _cue_times(block[idx], "WebVTT")
        raw = " ".join(block[idx + 1 :])
        voice = re.search(r"<v(?:\.[\w.-]+)?\s+([^>]+)>", raw)
        if voice:
            speaker, words = voice.group(1).strip(), _clean(raw)
        else:
            speaker, words = _split_speaker(_clean(raw))
        turns.append(Turn(index=len(turns), speaker=speaker, text=words, start=start, end=end))
    if not turns:
        raise TranscriptError("No cues found in the WebVTT file.", "Check that it has 'start --> end' lines.")
    return turns


_COLUMNS = {
    "speaker": ("speaker", "speaker_label", "role", "name", "who"),
    "start": ("start", "start_time", "starttime", "begin", "start_s", "start_sec", "from"),
    "end": ("end", "end_time", "endtime", "stop", "end_s", "end_sec", "to"),
    "text": ("utterance", "text", "transcript", "content", "sentence"),
}


def _norm(col: str) -> str:
    return re.sub(r"[^a-z_]", "", col.strip().lower().replace(" ", "_"))


def _map_columns(header: list[str], where: str) -> dict[str, str]:
    normed = {_norm(c): c for c in header}
    found: dict[str, str] = {}
    for key, synonyms in _COLUMNS.items():
        for s in synonyms:
            if s in normed:
                found[key] = normed[s]
                break
    missing = [k for k in ("speaker", "text") if k not in found]
    if missing:
        raise TranscriptError(
            f"{where} has no {' or '.join('utterance' if m == 'text' else m for m in missing)} column "
            f"(columns: {', '.join(header)}).",
            "Use a header row with Speaker, Start Time, End Time, Utterance.",
        )
    return found


def _records_to_turns(records: list[dict], cols: dict[str, str], where: str) -> list[Turn]:
    turns: list[Turn] = []
    for n, rec in enumerate(records, start=1):
        times: list[float | None] = []
        for key in ("start", "end"):
            raw = rec.get(cols[key]) if key in cols else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                times.append(None)
                continue
            try:
                times.append(parse_time(raw))
            except ValueError as exc:
                if str(exc).startswith("negative"):
                    raise TranscriptError(
                        f"Row {n} of {where}: the {key} time {raw!r} is negative.",
                        "Times count from the start of the recording: write 0 or more seconds "
                        "(12.5) or HH:MM:SS(.mmm).",
                    ) from exc
                raise TranscriptError(
                    f"Row {n} of {where}: cannot read {key} time {raw!r}.",
                    "Write times as seconds (12.5) or HH:MM:SS(.mmm).",
                ) from exc
        speaker = str(rec.get(cols["speaker"]) or "").strip() or UNKNOWN_SPEAKER
        text = " ".join(str(rec.get(cols["text"]) or "").split())
        turns.append(Turn(index=len(turns), speaker=speaker, text=text, start=times[0], end=times[1]))
    if not turns:
        raise TranscriptError(f"{where} has a header but no rows.", "Add one row per utterance.")
    return turns


def parse_table(text: str, *, delimiter: str | None = None) -> list[Turn]:
    """CSV or TSV with a header row naming speaker, start, end and utterance columns.

    The layout of Figure 2 of the interventions paper (``Speaker, Start Time, End Time,
    Utterance`` with ``HH:MM:SS`` times) is read as is.
    """
    if delimiter is None:
        first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
        delimiter = "\t" if first.count("\t") >= first.count(",") and "\t" in first else ","
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    if not reader.fieldnames:
        raise TranscriptError("The transcript table is empty.", "Add a header row and one row per utterance.")
    cols = _map_columns(list(reader.fieldnames), "the transcript table")
    return _records_to_turns(list(reader), cols, "the transcript table")


def parse_json(text: str) -> list[Turn]:
    """JSON: a list of turns, or an object with a ``turns``/``segments``/``utterances`` list.

    Each item needs a speaker and a text (``utterance``/``text``), and may have start/end.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(
            f"Invalid JSON at line {exc.lineno}: {exc.msg}.", "Fix the JSON syntax."
        ) from exc
    if isinstance(data, dict):
        data = next(
            (data[k] for k in ("turns", "segments", "utterances") if isinstance(data.get(k), list)), None
        )
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise TranscriptError(
            "JSON transcript must be a list of objects (or have a 'turns' list).",
            'Write [{"speaker": "Client", "start": 0.0, "end": 2.5, "utterance": "..."}].',
        )
    header = sorted({k for item in data for k in item})
    cols = _map_columns(header, "the JSON transcript")
    return _records_to_turns(data, cols, "the JSON transcript")


_READERS: dict[str, Callable[[str], list[Turn]]] = {
    ".srt": parse_srt,
    ".vtt": parse_vtt,
    ".csv": lambda t: parse_table(t, delimiter=","),
    ".tsv": lambda t: parse_table(t, delimiter="\t"),
    ".txt": parse_table,
    ".json": parse_json,
}
#: Suffixes read as transcripts (a session passed as one of these is analysed text-only).
TRANSCRIPT_EXTS: frozenset[str] = frozenset(_READERS)


def read_transcript(path: str | os.PathLike[str]) -> tuple[list[Turn], list[str]]:
    """Read a transcript file by its extension; returns turns and warnings."""
    p = Path(path)
    if not p.exists():
        raise TranscriptError(f"Transcript not found: {p}.", "Check the path.")
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise TranscriptError(
            f"Unknown transcript format '{p.suffix}'.", f"Use one of: {', '.join(sorted(_READERS))}."
        )
    text, warnings = decode_text(p.read_bytes(), p.name)
    if not text.strip():
        raise TranscriptError(f"Transcript {p.name} is empty.", "Pass the transcript of this session.")
    return reader(text), warnings
