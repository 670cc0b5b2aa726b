"""LLM-as-judge: G-Eval-style 1-5 ratings of applicability, empathy and comprehensiveness.

The interventions paper (docs/references.md#interventions, section 5.1 and Table 3) had
GPT-4o rate responses on the three criteria of its expert study, following G-Eval (Liu et al.,
2023: criteria, evaluation steps, then a form to fill), and found only weak correlation with
licensed professionals (Pearson r 0.11-0.19) and a lenient bias. These ratings are therefore a
*proxy* of expert judgment, never a substitute; :func:`judge_human_correlation` measures how far
they agree on your own data.

Any object with ``complete(messages, *, temperature, max_tokens, seed) -> str`` works as the
backend (the generation backends of :mod:`congruence.generation.backends` do). Replies are parsed
as JSON or as "Empathy: 4" lines; unparseable replies are retried with a reminder, then reported
as ``None`` with ``judge_status = "unparseable"``. G-Eval's probability weighting needs token
probabilities that chat APIs rarely return; ``samples > 1`` averages several sampled ratings
instead, which G-Eval also describes as an estimate of the same expectation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.evaluation import stats
from congruence.evaluation.pct import CLIENT_ALIASES, RESPONSE_ALIASES, _pick
from congruence.provenance import Kind, Provenance

CRITERIA = ("applicability", "empathy", "comprehensiveness")

#: The statements of the expert study (interventions paper, appendix D, Figure 9).
DEFINITIONS = {
    "applicability": "The intervention technique is relevant and practical for the client's specific "
    "situation and therapeutic goals.",
    "empathy": "The intervention technique demonstrates understanding, compassion, and respect for the "
    "client's feelings and experiences.",
    "comprehensiveness": "The intervention technique addresses the range of issues presented by the client, "
    "considering all significant aspects.",
}

#: G-Eval "evaluation steps" written out for each criterion (G-Eval generates them once by CoT).
STEPS = {
    "applicability": "Read what the client says and what they seem to need. Check whether the response is "
    "relevant to this client's situation and whether what it offers is practical for them.",
    "empathy": "Identify the feelings and experiences the client expresses. Check whether the response shows "
    "it understood them, conveys compassion, and treats the client with respect.",
    "comprehensiveness": "List the issues the client raises. Check how many of them the response addresses "
    "and how deeply, beyond surface acknowledgment.",
}

SYSTEM_PROMPT = (
    "You are an expert evaluator of counselling-style responses. You rate responses carefully and "
    "critically on a 1-5 scale (1 = poor, 5 = exceptional). You only output the requested form."
)


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that turns chat messages into text (structurally the generation backends' protocol)."""

    def complete(
        self, messages: list[dict[str, str]], *, temperature: float, max_tokens: int, seed: int | None
    ) -> str: ...


def build_judge_messages(
    client: str, response: str, *, context: str | None = None, criteria: Sequence[str] = CRITERIA
) -> list[dict[str, str]]:
    """G-Eval-style prompt: task, criteria, evaluation steps, the case, then the form to fill."""
    crit = "\n".join(f"- {c.capitalize()} (1-5): {DEFINITIONS[c]}" for c in criteria)
    steps = "\n".join(f"- {c.capitalize()}: {STEPS[c]}" for c in criteria)
    form = json.dumps({c: "<1-5>" for c in criteria})
    case = (f"Conversation so far:\n{context}\n\n" if context else "") + (
        f"Client: {client}\n\nCounsellor response to evaluate: {response}"
    )
    user = (
        "You will be given a client's words from a counselling-style conversation and one counsellor "
        "response. Rate the response on each criterion.\n\n"
        f"Evaluation criteria:\n{crit}\n\nEvaluation steps:\n{steps}\n\n{case}\n\n"
        f"Evaluation form (integers only). Reply with exactly this JSON object and nothing else:\n{form}"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def _as_rating(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        v = float(value)
    elif isinstance(value, str):
        m = re.match(r"\s*" + _NUMBER + r"\s*(?:/\s*5)?\s*$", value)
        if not m:
            return None
        v = float(m.group(1))
    else:
        return None
    return v if 1.0 <= v <= 5.0 else None


def parse_ratings(text: str, criteria: Sequence[str] = CRITERIA) -> dict[str, float] | None:
    """Ratings in [1, 5] for every criterion from a judge reply, or ``None`` if any is missing.

    Reads the first JSON object that names all criteria (in a code fence or inline, keys in any
    case), else lines such as ``Empathy: 4``, ``**Empathy** - 4/5`` or ``empathy = 4``.

    >>> parse_ratings('{"applicability": 4, "empathy": "5", "comprehensiveness": 3}')
    {'applicability': 4.0, 'empathy': 5.0, 'comprehensiveness': 3.0}
    >>> parse_ratings("Applicability: 2\\n**Empathy**: 4/5\\nComprehensiveness - 3")
    {'applicability': 2.0, 'empathy': 4.0, 'comprehensiveness': 3.0}
    >>> parse_ratings("I would rate this highly.") is None
    True
    """
    if not isinstance(text, str):
        return None
    for m in re.finditer(r"\{[^{}]*\}", text, flags=re.S):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        low = {str(k).strip().lower(): v for k, v in obj.items()}
        vals = {c: _as_rating(low.get(c)) for c in criteria}
        if all(v is not None for v in vals.values()):
            return vals  # type: ignore[return-value]
    out: dict[str, float] = {}
    for c in criteria:
        deco = r"[\s*_\"'`]*"  # markdown emphasis, quotes and spaces around the name
        pat = rf"(?im)\b{re.escape(c)}\b{deco}(?:score|rating)?{deco}[:=\-\u2013]\s*{deco}{_NUMBER}"
        found = [_as_rating(x) for x in re.findall(pat, text)]
        found = [x for x in found if x is not None]
        if not found:
            return None
        out[c] = found[0]  # type: ignore[assignment]
    return out


@dataclass(frozen=True)
class JudgeRating:
    """Ratings of one response (mean over samples), with how they were obtained."""

    ratings: dict[str, float | None]
    status: str  # ok / unparseable / empty_response
    attempts: int
    raw: list[str] = field(default_factory=list)


class LLMJudge:
    """Rates responses with a chat backend, G-Eval style.

    ``samples``: ratings sampled per response and averaged (use temperature > 0 with more than
    one); ``retries``: extra attempts with a format reminder after an unparseable reply.
    """

    def __init__(
        self,
        *,
        backend: ChatBackend,
        criteria: Sequence[str] = CRITERIA,
        temperature: float = 0.0,
        max_tokens: int = 120,
        seed: int | None = 0,
        samples: int = 1,
        retries: int = 2,
    ) -> None:
        if not callable(getattr(backend, "complete", None)):
            raise CongruenceError(
                "The judge backend has no complete(messages, ...) method.",
                "Pass a generation backend, e.g. registry.create('generation.backend', 'openai', ...).",
            )
        unknown = [c for c in criteria if c not in DEFINITIONS]
        if unknown:
            raise CongruenceError(f"Unknown judge criteria {unknown}.", f"Use some of {', '.join(CRITERIA)}.")
        if samples < 1 or retries < 0:
            raise CongruenceError("samples must be >= 1 and retries >= 0.", "Fix the judge settings.")
        self.backend = backend
        self.criteria = tuple(criteria)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.samples = samples
        self.retries = retries

    @property
    def name(self) -> str:
        return str(getattr(self.backend, "name", None) or type(self.backend).__name__)

    def columns(self) -> dict[str, Provenance]:
        note = (
            "LLM-judge rating 1-5 (G-Eval style); weakly correlated with experts in the interventions paper"
        )
        cols = {f"judge_{c}": Provenance(f"llm-judge:{self.name}", Kind.PROXY, note) for c in self.criteria}
        cols["judge_status"] = Provenance(
            f"llm-judge:{self.name}", Kind.MEASUREMENT, "ok / unparseable / empty_response"
        )
        return cols

    def _one_sample(
        self, messages: list[dict[str, str]], seed: int | None
    ) -> tuple[dict[str, float] | None, int, list[str]]:
        raws: list[str] = []
        msgs = list(messages)
        for attempt in range(1, self.retries + 2):
            text = self.backend.complete(
                msgs, temperature=self.temperature, max_tokens=self.max_tokens, seed=seed
            )
            raws.append(text)
            parsed = parse_ratings(text, self.criteria)
            if parsed is not None:
                return parsed, attempt, raws
            form = json.dumps({c: "<1-5>" for c in self.criteria})
            msgs = [
                *messages,
                {"role": "assistant", "content": str(text)},
                {
                    "role": "user",
                    "content": f"Your reply could not be read. Reply with only this JSON object, "
                    f"each value an integer from 1 to 5:\n{form}",
                },
            ]
        return None, self.retries + 1, raws

    def rate(self, client: str, response: str, *, context: str | None = None) -> JudgeRating:
        """Ratings of one response to one client utterance."""
        if not isinstance(response, str) or not response.strip():
            return JudgeRating(dict.fromkeys(self.criteria), "empty_response", 0)
        messages = build_judge_messages(client or "", response, context=context, criteria=self.criteria)
        got: list[dict[str, float]] = []
        attempts, raws = 0, []
        for k in range(self.samples):
            seed = None if self.seed is None else self.seed + k
            parsed, n, r = self._one_sample(messages, seed)
            attempts += n
            raws += r
            if parsed is not None:
                got.append(parsed)
        if not got:
            return JudgeRating(dict.fromkeys(self.criteria), "unparseable", attempts, raws)
        means = {c: float(np.mean([g[c] for g in got])) for c in self.criteria}
        return JudgeRating(means, "ok", attempts, raws)  # type: ignore[arg-type]

    def rate_table(
        self,
        table: pd.DataFrame,
        *,
        client_col: str | None = None,
        response_col: str | None = None,
        context_col: str | None = None,
    ) -> pd.DataFrame:
        """``judge_<criterion>`` and ``judge_status`` for every row of ``table`` (same index)."""
        rcol = _pick(list(table.columns), response_col, RESPONSE_ALIASES, "response")
        if rcol is None:
            raise CongruenceError("The table has no response column.", "Pass response_col=.")
        ccol = _pick(list(table.columns), client_col, CLIENT_ALIASES, "client utterance")
        rows = []
        for _, row in table.iterrows():
            client = row[ccol] if ccol and isinstance(row[ccol], str) else ""
            ctx = row[context_col] if context_col and isinstance(row.get(context_col), str) else None
            r = self.rate(client, row[rcol] if isinstance(row[rcol], str) else "", context=ctx)
            rows.append({**{f"judge_{c}": r.ratings[c] for c in self.criteria}, "judge_status": r.status})
        out = pd.DataFrame(rows, index=table.index, columns=list(self.columns()))
        for c in self.criteria:
            out[f"judge_{c}"] = out[f"judge_{c}"].astype("Float64")
        return out


def judge_human_correlation(
    judge: pd.DataFrame,
    human: pd.DataFrame,
    *,
    on: str | Sequence[str],
    criteria: Sequence[str] = CRITERIA,
    judge_prefix: str = "judge_",
    aggregate: Literal["mean", "none"] = "none",
) -> pd.DataFrame:
    """Pearson, Spearman and Kendall correlations of judge and human ratings per criterion.

    The shape of the interventions paper's Table 3 (criterion x r, rho, tau), with p-values, 95%
    CIs and n. ``judge`` has ``on`` plus ``judge_<criterion>`` columns; ``human`` has ``on`` plus
    ``<criterion>`` columns, one row per (item, rater). ``aggregate="none"`` pairs every human
    rating with the judge's rating of that item; ``"mean"`` averages the raters per item first.
    """
    keys = [on] if isinstance(on, str) else list(on)
    for name, df, cols in (
        ("judge", judge, [f"{judge_prefix}{c}" for c in criteria]),
        ("human", human, list(criteria)),
    ):
        missing = [c for c in [*keys, *cols] if c not in df.columns]
        if missing:
            raise CongruenceError(
                f"The {name} ratings lack columns {missing}.", "Rename the columns or pass on=."
            )
    h = human[[*keys, *criteria]]
    if aggregate == "mean":
        h = h.groupby(keys, as_index=False)[list(criteria)].mean()
    merged = h.merge(judge[[*keys, *(f"{judge_prefix}{c}" for c in criteria)]], on=keys, how="inner")
    rows = []
    for c in criteria:
        x = pd.to_numeric(merged[c], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(merged[f"{judge_prefix}{c}"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        row: dict[str, Any] = {"criterion": c, "n": int(ok.sum())}
        for method, short in (("pearson", "r"), ("spearman", "rho"), ("kendall", "tau")):
            res = stats.correlate(x[ok], y[ok], method=method)  # type: ignore[arg-type]
            row[short] = res.r
            row[f"{short}_p"] = res.p_value
            row[f"{short}_ci_low"] = res.ci_low
            row[f"{short}_ci_high"] = res.ci_high
        row["judge_mean"] = float(y[ok].mean()) if ok.any() else float("nan")
        row["human_mean"] = float(x[ok].mean()) if ok.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
