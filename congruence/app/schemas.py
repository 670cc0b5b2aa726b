"""Request bodies of the JSON API, validated by pydantic (a malformed value gets a 422 naming it).

Scales: incongruence is an E-THER type (none / minimizing / contradiction); engagement lies in
[0, 1] (E-THER's continuous scale with the low / moderate / high ranges of
:data:`congruence.schema.ENGAGEMENT_RANGES`); valence, arousal and dominance lie in [-1, 1], the
scale of the turn table's estimates (Warriner norms rescaled by ``(x - 5) / 4``, circumplex
coordinates). Likert ratings are whole numbers 1-5 (the interventions paper's expert scale).
A field left ``null`` is not yet filled in.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from congruence.schema import IncongruenceType

#: A client-generated id of one save; a retry of the same save reuses it (idempotency key).
OpId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Signed = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
Likert = Annotated[int, Field(ge=1, le=5, strict=True)]

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
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    csrf_token: str | None = None


class AnnotationIn(_Strict):
    """The full state of a pair's annotation form (each save replaces the previous state)."""

    op_id: OpId
    base_version: Annotated[int, Field(ge=0)]
    incongruence: IncongruenceType | None = None
    engagement: Unit | None = None
    valence: Signed | None = None
    arousal: Signed | None = None
    dominance: Signed | None = None


class RatingIn(_Strict):
    """The full state of one response's three Likert ratings."""

    op_id: OpId
    base_version: Annotated[int, Field(ge=0)]
    applicability: Likert | None = None
    empathy: Likert | None = None
    comprehensiveness: Likert | None = None


class UserIn(_Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    role: Literal["admin", "annotator", "expert"]


class UserPatch(_Strict):
    active: bool | None = None
    password: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class AssignIn(_Strict):
    """Give the pairs of sessions (all when ``session_ids`` is empty) to users."""

    usernames: Annotated[list[str], Field(min_length=1, max_length=1000)]
    session_ids: list[str] = []
    kind: Literal["annotate", "rate"] = "annotate"
    mode: Literal["all", "split"] = "all"


class SampleIn(_Strict):
    share: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] = 100 / 789
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    experts: Annotated[list[str], Field(min_length=1, max_length=100)]


class SettingsIn(_Strict):
    model_estimates: Literal["hidden", "on_request", "shown"] | None = None
    queue_order: Literal["session", "disagreement"] | None = None
