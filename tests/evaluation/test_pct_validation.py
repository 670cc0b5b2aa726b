"""Do the PCT metrics order contrasting responses to the same client as their definitions say?

Eight client utterances, each answered five ways (tests/evaluation/contrast_responses.json):
reflective and non-directive, directive, generic, performative, and verbose. Each expectation
below follows from a metric's definition (docs/metrics.md). The responses were written before the
metrics were run on them and nothing was tuned afterwards: where a metric disagrees with its
definition on a case, the case is listed in ``KNOWN_DISAGREEMENTS`` and explained in
docs/metrics.md ("Known disagreements"). The test checks the list is exact, so a change in the
metrics that fixes or adds a disagreement fails until the list and the docs are updated.
"""

from __future__ import annotations

import pandas as pd
import pytest

from congruence.evaluation.pct import METRIC_COLUMNS

# (metric, should score higher, should score lower)
EXPECTATIONS = [
    ("empathic_authenticity", "reflective", "performative"),
    ("empathic_authenticity", "generic", "performative"),
    ("responsive_engagement", "reflective", "generic"),
    ("responsive_engagement", "reflective", "performative"),
    ("therapeutic_concision", "reflective", "verbose"),
    ("therapeutic_concision", "reflective", "performative"),
    ("therapeutic_concision", "reflective", "directive"),
    ("empathic_understanding", "reflective", "directive"),
    ("empathic_understanding", "reflective", "performative"),
    ("empathic_understanding", "reflective", "generic"),
    ("unconditional_positive_regard", "reflective", "directive"),
    ("unconditional_positive_regard", "reflective", "verbose"),
    ("unconditional_positive_regard", "generic", "directive"),
    ("unconditional_positive_regard", "performative", "directive"),
    ("therapeutic_congruence", "reflective", "performative"),
    ("pct_adherence", "reflective", "directive"),
    ("pct_adherence", "reflective", "generic"),
    ("pct_adherence", "reflective", "performative"),
    ("pct_adherence", "reflective", "verbose"),
]

# cases where the ordering fails, with the reason (docs/metrics.md, "Known disagreements")
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], set[str]] = {
    # reflective replies that invite without a question mark ("I'm wondering what ... is like.")
    # or ask nothing earn no question credit; "exactly" as an intensifier counts as clarity
    ("therapeutic_concision", "reflective", "verbose"): {"dog", "move", "sister"},
    ("therapeutic_concision", "reflective", "performative"): {"dog", "move", "sister"},
    ("therapeutic_concision", "reflective", "directive"): {"dog", "move", "sister"},
    # reflections in the client's own words ("What's that emptiness like?") match no stock stem,
    # while "how you feel" inside a stock phrase or "How do you feel about it?" does
    ("empathic_understanding", "reflective", "directive"): {"exam", "kids", "promotion"},
    ("empathic_understanding", "reflective", "performative"): {"dog", "exam", "kids", "promotion"},
    ("empathic_understanding", "reflective", "generic"): {"exam", "kids", "promotion"},
    # lexical, not pragmatic: "Take care of yourself." is a sentence-initial imperative and
    # "you should be so proud" contains "you should"
    ("unconditional_positive_regard", "generic", "directive"): {"dog"},
    ("unconditional_positive_regard", "performative", "directive"): {"promotion"},
    # GloVe puts "truly", "deeply", "absolutely" near "sincere" / "genuine": the concept
    # similarity rewards performative intensifiers
    ("therapeutic_congruence", "reflective", "performative"): {
        "dog", "exam", "kids", "mother", "move", "promotion", "sister",
    },
}  # fmt: skip

# expectations that fail even on the mean over the eight cases
KNOWN_MEAN_DISAGREEMENTS = {("therapeutic_congruence", "reflective", "performative")}


@pytest.fixture(scope="module")
def scored(contrast_table: pd.DataFrame, pct_scorer) -> pd.DataFrame:
    return pd.concat([contrast_table, pct_scorer.score(contrast_table)], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize(("metric", "better", "worse"), EXPECTATIONS)
def test_metric_orders_contrasting_responses(
    scored: pd.DataFrame, metric: str, better: str, worse: str
) -> None:
    table = scored.pivot(index="case", columns="type", values=metric).astype(float)
    failing = {case for case in table.index if not table.at[case, better] > table.at[case, worse]}
    assert failing == KNOWN_DISAGREEMENTS.get((metric, better, worse), set()), table[[better, worse]]
    mean_ok = table[better].mean() > table[worse].mean()
    assert mean_ok != ((metric, better, worse) in KNOWN_MEAN_DISAGREEMENTS)


@pytest.mark.slow
def test_reflective_responses_lead_the_composite(scored: pd.DataFrame) -> None:
    means = scored.groupby("type")["pct_adherence"].mean()
    assert means.idxmax() == "reflective"
    assert means["performative"] < means["generic"]
    assert scored[list(METRIC_COLUMNS)].astype(float).apply(lambda c: c.between(0, 1).all()).all()
    assert (scored["pct_status"] == "ok").all()
