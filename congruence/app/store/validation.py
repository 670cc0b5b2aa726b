"""The stratified expert-validation sample, the agreement report and the progress table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from congruence.app.models import (
    Annotation,
    Assignment,
    Rating,
    Response,
    User,
    ValidationItem,
    ValidationSample,
)
from congruence.app.schemas import ANNOTATION_FIELDS, CRITERIA
from congruence.app.store.accounts import user_by_name
from congruence.app.store.imports import _add_assignments, _users
from congruence.app.store.ratings import rating_queue
from congruence.errors import CongruenceError
from congruence.table import as_number


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


def _records(df: Any) -> list[dict[str, Any]]:
    return [
        {k: (as_number(v) if k in ("agreement_pct", "kappa") else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


def _matrix(m: Any) -> dict[str, Any]:
    return {
        "raters": [str(x) for x in m.index],
        "kappa": [[as_number(v) for v in row] for row in m.to_numpy()],
    }


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
