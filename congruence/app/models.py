"""Database tables of the annotation application (SQLAlchemy 2 declarative models).

The schema is created and changed only by the Alembic migrations in ``congruence/app/migrations``;
``tests/app/test_migrations.py`` checks that the migrations produce exactly these tables.

Writes that must never be lost or doubled (annotations and ratings) keep two things: the current
value with a ``version`` counter (optimistic concurrency: a save names the version it edits) and
an append-only revision log keyed by the client's ``op_id`` (a retried save is recognised and
answered from the log instead of being applied twice).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ROLES: tuple[str, ...] = ("admin", "annotator", "expert")
ASSIGNMENT_KINDS: tuple[str, ...] = ("annotate", "review", "rate")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("role IN ('admin', 'annotator', 'expert')", name="role"),)


class LoginSession(Base):
    """A login: the cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class AnalysedSession(Base):
    """A session imported from a ``congruence analyze`` output folder."""

    __tablename__ = "analysed_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    source: Mapped[str] = mapped_column(sa.String(500), default="")
    provenance: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionTurn(Base):
    """Every turn of an imported session (both roles): the transcript shown around a pair."""

    __tablename__ = "session_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_ref: Mapped[int] = mapped_column(sa.ForeignKey("analysed_sessions.id", ondelete="CASCADE"))
    turn_index: Mapped[int] = mapped_column(sa.Integer)
    speaker: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    start: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    end: Mapped[float | None] = mapped_column(sa.Float, nullable=True)

    __table_args__ = (sa.UniqueConstraint("session_ref", "turn_index"),)


class Media(Base):
    """Image (or clip) bytes, served by id to authorised users only; never addressed by a path."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mime: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int] = mapped_column(sa.Integer)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Pair(Base):
    """An E-THER dialogue pair: a client turn (with its key frame) and the counsellor reply."""

    __tablename__ = "pairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_ref: Mapped[int] = mapped_column(
        sa.ForeignKey("analysed_sessions.id", ondelete="CASCADE"), index=True
    )
    turn_index: Mapped[int] = mapped_column(sa.Integer)
    pair_index: Mapped[int] = mapped_column(sa.Integer)
    client_text: Mapped[str] = mapped_column(sa.Text, default="")
    counsellor_text: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    start: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    end: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    frame_media_id: Mapped[int | None] = mapped_column(sa.ForeignKey("media.id"), nullable=True, index=True)
    #: model/proxy estimates of the turn table, with their provenance; hidden from raters by default
    estimates: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: disagreement ordering keys (congruence.app.disagreement); None when no pair score exists
    disagreement: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    disagreement_total: Mapped[float | None] = mapped_column(sa.Float, nullable=True)

    session: Mapped[AnalysedSession] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("session_ref", "turn_index"),)


class Assignment(Base):
    """A pair given to a user: ``annotate`` (annotator), ``review`` (expert validation), ``rate``."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("pair_id", "user_id", "kind"),
        sa.CheckConstraint("kind IN ('annotate', 'review', 'rate')", name="kind"),
    )


class Annotation(Base):
    """One user's E-THER annotation of one pair (current value)."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    incongruence: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    engagement: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    valence: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    arousal: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    dominance: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    #: the rater asked to see model estimates before this annotation (anchoring is then possible)
    estimates_seen: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    version: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("pair_id", "user_id"),)


class AnnotationRevision(Base):
    """Append-only log of accepted annotation saves; ``op_id`` makes a retried save idempotent."""

    __tablename__ = "annotation_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("annotations.id", ondelete="CASCADE"), index=True
    )
    op_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    values: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Response(Base):
    """A generated response to rate; ``public_id`` is the only id raters see (blinding)."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    pair_id: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(sa.String(200))
    technique: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    text: Mapped[str] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(500), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("pair_id", "system"),)


class Rating(Base):
    """One expert's Likert ratings (1-5) of one response (current value)."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(sa.ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    applicability: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    empathy: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    comprehensiveness: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("response_id", "user_id"),)


class RatingRevision(Base):
    """Append-only log of accepted rating saves (idempotent by ``op_id``)."""

    __tablename__ = "rating_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(sa.ForeignKey("ratings.id", ondelete="CASCADE"), index=True)
    op_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    values: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ValidationSample(Base):
    """An expert-validation sample drawn by :func:`congruence.app.sampling.stratified_sample`."""

    __tablename__ = "validation_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    share: Mapped[float] = mapped_column(sa.Float)
    seed: Mapped[int] = mapped_column(sa.Integer)
    n_eligible: Mapped[int] = mapped_column(sa.Integer)
    created_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ValidationItem(Base):
    """A sampled pair and the rater whose annotation the expert review is compared with."""

    __tablename__ = "validation_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("validation_samples.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(sa.ForeignKey("pairs.id", ondelete="CASCADE"))
    rater_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    stratum: Mapped[str] = mapped_column(sa.String(300))

    __table_args__ = (sa.UniqueConstraint("sample_id", "pair_id"),)


class Setting(Base):
    """Instance settings changed at run time (e.g. the model-estimates mode, the blinding secret)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON)
