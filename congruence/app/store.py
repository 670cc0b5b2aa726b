"""What the application does to its data, independent of HTTP: the web routes and the CLI call these.

Access rules live here, next to the queries, so no route can forget them:

- an annotator sees and saves only pairs assigned to them (``annotate``); an expert only the
  pairs of their validation reviews (``review``) and ratings (``rate``); an admin sees everything
  but annotates nothing;
- any id that is not the caller's gives :class:`NotFound` - the same answer as an id that does not
  exist, so ids cannot be probed;
- media are found by id and served only if they belong to a pair the caller may see.

Saves are idempotent and versioned (see :mod:`congruence.app.models`): ``save_annotation`` and
``save_rating`` return ``replayed=True`` for an ``op_id`` already applied and raise
:class:`Conflict` when the form was edited from an older version.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app import security
from congruence.app.config import AppConfig
from congruence.app.disagreement import queue_key
from congruence.app.importing import ImportRefused, ResponseRow, SessionData
from congruence.app.models import (
    AnalysedSession,
    Annotation,
    AnnotationRevision,
    Assignment,
    LoginSession,
    Media,
    Pair,
    Rating,
    RatingRevision,
    Response,
    SessionTurn,
    Setting,
    User,
    ValidationItem,
    ValidationSample,
    utcnow,
)
from congruence.app.schemas import ANNOTATION_FIELDS, CRITERIA, AnnotationIn, RatingIn
from congruence.errors import CongruenceError


class NotFound(CongruenceError):
    """The thing does not exist or is not the caller's (indistinguishable on purpose)."""


class Forbidden(CongruenceError):
    """The caller's role may not do this."""


class Conflict(CongruenceError):
    """The save was made from an older version, or clashes with existing data."""

    def __init__(self, problem: str, fix: str = "", *, current: dict[str, Any] | None = None) -> None:
        super().__init__(problem, fix)
        self.current = current


class AuthFailed(CongruenceError):
    """Wrong user name or password (one message for both)."""


class LockedOut(CongruenceError):
    """Too many failed logins in a short time."""


# ------------------------------------------------------------------------------------------ settings
def get_setting(s: Session, key: str, default: Any = None) -> Any:
    row = s.get(Setting, key)
    return default if row is None else row.value


def set_setting(s: Session, key: str, value: Any) -> None:
    row = s.get(Setting, key)
    if row is None:
        s.add(Setting(key=key, value=value))
    else:
        row.value = value


def blind_secret(s: Session) -> str:
    """Instance secret that seeds the per-rater response order (created on first use)."""
    value = get_setting(s, "blind_secret")
    if value is None:
        value = secrets.token_hex(32)
        set_setting(s, "blind_secret", value)
    return str(value)


def effective_settings(s: Session, config: AppConfig) -> dict[str, str]:
    """The configured modes, overridden by what an admin set in the running instance."""
    return {
        "model_estimates": get_setting(s, "model_estimates", config.model_estimates),
        "queue_order": get_setting(s, "queue_order", config.queue_order),
    }


# ------------------------------------------------------------------------------------------ users
def create_user(s: Session, username: str, password: str, role: str, *, config: AppConfig) -> User:
    security.check_username(username)
    security.check_password(password, min_length=config.min_password_length)
    if role not in ("admin", "annotator", "expert"):
        raise CongruenceError(f"Unknown role '{role}'.", "Use admin, annotator or expert.")
    if s.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"The user '{username}' exists already.", "Choose another name.")
    user = User(
        username=username,
        role=role,
        password_hash=security.hash_password(password, profile=config.password_profile),
        active=True,
        failed_logins=0,
    )
    s.add(user)
    s.flush()
    return user


def user_by_name(s: Session, username: str) -> User:
    user = s.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user '{username}'.", "Check the name (see the Users list).")
    return user


def update_user(
    s: Session, username: str, *, config: AppConfig, active: bool | None = None, password: str | None = None
) -> User:
    user = user_by_name(s, username)
    if active is not None:
        user.active = active
        if not active:
            s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
    if password is not None:
        security.check_password(password, min_length=config.min_password_length)
        user.password_hash = security.hash_password(password, profile=config.password_profile)
        s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
        user.failed_logins = 0
    return user


def list_users(s: Session) -> list[dict[str, Any]]:
    rows = s.scalars(sa.select(User).order_by(User.username)).all()
    return [{"username": u.username, "role": u.role, "active": u.active} for u in rows]


def authenticate(s: Session, username: str, password: str, *, config: AppConfig, now: datetime) -> User:
    """The user for a correct name and password; :class:`AuthFailed` / :class:`LockedOut` otherwise."""
    user = s.scalar(sa.select(User).where(User.username == username))
    window = timedelta(minutes=config.lockout_minutes)
    if user is None or not user.active:
        security.verify_password(security.dummy_hash(config.password_profile), password)  # same timing
        raise AuthFailed("Wrong user name or password.", "Check both and try again.")
    recent = user.last_failed_at is not None and now - user.last_failed_at < window
    if recent and user.failed_logins >= config.max_failed_logins:
        raise LockedOut(
            "Too many failed logins for this account.",
            f"Wait {config.lockout_minutes:g} minutes or ask an admin to reset the password.",
        )
    if not security.verify_password(user.password_hash, password, profile=config.password_profile):
        user.failed_logins = (user.failed_logins if recent else 0) + 1
        user.last_failed_at = now
        raise AuthFailed("Wrong user name or password.", "Check both and try again.")
    user.failed_logins = 0
    if security.needs_rehash(user.password_hash, profile=config.password_profile):
        user.password_hash = security.hash_password(password, profile=config.password_profile)
    return user


def create_login(s: Session, user: User, *, config: AppConfig, now: datetime) -> tuple[str, LoginSession]:
    """A new login session; returns the cookie token (only its hash is stored)."""
    token = security.new_token()
    login = LoginSession(
        token_hash=security.token_hash(token),
        csrf_token=security.new_token(),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=config.session_max_hours),
    )
    s.add(login)
    # forget this user's expired logins on the way (keeps the table small without a cron job)
    s.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at < now))
    s.flush()
    return token, login


def find_login(
    s: Session, token: str | None, *, config: AppConfig, now: datetime
) -> tuple[LoginSession | None, str]:
    """``(login, "ok")``, or ``(None, reason)`` with reason ``none`` / ``expired`` / ``inactive``."""
    if not token or len(token) > 100:
        return None, "none"
    login = s.scalar(sa.select(LoginSession).where(LoginSession.token_hash == security.token_hash(token)))
    if login is None:
        return None, "none"
    idle_limit = login.last_seen_at + timedelta(minutes=config.session_idle_minutes)
    if now >= login.expires_at or now >= idle_limit:
        return None, "expired"
    if not login.user.active:
        return None, "inactive"
    return login, "ok"


def touch_login(s: Session, login_id: int, now: datetime) -> None:
    s.execute(sa.update(LoginSession).where(LoginSession.id == login_id).values(last_seen_at=now))


def delete_login(s: Session, token: str | None) -> None:
    if token:
        s.execute(sa.delete(LoginSession).where(LoginSession.token_hash == security.token_hash(token)))


# ------------------------------------------------------------------------------------------ import
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


# ------------------------------------------------------------------------------------------ queues
def _status(values: Sequence[Any]) -> str:
    n = sum(v is not None for v in values)
    return "todo" if n == 0 else ("done" if n == len(values) else "partial")


def annotation_queue(s: Session, user: User, *, kind: str, order: str) -> list[dict[str, Any]]:
    """The caller's assigned pairs with their status, in session order or disagreement first."""
    rows = s.execute(
        sa.select(Pair, Annotation)
        .join(
            Assignment,
            (Assignment.pair_id == Pair.id) & (Assignment.user_id == user.id) & (Assignment.kind == kind),
        )
        .join(Annotation, (Annotation.pair_id == Pair.id) & (Annotation.user_id == user.id), isouter=True)
        .join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
        .order_by(AnalysedSession.session_id, Pair.turn_index)
    ).all()
    items = []
    for pos, (pair, ann) in enumerate(rows):
        values = [getattr(ann, f) if ann else None for f in ANNOTATION_FIELDS]
        items.append(
            {
                "pair_id": pair.id,
                "session_id": pair.session.session_id,
                "turn_index": pair.turn_index,
                "text": pair.client_text[:140],
                "status": _status(values),
                "disagreement": pair.disagreement if order == "disagreement" else None,
                "_key": queue_key(pair.disagreement, pair.disagreement_total, pos)
                if order == "disagreement"
                else pos,
            }
        )
    items.sort(key=lambda it: it["_key"])
    for it in items:
        del it["_key"]
    return items


def rating_queue(s: Session, user: User) -> list[dict[str, Any]]:
    rows = (
        s.execute(
            sa.select(Pair)
            .join(
                Assignment,
                (Assignment.pair_id == Pair.id)
                & (Assignment.user_id == user.id)
                & (Assignment.kind == "rate"),
            )
            .join(AnalysedSession, Pair.session_ref == AnalysedSession.id)
            .order_by(AnalysedSession.session_id, Pair.turn_index)
        )
        .scalars()
        .all()
    )
    out = []
    for pair in rows:
        n_resp = s.scalar(sa.select(sa.func.count(Response.id)).where(Response.pair_id == pair.id)) or 0
        n_done = (
            s.scalar(
                sa.select(sa.func.count(Rating.id))
                .join(Response, Rating.response_id == Response.id)
                .where(
                    Response.pair_id == pair.id,
                    Rating.user_id == user.id,
                    *(getattr(Rating, c).is_not(None) for c in CRITERIA),
                )
            )
            or 0
        )
        status = "todo" if n_done == 0 else ("done" if n_done == n_resp else "partial")
        out.append(
            {
                "pair_id": pair.id,
                "session_id": pair.session.session_id,
                "turn_index": pair.turn_index,
                "text": pair.client_text[:140],
                "responses": n_resp,
                "status": status,
            }
        )
    return out


# ------------------------------------------------------------------------------------------ pairs
def _may(s: Session, user: User, pair_id: int, kinds: Sequence[str]) -> bool:
    return (
        s.scalar(
            sa.select(Assignment.id)
            .where(Assignment.pair_id == pair_id, Assignment.user_id == user.id, Assignment.kind.in_(kinds))
            .limit(1)
        )
        is not None
    )


def _pair_for(s: Session, user: User, pair_id: int, kinds: Sequence[str]) -> Pair:
    pair = s.get(Pair, pair_id)
    if pair is None or (user.role != "admin" and not _may(s, user, pair_id, kinds)):
        raise NotFound(f"No pair {pair_id} in your assignments.", "Open pairs from your queue.")
    return pair


def _kinds_for(user: User) -> tuple[str, ...]:
    return {"annotator": ("annotate",), "expert": ("review",), "admin": ()}[user.role]


def context(s: Session, pair: Pair, *, turns_before: int) -> list[dict[str, Any]]:
    """Transcript around a pair: ``turns_before`` turns, the client turn, and the turn after it."""
    rows = s.scalars(
        sa.select(SessionTurn)
        .where(
            SessionTurn.session_ref == pair.session_ref,
            SessionTurn.turn_index >= pair.turn_index - turns_before,
            SessionTurn.turn_index <= pair.turn_index + 1,
        )
        .order_by(SessionTurn.turn_index)
    ).all()
    return [
        {
            "turn_index": t.turn_index,
            "speaker": t.speaker,
            "role": t.role,
            "text": t.text,
            "start": t.start,
            "end": t.end,
            "current": t.turn_index == pair.turn_index,
        }
        for t in rows
    ]


def annotation_dict(ann: Annotation | None) -> dict[str, Any]:
    if ann is None:
        return {**dict.fromkeys(ANNOTATION_FIELDS), "version": 0, "updated_at": None, "estimates_seen": False}
    return {
        **{f: getattr(ann, f) for f in ANNOTATION_FIELDS},
        "version": ann.version,
        "updated_at": ann.updated_at.isoformat(),
        "estimates_seen": ann.estimates_seen,
    }


def _neighbours(queue: list[dict[str, Any]], pair_id: int) -> tuple[int | None, int | None]:
    ids = [q["pair_id"] for q in queue]
    if pair_id not in ids:
        return None, None
    i = ids.index(pair_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def pair_view(s: Session, user: User, pair_id: int, *, config: AppConfig, order: str) -> dict[str, Any]:
    """Everything the annotation page shows; estimates only when the mode says so."""
    kinds = _kinds_for(user)
    if not kinds:
        raise Forbidden("Admins do not annotate.", "Log in as an annotator or expert.")
    pair = _pair_for(s, user, pair_id, kinds)
    ann = s.scalar(sa.select(Annotation).where(Annotation.pair_id == pair.id, Annotation.user_id == user.id))
    mode = effective_settings(s, config)["model_estimates"]
    queue = annotation_queue(s, user, kind=kinds[0], order=order)
    prev_id, next_id = _neighbours(queue, pair.id)
    return {
        "pair_id": pair.id,
        "session_id": pair.session.session_id,
        "turn_index": pair.turn_index,
        "client_text": pair.client_text,
        "counsellor_text": pair.counsellor_text,
        "frame_url": f"/media/{pair.frame_media_id}" if pair.frame_media_id else None,
        "context": context(s, pair, turns_before=config.context_turns),
        "annotation": annotation_dict(ann),
        "estimates_mode": mode,
        "estimates": pair.estimates.get("items", []) if mode == "shown" else None,
        "prev_id": prev_id,
        "next_id": next_id,
        "position": [q["pair_id"] for q in queue].index(pair.id) + 1 if queue else None,
        "total": len(queue),
        "order": order,
    }


def reveal_estimates(s: Session, user: User, pair_id: int, *, config: AppConfig) -> list[dict[str, Any]]:
    """The model estimates of a pair in ``on_request`` mode; records that the rater saw them."""
    pair = _pair_for(s, user, pair_id, _kinds_for(user) or ("annotate",))
    mode = effective_settings(s, config)["model_estimates"]
    if mode == "hidden":
        raise Forbidden("Model estimates are hidden in this instance.", "An admin can change the setting.")
    ann = s.scalar(sa.select(Annotation).where(Annotation.pair_id == pair.id, Annotation.user_id == user.id))
    if ann is None:
        ann = Annotation(pair_id=pair.id, user_id=user.id, version=0, estimates_seen=True)
        s.add(ann)
    else:
        ann.estimates_seen = True
    s.flush()
    return pair.estimates.get("items", [])


def save_annotation(
    s: Session, user: User, pair_id: int, body: AnnotationIn, *, now: datetime, estimates_shown: bool = False
) -> dict[str, Any]:
    """Apply one autosave of a pair's annotation form (see the module docstring).

    ``estimates_shown``: the page showed model estimates (mode ``shown``); recorded on the annotation.
    """
    kinds = _kinds_for(user)
    if not kinds:
        raise Forbidden("Admins do not annotate.", "Log in as an annotator or expert.")
    pair = _pair_for(s, user, pair_id, kinds)
    # the annotation first, then the log: under READ COMMITTED a save of this op_id committed in
    # between is then seen in the log (and answered as a replay), never half-seen as a conflict
    ann = s.scalar(sa.select(Annotation).where(Annotation.pair_id == pair.id, Annotation.user_id == user.id))
    done = s.scalar(sa.select(AnnotationRevision).where(AnnotationRevision.op_id == body.op_id))
    if done is not None:
        ann = s.get(Annotation, done.annotation_id, populate_existing=True)  # as committed now
        if ann is None or ann.pair_id != pair.id or ann.user_id != user.id:
            raise Conflict("This op_id was used for another save.", "Generate a new op_id for each save.")
        return {"annotation": annotation_dict(ann), "replayed": True, "version": done.version}
    current = ann.version if ann is not None else 0
    if body.base_version != current:
        raise Conflict(
            f"The annotation changed since version {body.base_version} (now {current}).",
            "Reload the pair; your newer edits were not applied.",
            current=annotation_dict(ann),
        )
    values = {
        f: (getattr(body, f).value if f == "incongruence" and getattr(body, f) else getattr(body, f))
        for f in ANNOTATION_FIELDS
    }
    if ann is None:
        ann = Annotation(pair_id=pair.id, user_id=user.id, version=0, estimates_seen=False, created_at=now)
        s.add(ann)
        s.flush()
    # conditional update: on PostgreSQL a concurrent save of the same version updates 0 rows
    res = s.execute(
        sa.update(Annotation)
        .where(Annotation.id == ann.id, Annotation.version == current)
        .values(
            **values,
            version=current + 1,
            updated_at=now,
            **({"estimates_seen": True} if estimates_shown else {}),
        )
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raced = s.scalar(sa.select(AnnotationRevision).where(AnnotationRevision.op_id == body.op_id))
        if raced is not None and raced.annotation_id == ann.id:  # this very save, applied by a twin request
            s.refresh(ann)
            return {"annotation": annotation_dict(ann), "replayed": True, "version": raced.version}
        raise Conflict("The annotation was saved concurrently.", "Reload the pair.")
    s.add(
        AnnotationRevision(
            annotation_id=ann.id, op_id=body.op_id, version=current + 1, values=values, saved_at=now
        )
    )
    s.flush()
    s.refresh(ann)
    return {"annotation": annotation_dict(ann), "replayed": False, "version": current + 1}


def media_for(s: Session, user: User, media_id: int) -> Media:
    """Media bytes by id, only when they belong to a pair the caller may see."""
    if user.role != "admin":
        kinds = {"annotator": ("annotate",), "expert": ("review", "rate")}[user.role]
        allowed = s.scalar(
            sa.select(Pair.id)
            .join(Assignment, Assignment.pair_id == Pair.id)
            .where(Pair.frame_media_id == media_id, Assignment.user_id == user.id, Assignment.kind.in_(kinds))
            .limit(1)
        )
        if allowed is None:
            raise NotFound(f"No media {media_id} for you.", "Open media from your queue.")
    media = s.get(Media, media_id)
    if media is None:
        raise NotFound(f"No media {media_id} for you.", "Open media from your queue.")
    return media


# ------------------------------------------------------------------------------------------ ratings
def blind_order(secret: str, user_id: int, public_ids: Sequence[str]) -> list[str]:
    """The per-rater random order of a pair's responses: sorted by ``HMAC(secret, user:id)``.

    Stable for one rater (a reload shows the same order), different between raters and pairs,
    and unpredictable without the instance secret.
    """

    def key(pid: str) -> str:
        return hmac.new(secret.encode(), f"{user_id}:{pid}".encode(), hashlib.sha256).hexdigest()

    return sorted(public_ids, key=key)


def rating_dict(r: Rating | None) -> dict[str, Any]:
    if r is None:
        return {**dict.fromkeys(CRITERIA), "version": 0}
    return {**{c: getattr(r, c) for c in CRITERIA}, "version": r.version}


def rating_view(s: Session, user: User, pair_id: int, *, config: AppConfig) -> dict[str, Any]:
    """The rating page: context and the responses, blinded (no system) and in the rater's order."""
    if user.role != "expert":
        raise Forbidden("Only experts rate responses.", "Log in as an expert.")
    pair = _pair_for(s, user, pair_id, ("rate",))
    responses = {r.public_id: r for r in s.scalars(sa.select(Response).where(Response.pair_id == pair.id))}
    mine = {
        r.response_id: r
        for r in s.scalars(
            sa.select(Rating).where(
                Rating.user_id == user.id, Rating.response_id.in_([x.id for x in responses.values()])
            )
        )
    }
    order = blind_order(blind_secret(s), user.id, list(responses))
    queue = rating_queue(s, user)
    prev_id, next_id = _neighbours(queue, pair.id)
    return {
        "pair_id": pair.id,
        "session_id": pair.session.session_id,
        "turn_index": pair.turn_index,
        "frame_url": f"/media/{pair.frame_media_id}" if pair.frame_media_id else None,
        "context": context(s, pair, turns_before=config.context_turns),
        "responses": [
            {
                "response_id": pid,
                "label": f"Response {chr(ord('A') + i)}" if i < 26 else f"Response {i + 1}",
                "technique": responses[pid].technique,
                "text": responses[pid].text,
                "rating": rating_dict(mine.get(responses[pid].id)),
            }
            for i, pid in enumerate(order)
        ],
        "prev_id": prev_id,
        "next_id": next_id,
        "position": [q["pair_id"] for q in queue].index(pair.id) + 1 if queue else None,
        "total": len(queue),
    }


def save_rating(s: Session, user: User, public_id: str, body: RatingIn, *, now: datetime) -> dict[str, Any]:
    if user.role != "expert":
        raise Forbidden("Only experts rate responses.", "Log in as an expert.")
    resp = s.scalar(sa.select(Response).where(Response.public_id == public_id))
    if resp is None or not _may(s, user, resp.pair_id, ("rate",)):
        raise NotFound("No such response in your assignments.", "Open responses from your rating queue.")
    rating = s.scalar(sa.select(Rating).where(Rating.response_id == resp.id, Rating.user_id == user.id))
    done = s.scalar(sa.select(RatingRevision).where(RatingRevision.op_id == body.op_id))  # after: see above
    if done is not None:
        rating = s.get(Rating, done.rating_id, populate_existing=True)
        if rating is None or rating.response_id != resp.id or rating.user_id != user.id:
            raise Conflict("This op_id was used for another save.", "Generate a new op_id for each save.")
        return {"rating": rating_dict(rating), "replayed": True, "version": done.version}
    current = rating.version if rating is not None else 0
    if body.base_version != current:
        raise Conflict(
            f"The rating changed since version {body.base_version} (now {current}).",
            "Reload the page.",
            current=rating_dict(rating),
        )
    values = {c: getattr(body, c) for c in CRITERIA}
    if rating is None:
        rating = Rating(response_id=resp.id, user_id=user.id, version=0, created_at=now)
        s.add(rating)
        s.flush()
    res = s.execute(
        sa.update(Rating)
        .where(Rating.id == rating.id, Rating.version == current)
        .values(**values, version=current + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raced = s.scalar(sa.select(RatingRevision).where(RatingRevision.op_id == body.op_id))
        if raced is not None and raced.rating_id == rating.id:
            s.refresh(rating)
            return {"rating": rating_dict(rating), "replayed": True, "version": raced.version}
        raise Conflict("The rating was saved concurrently.", "Reload the page.")
    s.add(
        RatingRevision(
            rating_id=rating.id, op_id=body.op_id, version=current + 1, values=values, saved_at=now
        )
    )
    s.flush()
    s.refresh(rating)
    return {"rating": rating_dict(rating), "replayed": False, "version": current + 1}


# ------------------------------------------------------------------------------------------ validation
def create_validation_sample(
    s: Session, *, share: float, seed: int, experts: Sequence[str], created_by: User | None
) -> dict[str, Any]:
    """Draw a stratified sample (by rater and label) of annotated pairs and assign it to experts.

    Eligible: pairs with a complete annotator annotation. A pair annotated by several annotators
    is represented by its earliest complete annotation (its rater is the one compared).
    """
    from congruence.app.sampling import stratified_sample

    expert_users = _users(s, experts, "expert")
    anns = s.execute(
        sa.select(Annotation, User.username)
        .join(User, Annotation.user_id == User.id)
        .where(User.role == "annotator", *(getattr(Annotation, f).is_not(None) for f in ANNOTATION_FIELDS))
        .order_by(Annotation.created_at, Annotation.id)
    ).all()
    first: dict[int, tuple[Annotation, str]] = {}
    for ann, name in anns:
        first.setdefault(ann.pair_id, (ann, name))
    items = sorted(first.items())
    if not items:
        raise CongruenceError("No pair has a complete annotation yet.", "Annotate pairs before sampling.")
    strata = [f"{name}|{ann.incongruence}" for _, (ann, name) in items]
    picked = stratified_sample(strata, share=share, seed=seed)
    sample = ValidationSample(
        share=share, seed=seed, n_eligible=len(items), created_by=created_by.id if created_by else None
    )
    s.add(sample)
    s.flush()
    for i in picked:
        pair_id, (ann, _) = items[i]
        s.add(ValidationItem(sample_id=sample.id, pair_id=pair_id, rater_id=ann.user_id, stratum=strata[i]))
    _add_assignments(s, [(items[i][0], e.id) for i in picked for e in expert_users], "review")
    return {
        "sample_id": sample.id,
        "eligible": len(items),
        "sampled": len(picked),
        "share": share,
        "strata": dict(Counter(strata[i] for i in picked)),
    }


def agreement_report(s: Session, *, sample_id: int | None = None) -> dict[str, Any]:
    """E-THER Table II per expert on a validation sample, and the pairwise kappa matrices.

    Matrices (interventions Figure 6): for each rating criterion across the experts who rated the
    same responses, and for the incongruence label across everyone who annotated the same pairs.
    """
    import pandas as pd

    from congruence.app.agreement import ether_agreement_table, pairwise_kappa

    if sample_id is None:
        sample_id = s.scalar(sa.select(sa.func.max(ValidationSample.id)))
    tables = []
    if sample_id is not None:
        items = s.scalars(sa.select(ValidationItem).where(ValidationItem.sample_id == sample_id)).all()
        pair_ids = [it.pair_id for it in items]
        anns = {
            (a.pair_id, a.user_id): a
            for a in s.scalars(sa.select(Annotation).where(Annotation.pair_id.in_(pair_ids)))
        }
        experts = s.scalars(
            sa.select(User)
            .join(Assignment, Assignment.user_id == User.id)
            .where(Assignment.kind == "review", Assignment.pair_id.in_(pair_ids))
            .distinct()
            .order_by(User.username)
        ).all()
        for ex in experts:
            rl, el, re_, ee = [], [], [], []
            for it in items:
                r, e = anns.get((it.pair_id, it.rater_id)), anns.get((it.pair_id, ex.id))
                if r is None or e is None or e.incongruence is None:
                    continue
                rl.append(r.incongruence)
                el.append(e.incongruence)
                re_.append(r.engagement)
                ee.append(e.engagement)
            table = ether_agreement_table(rl, el, rater_engagement=re_, expert_engagement=ee)
            tables.append(
                {"expert": ex.username, "reviewed": len(rl), "sampled": len(items), "rows": _records(table)}
            )
    ratings = pd.DataFrame(
        s.execute(
            sa.select(
                Response.id, User.username, Rating.applicability, Rating.empathy, Rating.comprehensiveness
            )
            .join(Rating, Rating.response_id == Response.id)
            .join(User, Rating.user_id == User.id)
        ).all(),
        columns=["item", "rater", *CRITERIA],
    )
    matrices = {}
    for c in CRITERIA:
        if ratings[c].notna().sum():
            m = pairwise_kappa(ratings, item="item", rater="rater", value=c, labels=[1, 2, 3, 4, 5])
            matrices[c] = _matrix(m)
    labels = pd.DataFrame(
        s.execute(
            sa.select(Annotation.pair_id, User.username, Annotation.incongruence)
            .join(User, Annotation.user_id == User.id)
            .where(Annotation.incongruence.is_not(None))
        ).all(),
        columns=["item", "rater", "incongruence"],
    )
    if len(labels):
        matrices["incongruence"] = _matrix(
            pairwise_kappa(
                labels,
                item="item",
                rater="rater",
                value="incongruence",
                labels=["none", "minimizing", "contradiction"],
            )
        )
    return {"sample_id": sample_id, "table2": tables, "kappa_matrices": matrices}


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _records(df: Any) -> list[dict[str, Any]]:
    return [
        {k: (_num(v) if k in ("agreement_pct", "kappa") else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


def _matrix(m: Any) -> dict[str, Any]:
    return {"raters": [str(x) for x in m.index], "kappa": [[_num(v) for v in row] for row in m.to_numpy()]}


def validation_samples(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(
        sa.select(ValidationSample, sa.func.count(ValidationItem.id))
        .join(ValidationItem, ValidationItem.sample_id == ValidationSample.id, isouter=True)
        .group_by(ValidationSample.id)
        .order_by(ValidationSample.id)
    ).all()
    return [
        {
            "sample_id": v.id,
            "share": v.share,
            "seed": v.seed,
            "eligible": v.n_eligible,
            "sampled": n,
            "created_at": v.created_at.isoformat(),
        }
        for v, n in rows
    ]


def progress(s: Session) -> list[dict[str, Any]]:
    """Per user and kind of work: pairs assigned and pairs finished (all fields / all ratings given)."""
    out = []
    rows = s.execute(
        sa.select(User.username, Assignment.kind, sa.func.count(Assignment.id))
        .join(Assignment, Assignment.user_id == User.id)
        .group_by(User.username, Assignment.kind)
        .order_by(User.username, Assignment.kind)
    ).all()
    for name, kind, n in rows:
        if kind == "rate":
            done = sum(q["status"] == "done" for q in rating_queue(s, user_by_name(s, name)))
        else:
            done = s.scalar(
                sa.select(sa.func.count(Annotation.id))
                .join(User, Annotation.user_id == User.id)
                .join(
                    Assignment,
                    (Assignment.pair_id == Annotation.pair_id)
                    & (Assignment.user_id == User.id)
                    & (Assignment.kind == kind),
                )
                .where(
                    User.username == name, *(getattr(Annotation, f).is_not(None) for f in ANNOTATION_FIELDS)
                )
            )
        out.append({"username": name, "kind": kind, "assigned": int(n), "done": int(done or 0)})
    return out


def now_utc() -> datetime:
    return utcnow()
