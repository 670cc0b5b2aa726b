"""Importing analysed sessions and generated responses, and assigning pairs to users."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app.importing import ImportRefused, ResponseRow, SessionData
from congruence.app.models import (
    AnalysedSession,
    Assignment,
    Media,
    Pair,
    Response,
    SessionTurn,
    User,
)
from congruence.app.store.accounts import user_by_name
from congruence.app.store.errors import Conflict, NotFound
from congruence.errors import CongruenceError


def _media_for(s: Session, data: bytes, mime: str) -> int:
    digest = hashlib.sha256(data).hexdigest()
    existing = s.scalar(sa.select(Media.id).where(Media.sha256 == digest))
    if existing is not None:
        return existing
    m = Media(sha256=digest, mime=mime, size=len(data), data=data)
    s.add(m)
    s.flush()
    return m.id


def import_session(s: Session, data: SessionData) -> dict[str, Any]:
    """Store an analysed session; refuses an id that is already imported (annotations would be lost)."""
    if s.scalar(sa.select(AnalysedSession.id).where(AnalysedSession.session_id == data.session_id)):
        raise Conflict(
            f"The session '{data.session_id}' is already imported.",
            "Import it under another id (session_id option) or keep the existing one.",
        )
    rec = AnalysedSession(session_id=data.session_id, source=data.source[:500], provenance=data.provenance)
    s.add(rec)
    s.flush()
    s.add_all(
        SessionTurn(
            session_ref=rec.id,
            turn_index=t["turn_index"],
            speaker=t["speaker"][:200],
            role=t["role"],
            text=t["text"],
            start=t["start"],
            end=t["end"],
        )
        for t in data.turns
    )
    for p in data.pairs:
        media_id = _media_for(s, p.frame, p.frame_mime) if p.frame is not None and p.frame_mime else None
        s.add(
            Pair(
                session_ref=rec.id,
                turn_index=p.turn_index,
                pair_index=p.pair_index,
                client_text=p.client_text,
                counsellor_text=p.counsellor_text,
                start=p.start,
                end=p.end,
                frame_media_id=media_id,
                estimates={"items": p.estimates},
                disagreement=p.disagreement,
                disagreement_total=p.disagreement_total,
            )
        )
    s.flush()
    return {
        "session_id": data.session_id,
        "pairs": len(data.pairs),
        "turns": len(data.turns),
        "warnings": data.warnings,
    }


def list_sessions(s: Session) -> list[dict[str, Any]]:
    n_pairs = (
        sa.select(Pair.session_ref, sa.func.count(Pair.id).label("n")).group_by(Pair.session_ref).subquery()
    )
    rows = s.execute(
        sa.select(AnalysedSession.session_id, AnalysedSession.imported_at, n_pairs.c.n)
        .join(n_pairs, n_pairs.c.session_ref == AnalysedSession.id, isouter=True)
        .order_by(AnalysedSession.session_id)
    ).all()
    return [{"session_id": r[0], "imported_at": r[1].isoformat(), "pairs": int(r[2] or 0)} for r in rows]


def import_responses(s: Session, rows: Sequence[ResponseRow], *, source: str = "") -> dict[str, Any]:
    """Store generated responses; every row must name an imported pair. All or nothing."""
    keys = {(r.session_id, r.turn_index) for r in rows}
    sids = {k[0] for k in keys}
    found = dict(
        ((sid, ti), pid)
        for sid, ti, pid in s.execute(
            sa.select(AnalysedSession.session_id, Pair.turn_index, Pair.id)
            .join(Pair, Pair.session_ref == AnalysedSession.id)
            .where(AnalysedSession.session_id.in_(sids))
        ).all()
    )
    unknown = [r for r in rows if (r.session_id, r.turn_index) not in found]
    if unknown:
        shown = ", ".join(f"line {r.line}: {r.session_id}#{r.turn_index}" for r in unknown[:10])
        raise ImportRefused(
            f"{len(unknown)} responses name no imported client turn ({shown}).",
            "Import the analysed sessions first; turn_index is the client turn's index in turns.parquet.",
        )
    dup = [k for k, n in Counter((r.session_id, r.turn_index, r.system) for r in rows).items() if n > 1]
    if dup:
        raise ImportRefused(
            f"The file has {len(dup)} repeated (session, turn, system) rows, e.g. {dup[0]}.",
            "Keep one response per system and turn.",
        )
    existing = set(
        s.execute(
            sa.select(Response.pair_id, Response.system).where(Response.pair_id.in_(set(found.values())))
        ).all()
    )
    added, skipped = 0, 0
    for r in rows:
        pid = found[(r.session_id, r.turn_index)]
        if (pid, r.system) in existing:
            skipped += 1  # importing the same file twice adds nothing
            continue
        s.add(
            Response(
                public_id=secrets.token_urlsafe(12),
                pair_id=pid,
                system=r.system,
                technique=r.technique,
                text=r.text,
                source=source[:500],
            )
        )
        added += 1
    s.flush()
    return {"added": added, "skipped_existing": skipped, "systems": sorted({r.system for r in rows})}


# ------------------------------------------------------------------------------------------ assignments
def _users(s: Session, usernames: Iterable[str], role: str | tuple[str, ...]) -> list[User]:
    roles = (role,) if isinstance(role, str) else role
    out = []
    for name in usernames:
        u = user_by_name(s, name)
        if u.role not in roles:
            raise CongruenceError(
                f"'{name}' is a{'n' if u.role[0] in 'aeiou' else ''} {u.role}.",
                f"Choose users with the role {' or '.join(roles)}.",
            )
        out.append(u)
    return out


def _add_assignments(s: Session, pairs: Iterable[tuple[int, int]], kind: str) -> int:
    wanted = set(pairs)
    if not wanted:
        return 0
    have = set(
        s.execute(
            sa.select(Assignment.pair_id, Assignment.user_id).where(
                Assignment.kind == kind, Assignment.user_id.in_({u for _, u in wanted})
            )
        ).all()
    )
    new = sorted(wanted - have)
    s.add_all(Assignment(pair_id=p, user_id=u, kind=kind) for p, u in new)
    s.flush()
    return len(new)


def assign(
    s: Session,
    usernames: Sequence[str],
    *,
    session_ids: Sequence[str] = (),
    kind: str = "annotate",
    mode: str = "all",
) -> dict[str, Any]:
    """Give the pairs of the sessions to users: every pair to each (``all``) or dealt round-robin (``split``).

    ``kind='rate'`` gives only the pairs that have responses, to experts.
    """
    users = _users(s, usernames, "annotator" if kind == "annotate" else "expert")
    q = sa.select(Pair.id).join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
    if session_ids:
        known = set(
            s.scalars(
                sa.select(AnalysedSession.session_id).where(AnalysedSession.session_id.in_(session_ids))
            )
        )
        if missing := [x for x in session_ids if x not in known]:
            raise NotFound(f"Unknown session ids: {', '.join(missing)}.", "Import the sessions first.")
        q = q.where(AnalysedSession.session_id.in_(session_ids))
    if kind == "rate":
        q = q.where(sa.exists().where(Response.pair_id == Pair.id))
    pair_ids = list(s.scalars(q.order_by(AnalysedSession.session_id, Pair.turn_index)))
    if mode == "all":
        todo = [(p, u.id) for p in pair_ids for u in users]
    else:
        todo = [(p, users[i % len(users)].id) for i, p in enumerate(pair_ids)]
    return {"pairs": len(pair_ids), "assigned": _add_assignments(s, todo, kind)}
