"""Agreement statistics of the validation: E-THER Table II and the pairwise kappa matrix.

E-THER Table II (docs/references.md#e-ther, section III-D) compares the raters' labels with an expert's on
a validation sample: percentage agreement and Cohen's kappa

- **Overall**: the three-class incongruence label (none / minimizing / contradiction). The paper
  counts consensus on 83 of 100 pairs and states that all 17 disagreements were about
  incongruence, so its overall row is agreement on this label;
- **Incong. detection**: incongruent (minimizing or contradiction) vs congruent (none);
- **Incong. type**: minimizing vs contradiction, "for cases with incong." - here the pairs that
  *both* the rater and the expert marked incongruent (the paper does not say which side; its
  77.1 % does not follow from its counts, so the choice is documented rather than reverse-engineered);
- **Engagement level** (added): the E-THER range (low / moderate / high) of the two engagement values.

The interventions paper (docs/references.md#interventions, Figure 6) reports Cohen's kappa
between every pair of raters for each criterion: :func:`pairwise_kappa`.

Kappa and percentage agreement come from :mod:`congruence.evaluation.stats` (Cohen, 1960:
``kappa = (p_o - p_e) / (1 - p_e)``); kappa is NaN when chance agreement is 1 (both sides used a
single label), and rows with a missing value on either side are dropped pairwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import pandas as pd

from congruence.evaluation.stats import cohens_kappa, percentage_agreement
from congruence.schema import IncongruenceType, engagement_level
from congruence.table import is_missing

INCONGRUENT = frozenset({IncongruenceType.MINIMIZING.value, IncongruenceType.CONTRADICTION.value})
TYPE_LABELS = tuple(t.value for t in IncongruenceType)


def agreement_row(measure: str, a: Sequence[object], b: Sequence[object], labels: Sequence[object]) -> dict:
    """``{measure, n, agreement_pct, kappa}`` of two aligned label lists (missing pairs dropped)."""
    keep = [(x, y) for x, y in zip(a, b, strict=True) if not is_missing(x) and not is_missing(y)]
    if not keep:
        return {"measure": measure, "n": 0, "agreement_pct": math.nan, "kappa": math.nan}
    xs, ys = [k[0] for k in keep], [k[1] for k in keep]
    kappa = cohens_kappa(xs, ys, labels=labels).kappa
    return {"measure": measure, "n": len(keep), "agreement_pct": percentage_agreement(xs, ys), "kappa": kappa}


def ether_agreement_table(
    rater_labels: Sequence[str | None],
    expert_labels: Sequence[str | None],
    *,
    rater_engagement: Sequence[float | None] | None = None,
    expert_engagement: Sequence[float | None] | None = None,
) -> pd.DataFrame:
    """E-THER Table II from aligned rater and expert labels (and optionally engagement values).

    >>> t = ether_agreement_table(["none", "minimizing", "contradiction", "none"],
    ...                           ["none", "contradiction", "contradiction", "minimizing"])
    >>> t[["measure", "n", "agreement_pct"]].values.tolist()
    [['Overall', 4, 50.0], ['Incong. detection', 4, 75.0], ['Incong. type', 2, 50.0]]
    """
    if len(rater_labels) != len(expert_labels):
        raise ValueError("rater and expert labels must be aligned (same length)")
    for v in (*rater_labels, *expert_labels):
        if not is_missing(v) and v not in TYPE_LABELS:
            raise ValueError(f"unknown incongruence label {v!r}; expected one of {TYPE_LABELS}")

    def detect(v: str | None) -> str | None:
        return None if is_missing(v) else ("incongruent" if v in INCONGRUENT else "congruent")

    both = [
        (r, e)
        for r, e in zip(rater_labels, expert_labels, strict=True)
        if r in INCONGRUENT and e in INCONGRUENT
    ]
    rows = [
        agreement_row("Overall", rater_labels, expert_labels, TYPE_LABELS),
        agreement_row(
            "Incong. detection",
            [detect(v) for v in rater_labels],
            [detect(v) for v in expert_labels],
            ("congruent", "incongruent"),
        ),
        agreement_row("Incong. type", [b[0] for b in both], [b[1] for b in both], sorted(INCONGRUENT)),
    ]
    if rater_engagement is not None and expert_engagement is not None:

        def level(v: float | None) -> str | None:
            return None if is_missing(v) else engagement_level(float(v))  # type: ignore[arg-type]

        rows.append(
            agreement_row(
                "Engagement level",
                [level(v) for v in rater_engagement],
                [level(v) for v in expert_engagement],
                ("low", "moderate", "high"),
            )
        )
    return pd.DataFrame(rows, columns=["measure", "n", "agreement_pct", "kappa"])


def pairwise_kappa(
    ratings: pd.DataFrame,
    *,
    item: str,
    rater: str,
    value: str,
    labels: Sequence[object] | None = None,
    weights: Literal["none", "linear", "quadratic"] = "none",
    min_items: int = 2,
) -> pd.DataFrame:
    """Raters x raters matrix of Cohen's kappa over the items both rated (interventions Figure 6).

    ``ratings`` is long: one row per (item, rater) with the rating in ``value``. The diagonal is
    1; a pair of raters with fewer than ``min_items`` shared items gets NaN. ``labels`` fixes the
    scale (pass 1-5 for Likert ratings so weighted kappa knows the distances).

    >>> df = pd.DataFrame({"item": [1, 2, 3, 1, 2, 3], "rater": list("aaabbb"), "v": [1, 2, 3, 1, 2, 2]})
    >>> pairwise_kappa(df, item="item", rater="rater", value="v", labels=[1, 2, 3]).round(2).values.tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    df = ratings[[item, rater, value]].dropna()
    wide = df.pivot_table(index=item, columns=rater, values=value, aggfunc="first")
    names = sorted(wide.columns, key=str)
    out = pd.DataFrame(math.nan, index=pd.Index(names, name=rater), columns=pd.Index(names, name=rater))
    for r in names:
        out.loc[r, r] = 1.0
    for a, b in itertools.combinations(names, 2):
        both = wide[[a, b]].dropna()
        if len(both) < min_items:
            continue
        scale = labels if labels is not None else sorted(set(both[a]) | set(both[b]), key=str)
        k = cohens_kappa(list(both[a]), list(both[b]), labels=scale, weights=weights).kappa
        out.loc[a, b] = out.loc[b, a] = k
    return out
