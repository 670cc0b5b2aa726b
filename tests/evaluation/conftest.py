"""Models of the evaluation tests, loaded once per test session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TYPES = ("reflective", "directive", "generic", "performative", "verbose")


@pytest.fixture(scope="session")
def contrast_table() -> pd.DataFrame:
    """The contrasting responses (tests/evaluation/contrast_responses.json), one row per response."""
    data = json.loads((Path(__file__).parent / "contrast_responses.json").read_text(encoding="utf-8"))
    rows = [
        {"case": c["id"], "type": t, "client": c["client"], "response": c[t]}
        for c in data["cases"]
        for t in TYPES
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def pct_scorer():
    """The default PCT scorer: all-MiniLM-L6-v2 mirroring and GloVe 50d congruence vectors."""
    from congruence.evaluation.pct import PCTScorer

    return PCTScorer()


@pytest.fixture(scope="session")
def minilm_bertscore():
    """BERTScore on the packaged MiniLM at the documented layer, rescaled with the shipped baseline."""
    from congruence.evaluation.bertscore import BERTScore

    return BERTScore(model="minilm")
