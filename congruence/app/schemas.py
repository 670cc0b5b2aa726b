"""Request bodies of the JSON API, validated by pydantic (a malformed value gets a 422 naming it).

Scales: incongruence is an E-THER type (none / minimizing / contradiction); engagement lies in
[0, 1] (E-THER's continuous scale with the low / moderate / high ranges of
:data:`congruence.schema.ENGAGEMENT_RANGES`); valence, arousal and dominance lie in [-1, 1], the
scale of the turn table's estimates (Warriner norms rescaled by ``(x - 5) / 4``, circumplex
coordinates). Likert ratings are whole numbers 1-5 (the interventions paper's expert scale).
A field left ``null`` is not yet filled in.

Every field is strict: JSON ``true`` is not 1.0 and ``"0.5"`` is not 0.5 (a client that sends them
has a bug worth seeing); a whole number is accepted for a real scale (JSON has one number type).
Integers are bounded to a signed 64-bit range so they bind to SQLite and PostgreSQL ``BIGINT``, and
text refuses lone UTF-16 surrogates (``"\\ud800"``), which no database can store.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from congruence.schema import IncongruenceType

#: The largest id or counter a route accepts: SQLite's INTEGER and PostgreSQL's BIGINT are signed 64-bit.
MAX_INT = 2**63 - 1


def is_unicode(text: str) -> bool:
    """False for text that cannot be stored as UTF-8 (a lone surrogate from a ``\\ud800`` JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def no_surrogates(text: str) -> str:
    if not is_unicode(text):
        raise ValueError("contains a lone UTF-16 surrogate (not valid Unicode text)")
    return text


_Unicode = AfterValidator(no_surrogates)


#: A client-generated id of one save; a retry of the same save reuses it (idempotency key).
OpId = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Unit = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
Signed = Annotated[float, Field(strict=True, ge=-1.0, le=1.0, allow_inf_nan=False)]
Likert = Annotated[int, Field(ge=1, le=5, strict=True)]
Version = Annotated[int, Field(strict=True, ge=0, le=MAX_INT)]
Username = Annotated[str, Field(strict=True, min_length=1, max_length=64), _Unicode]
Password = Annotated[str, Field(strict=True, min_length=1, max_length=1024), _Unicode]
SessionId = Annotated[str, Field(strict=True, min_length=1, max_length=200), _Unicode]
Token = Annotated[str, Field(strict=True, max_length=200), _Unicode]

ANNOTATION_FIELDS: tuple[str, ...] = ("incongruence", "engagement", "valence", "arousal", "dominance")
CRITERIA: tuple[str, ...] = ("applicability", "empathy", "comprehensiveness")

#: The statements of the interventions paper's rating interface (Figure 9).
CRITERIA_STATEMENTS: dict[str, str] = {
    "applicability": "The intervention technique is relevant and practical for the client's specific "
    "situation and therapeutic goals.",
    "empathy": "The intervention technique demonstrates understanding, compassion, and respect for the "
    "client's feelings and experiences.",
    "comprehensiveness": "The intervention technique addresses the range of issues presented by the "
    "client, considering all significant aspects.",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_Strict):
    username: Username
    password: Password
    csrf_token: Token | None = None


class AnnotationIn(_Strict):
    """The full state of a pair's annotation form (each save replaces the previous state)."""

    op_id: OpId
    base_version: Version
    incongruence: IncongruenceType | None = None
    engagement: Unit | None = None
    valence: Signed | None = None
    arousal: Signed | None = None
    dominance: Signed | None = None


class RatingIn(_Strict):
    """The full state of one response's three Likert ratings."""

    op_id: OpId
    base_version: Version
    applicability: Likert | None = None
    empathy: Likert | None = None
    comprehensiveness: Likert | None = None


class UserIn(_Strict):
    username: Username
    password: Password
    role: Literal["admin", "annotator", "expert"]


class UserPatch(_Strict):
    active: Annotated[bool, Field(strict=True)] | None = None
    password: Password | None = None


class AssignIn(_Strict):
    """Give the pairs of sessions (all when ``session_ids`` is empty) to users."""

    usernames: Annotated[list[Username], Field(min_length=1, max_length=1000)]
    session_ids: Annotated[list[SessionId], Field(max_length=10_000)] = []
    kind: Literal["annotate", "rate"] = "annotate"
    mode: Literal["all", "split"] = "all"


class SampleIn(_Strict):
    share: Annotated[float, Field(strict=True, gt=0.0, le=1.0, allow_inf_nan=False)] = 100 / 789
    seed: Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)] = 0
    experts: Annotated[list[Username], Field(min_length=1, max_length=100)]


class SettingsIn(_Strict):
    model_estimates: Literal["hidden", "on_request", "shown"] | None = None
    queue_order: Literal["session", "disagreement"] | None = None
