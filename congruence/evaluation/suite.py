"""The evaluation suite: PCT metrics, BERTScore and an optional LLM judge over a responses table.

Used by ``congruence evaluate`` and by the training ablations (one :class:`EvaluationSuite`
scores every condition, its models loaded once). :func:`load_responses` reads what the project's
own stages write, so ``evaluate`` needs no flags for them:

- an analysis folder of ``congruence analyze`` or its ``turns.parquet`` with replies
  (``response_text``; the client's words are ``text``; rows without a reply are not client turns);
- the JSON Lines of ``congruence respond --out`` (records ``{"key", "row": {...}}``); they hold the
  reply, not the client's words, so metrics that need them (Responsive Engagement, BERTScore) are
  missing unless the turn table is evaluated instead;
- any table with a response column (``response``, ``reply``, ...) and a client column.

Replies whose ``response_status`` is not ``generated`` (failed, safe message, no text) are not
model replies worth scoring: they are skipped and counted, or kept with ``include_failed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from congruence.errors import CongruenceError
from congruence.evaluation.embeddings import Precision, SentenceEncoder, minilm_path
from congruence.evaluation.pct import CLIENT_ALIASES, HEADLINE_METRICS, RESPONSE_ALIASES, PCTScorer
from congruence.provenance import Provenance
from congruence.table import read_table

STATUS_COL = "response_status"
#: Rows scored at a time: their texts (at most 2 per row) fit the shared encoder's cache.
CHUNK_ROWS = 1024
GENERATED = "generated"


@dataclass(frozen=True)
class Responses:
    """A responses table ready to score, the columns chosen, and what was left out."""

    table: pd.DataFrame
    response_col: str
    client_col: str | None
    source: str  # "turn table", "respond --out", "table"
    skipped: dict[str, int]  # response_status -> rows skipped

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def _respond_records(df: pd.DataFrame) -> pd.DataFrame:
    """Flatten ``respond --out`` records: the ``row`` columns plus session_id / turn_index from the key."""
    rows = pd.DataFrame([r if isinstance(r, dict) else {} for r in df["row"]], index=df.index)
    key = df["key"].astype(str)
    parts = key.str.rsplit("#", n=1, expand=True)
    out = pd.concat([df[["key"]], rows], axis=1)
    if parts.shape[1] == 2:
        out.insert(1, "session_id", parts[0].where(parts[0] != "", None))
        out.insert(2, "turn_index", pd.to_numeric(parts[1], errors="coerce").astype("Int64"))
    return out


def _choose(
    columns: list[str], wanted: str | None, aliases: tuple[str, ...], flag: str, what: str
) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise CongruenceError(
                f"The table has no {what} column '{wanted}'.",
                f"Pass {flag} with one of: {', '.join(map(str, columns))}.",
            )
        return wanted
    return next((a for a in aliases if a in columns), None)


def load_responses(
    path: str | Path | pd.DataFrame,
    *,
    response_col: str | None = None,
    client_col: str | None = None,
    include_failed: bool = False,
) -> Responses:
    """Read and recognise a responses table (see the module docstring); errors name the CLI flags."""
    df = path if isinstance(path, pd.DataFrame) else read_table(path)
    source = "table"
    if {"key", "row"} <= set(df.columns):
        df, source = _respond_records(df), "respond --out"
    elif "response_text" in df.columns and STATUS_COL in df.columns:
        df, source = df[df[STATUS_COL].notna()], "turn table"
    cols = [str(c) for c in df.columns]
    rcol = _choose(cols, response_col, ("response_text", *RESPONSE_ALIASES), "--response-col", "response")
    if rcol is None:
        raise CongruenceError(
            "The table has no response column.",
            f"Name it one of {', '.join(RESPONSE_ALIASES)}, or pass --response-col "
            f"(columns: {', '.join(cols)}).",
        )
    client_aliases = ("text", *CLIENT_ALIASES) if source == "turn table" else CLIENT_ALIASES
    ccol = _choose(cols, client_col, client_aliases, "--client-col", "client utterance")
    skipped: dict[str, int] = {}
    if STATUS_COL in df.columns and not include_failed:
        status = df[STATUS_COL].fillna("none").astype(str)
        bad = status != GENERATED
        skipped = {str(k): int(v) for k, v in status[bad].value_counts().items()}
        df = df[~bad]
    return Responses(df.reset_index(drop=True), rcol, ccol, source, skipped)


class EvaluationSuite:
    """PCT metrics, BERTScore against the client's words and an optional judge; models load once."""

    def __init__(
        self,
        *,
        similarity: str = "minilm",
        word_vectors: str = "glove",
        bertscore: bool = True,
        bertscore_model: str = "auto",
        bertscore_layers: int | None = None,
        judge: Any = None,
        precision: Precision = "auto",
    ) -> None:
        shared = None
        self.bertscore = None
        if bertscore:
            from congruence.evaluation.bertscore import BERTScore, resolve_settings

            settings = resolve_settings(bertscore_model, num_layers=bertscore_layers)
            if similarity == "minilm" and settings.model_path.resolve() == minilm_path().resolve():
                # mirroring and BERTScore read the same MiniLM: one forward pass per text for both
                shared = SentenceEncoder(token_layer=settings.num_layers, precision=precision)
            self.bertscore = BERTScore(
                model=bertscore_model, num_layers=bertscore_layers, precision=precision, encoder=shared
            )
        self.pct = PCTScorer(
            similarity=similarity,  # type: ignore[arg-type]
            word_vectors=word_vectors,  # type: ignore[arg-type]
            precision=precision,
            encoder=shared,
        )
        self.judge = judge

    def columns(self) -> dict[str, Provenance]:
        """Every score column with its provenance."""
        cols = dict(self.pct.columns())
        if self.bertscore is not None:
            cols.update(self.bertscore.columns())
        if self.judge is not None:
            cols.update(self.judge.columns())
        return cols

    def metrics(self) -> list[str]:
        """The headline metrics: E-THER's four, plus BERTScore F1 when computed."""
        return [*HEADLINE_METRICS, *(["bertscore_f1"] if self.bertscore is not None else [])]

    def score(
        self, table: pd.DataFrame, *, client_col: str | None = None, response_col: str | None = None
    ) -> pd.DataFrame:
        """The input columns plus every score column (same index)."""
        clash = [c for c in self.pct.columns() if c in table.columns]
        if clash:
            raise CongruenceError(
                f"The input already has score columns {clash}.",
                "Evaluate the raw responses, not a scored table.",
            )
        # in chunks, so that the encoder's cache still holds a chunk's texts when BERTScore reads them
        scored = []
        for start in range(0, max(len(table), 1), CHUNK_ROWS):  # an empty table: one empty chunk
            chunk = table.iloc[start : start + CHUNK_ROWS]
            cols = [self.pct.score(chunk, client_col=client_col, response_col=response_col)]
            if self.bertscore is not None:
                cols.append(
                    self.bertscore.score_table(chunk, client_col=client_col, response_col=response_col)
                )
            scored.append(pd.concat(cols, axis=1))
        parts = [table, pd.concat(scored)]
        if self.judge is not None:
            parts.append(self.judge.rate_table(table, client_col=client_col, response_col=response_col))
        return pd.concat(parts, axis=1)


def evaluate_table(
    table: pd.DataFrame,
    *,
    client_col: str | None = None,
    response_col: str | None = None,
    similarity: str = "minilm",
    word_vectors: str = "glove",
    bertscore: bool = True,
    bertscore_model: str = "auto",
    bertscore_layers: int | None = None,
    judge: Any = None,
    precision: Precision = "auto",
) -> tuple[pd.DataFrame, dict[str, Provenance]]:
    """Score a responses table: the input columns plus PCT, BERTScore and judge columns, with provenance."""
    suite = EvaluationSuite(
        similarity=similarity,
        word_vectors=word_vectors,
        bertscore=bertscore,
        bertscore_model=bertscore_model,
        bertscore_layers=bertscore_layers,
        judge=judge,
        precision=precision,
    )
    return suite.score(table, client_col=client_col, response_col=response_col), suite.columns()


def summarize(scores: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean, SD (ddof 1) and n of each metric column, missing values dropped."""
    from congruence.evaluation import stats

    rows = []
    for m in metrics:
        v = pd.to_numeric(scores[m], errors="coerce").dropna()
        if v.empty:
            rows.append({"metric": m, "mean": float("nan"), "sd": float("nan"), "n": 0})
            continue
        s = stats.describe(v.to_numpy(dtype=float))
        rows.append({"metric": m, "mean": s.mean, "sd": s.sd, "n": s.n})
    return pd.DataFrame(rows)
