"""The contrasting-pair validation set: a person-centred reply against degenerate replies.

``contrast_pairs_dev.json`` was used while designing the degeneracy penalty of the PCT metrics;
``contrast_pairs_heldout.json`` was written at the same time and only ever scored, never read
while designing. Each client turn gives eight pairs: its person-centred reply ("care") against
each of six written degenerate replies and two fixed ones (below).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
SPLITS = ("dev", "heldout")
WRITTEN_KINDS = ("repetition", "echo", "third_person", "off_topic", "directive", "platitude")
FIXED_KINDS = {"very_happy": " ".join(["I am very happy."] * 20), "empty": ""}
KINDS = (*WRITTEN_KINDS, *FIXED_KINDS)
ORDERED_METRICS = ("empathic_authenticity", "responsive_engagement", "pct_adherence")


def load_pairs(split: str) -> pd.DataFrame:
    """One row per (case, kind): ``client``, ``care`` and the degenerate ``response``."""
    data = json.loads((HERE / f"contrast_pairs_{split}.json").read_text(encoding="utf-8"))
    rows = []
    for c in data["cases"]:
        for kind in KINDS:
            bad = FIXED_KINDS[kind] if kind in FIXED_KINDS else c[kind]
            rows.append({"case": c["id"], "kind": kind, "client": c["client"], "care": c["care"], "bad": bad})
    return pd.DataFrame(rows)


def ordered(scorer, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per pair and metric: is the person-centred reply scored above the degenerate one?

    A degenerate reply without a score (empty text: status ``empty_response``) cannot be
    preferred, so the pair counts as ordered when the person-centred reply has a score.
    """
    care = scorer.score(pd.DataFrame({"client": pairs["client"], "response": pairs["care"]}))
    bad = scorer.score(pd.DataFrame({"client": pairs["client"], "response": pairs["bad"]}))
    out = pairs[["case", "kind"]].copy()
    for m in ORDERED_METRICS:
        c = care[m].astype(float).to_numpy()
        b = bad[m].astype(float).to_numpy()
        out[m] = ~pd.isna(c) & (pd.isna(b) | (c > b))
        out[f"{m}_care"] = c
        out[f"{m}_bad"] = b
    return out
