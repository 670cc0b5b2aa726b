"""Evaluation: PCT metrics (E-THER V-A), BERTScore, statistics, LLM judge and comparison tables.

Importing this package loads no model and no heavy module; the names below import on first use.

>>> from congruence.evaluation import PCTScorer
>>> PCTScorer.__module__
'congruence.evaluation.pct'
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PCTScorer": "congruence.evaluation.pct",
    "BERTScore": "congruence.evaluation.bertscore",
    "LLMJudge": "congruence.evaluation.judge",
    "judge_human_correlation": "congruence.evaluation.judge",
    "system_vs_baseline": "congruence.evaluation.tables",
    "ablation_table": "congruence.evaluation.tables",
    "anova_tukey": "congruence.evaluation.tables",
    "effect_size_plot": "congruence.evaluation.tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'congruence.evaluation' has no attribute {name!r}")
