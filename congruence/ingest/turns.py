"""Turn clean-up: time checks against the media, merging, roles and dialogue pairs."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from congruence.errors import TranscriptError
from congruence.schema import Role, Turn

_CLIENT_NAMES = re.compile(r"client|patient|participant|interviewee|speaker_?b\b|^b$", re.I)
_COUNSELLOR_NAMES = re.compile(r"counsel+or|counselor|therapist|interviewer|psycholog|doctor|^dr\b|^a$", re.I)


def _fmt(t: float) -> str:
    return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:05.2f}"


def check_times(
    turns: Sequence[Turn], duration: float | None, *, tolerance: float = 1.0
) -> tuple[list[Turn], list[str]]:
    """Validate and tidy turn times against the media duration.

    - a turn whose end precedes its start is an error (the fix names the row);
    - turns that start after the media ends mean the transcript belongs to another recording or
      uses another time unit: an error, unless only a few trailing seconds are affected;
    - a turn ending past the media end is clipped, with a warning;
    - turns are returned sorted by start time (stable), reindexed.
    """
    warnings: list[str] = []
    out: list[Turn] = []
    for t in turns:
        if t.start is not None and t.end is not None and t.end < t.start:
            raise TranscriptError(
                f"Turn {t.index + 1} ({t.speaker}) ends at {_fmt(t.end)}, before its start {_fmt(t.start)}.",
                "Fix the start/end of that row.",
            )
        out.append(t)
    if duration is not None:
        past = [t for t in out if t.start is not None and t.start >= duration + tolerance]
        if past:
            last = max(t.end or t.start or 0.0 for t in out)
            raise TranscriptError(
                f"{len(past)} transcript turn(s) start after the media ends: the transcript runs to "
                f"{_fmt(last)} but the media is {_fmt(duration)} long.",
                "Pass the transcript that belongs to this recording, or check its time unit "
                "(seconds vs milliseconds) and offset.",
            )
        clipped = 0
        for i, t in enumerate(out):
            if t.end is not None and t.end > duration:
                out[i] = replace(
                    t, end=duration, start=min(t.start, duration) if t.start is not None else None
                )
                clipped += 1
        if clipped:
            warnings.append(
                f"{clipped} turn(s) ended after the media end ({_fmt(duration)}) and were clipped."
            )
    if any(t.start is not None for t in out):
        out.sort(key=lambda t: t.start if t.start is not None else float("inf"))
    overlaps = sum(
        1
        for a, b in itertools.pairwise(out)
        if a.end is not None and b.start is not None and b.start < a.end - 0.05 and a.speaker != b.speaker
    )
    if overlaps:
        warnings.append(
            f"{overlaps} pair(s) of turns by different speakers overlap; each keeps its own span, "
            "so voice features of overlapping stretches include both voices."
        )
    empty = sum(1 for t in out if not t.text.strip())
    if empty:
        warnings.append(f"{empty} turn(s) have no words; their text features are missing.")
    return [replace(t, index=i) for i, t in enumerate(out)], warnings


def merge_consecutive(turns: Sequence[Turn], *, max_gap: float | None = None) -> list[Turn]:
    """Merge consecutive turns by the same speaker into one turn.

    ``max_gap`` (seconds) keeps same-speaker turns apart when the pause between them is longer;
    ``None`` merges regardless of the pause. Text is joined with a space; words concatenated.
    """
    merged: list[Turn] = []
    for t in turns:
        prev = merged[-1] if merged else None
        gap_ok = (
            max_gap is None
            or prev is None
            or prev.end is None
            or t.start is None
            or t.start - prev.end <= max_gap
        )
        if prev is not None and prev.speaker == t.speaker and gap_ok:
            merged[-1] = replace(
                prev,
                text=" ".join(x for x in (prev.text, t.text) if x.strip()),
                start=prev.start if prev.start is not None else t.start,
                end=max(x for x in (prev.end, t.end) if x is not None)
                if (prev.end or t.end) is not None
                else None,
                words=[*prev.words, *t.words],
                role=prev.role or t.role,
            )
        else:
            merged.append(replace(t, index=len(merged)))
    return merged


def roles_from_names(speakers: Sequence[str]) -> dict[str, Role]:
    """Roles read from speaker names ("Therapist", "Patient", "Client", "Counsellor", ...)."""
    roles: dict[str, Role] = {}
    for s in speakers:
        if _CLIENT_NAMES.search(s):
            roles[s] = Role.CLIENT
        elif _COUNSELLOR_NAMES.search(s):
            roles[s] = Role.COUNSELLOR
    return roles


def parse_roles(spec: str | Mapping[str, str] | None) -> dict[str, Role]:
    """User role override: ``"S1=client,S2=counsellor"`` or a mapping.

    >>> parse_roles("A=counsellor, B=client")
    {'A': <Role.COUNSELLOR: 'counsellor'>, 'B': <Role.CLIENT: 'client'>}
    """
    if not spec:
        return {}
    items = (
        spec.items() if isinstance(spec, Mapping) else (p.split("=", 1) for p in spec.split(",") if p.strip())
    )
    out: dict[str, Role] = {}
    for item in items:
        if len(item) != 2:
            raise TranscriptError(
                f"Cannot read role assignment {spec!r}.", "Write SPEAKER=client,OTHER=counsellor."
            )
        speaker, role = (x.strip() for x in item)
        role = {"therapist": "counsellor", "counselor": "counsellor", "patient": "client"}.get(
            role.lower(), role.lower()
        )
        try:
            out[speaker] = Role(role)
        except ValueError as exc:
            raise TranscriptError(
                f"Unknown role {role!r} for {speaker!r}.", "Use client or counsellor."
            ) from exc
    return out


#: How a session's roles were decided, from the most to the least certain.
ROLE_SOURCES: tuple[str, ...] = ("given", "names", "guessed")


def assign_roles(
    turns: Sequence[Turn], override: Mapping[str, Role] | None = None
) -> tuple[list[Turn], dict[str, Role], str]:
    """Give every turn a role: user override first, then speaker names, then a heuristic.

    The heuristic (for anonymous labels such as the diarizer's ``S1``/``S2``) is
    :func:`congruence.ingest.diarize.counsellor_scores`: the counsellor asks more questions, talks
    less and opens the session. Returns the turns, the mapping and how it was decided
    (:data:`ROLE_SOURCES`): ``"guessed"`` when the heuristic chose any speaker's role (or a lone
    speaker was taken to be the client), else ``"given"`` when the user's override decided any,
    else ``"names"``. Speakers left over once a counsellor is given or named are clients by
    deduction, not guessed.
    """
    from congruence.ingest.diarize import assign_roles as by_heuristic

    speakers = list(dict.fromkeys(t.speaker for t in turns))
    unknown = [s for s in (override or {}) if s not in speakers]
    if unknown:
        raise TranscriptError(
            f"Role override names speaker(s) {unknown} that are not in the transcript ({speakers}).",
            "Use the speaker labels as they appear in the transcript.",
        )
    named = roles_from_names([s for s in speakers if s not in (override or {})])
    known = {**named, **(override or {})}
    roles = by_heuristic(turns, override=known)
    decided = len(known) == len(speakers) or (Role.COUNSELLOR in known.values() and len(speakers) > 1)
    method = "guessed" if not decided else "given" if override else "names"
    return [replace(t, role=roles[t.speaker]) for t in turns], roles, method
