"""Person-centred therapy (PCT) metrics of E-THER section V-A, each a value in [0, 1].

E-THER (docs/references.md#e-ther, section V-A) describes its metrics in prose; this module turns that prose
into explicit formulas over phrase counts (lexicons in ``congruence/data/pct/*.txt``), a semantic
similarity (all-MiniLM-L6-v2) and word vectors (GloVe 6B 50d). docs/metrics.md lists every formula
and lexicon and the cases where a metric disagrees with its definition.

Notation: ``sat(c, k) = min(1, c / k)`` turns a phrase count ``c`` into [0, 1]; ``k`` is the count
that saturates the component. Counts come from :func:`count_markers`.

These are rule-based *proxies* of PCT qualities, not ratings by trained people and not trained
models: they reward and penalise surface language. The formulas of the paper's authors are not
published, so values are not comparable with E-THER's Tables III-VII.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.evaluation.degeneracy import (
    OFF_TOPIC_LEXICAL_WEIGHT,
    Degeneracy,
    degeneracy,
    mirroring_baseline,
)
from congruence.evaluation.embeddings import (  # noqa: F401 - re-exported: the public names of this module
    Precision,
    SentenceEncoder,
    WordVectors,
    concept_cosines,
    load_congruence_baseline,
    minilm_path,
)
from congruence.evaluation.formulas import (  # noqa: F401 - the formulas stay importable from here
    DIRECTIVE_PENALTY,
    K_ENGAGEMENT,
    K_NATURAL,
    K_PERFORMATIVE,
    WORD_BUDGET,
    brevity,
    concept_similarity_percentile,
    empathic_authenticity,
    empathic_understanding,
    lexical_mirroring,
    pct_adherence,
    question_score,
    responsive_engagement,
    rogers_core_conditions,
    saturate,
    therapeutic_concision,
    therapeutic_congruence,
    unconditional_positive_regard,
)
from congruence.evaluation.lexicon import (
    LEXICON_DIR,
    Lexicon,
    load_all,
    normalize,
    read_words,
)
from congruence.provenance import Kind, Provenance

PCT_VERSION = "pct-v2"  # v2: the degeneracy factor on EA, RE and PCT Adherence


# --- counting ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarkerCounts:
    """Lexicon counts and sizes of one response (measurements on the text)."""

    n_words: int
    n_sentences: int
    n_questions: int
    n_open_questions: int
    n_exclamations: int
    natural: int
    engagement: int
    performative: int
    situational: int
    clarity: int
    purposeful: int
    empathy: int
    curiosity: int
    acceptance: int
    directive: int
    authenticity: int


_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_RAW_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’]*")


@cache
def _question_starts(starts: Lexicon) -> tuple[tuple[str, ...], tuple[str, ...]]:
    markers = tuple(sorted((normalize(x) for x in starts.markers), key=len, reverse=True))
    return markers, tuple(normalize(x) for x in starts.anywhere)


def _open_question(sentence: str, starts: Lexicon) -> bool:
    markers, opens = _question_starts(starts)
    s = sentence.strip(" \"'()-,")
    changed = True
    while changed:  # peel leading discourse markers ("so, i am wondering what ...")
        changed = False
        for m in markers:
            if s.startswith(m + " ") or s.startswith(m + ","):
                s = s[len(m) :].lstrip(" ,")
                changed = True
    return any(s == p or s.startswith(p + " ") for p in opens)


def count_markers(
    response: str, lexicons: dict[str, Lexicon], *, normalized: str | None = None
) -> MarkerCounts:
    """Count every lexicon's phrases, words, sentences and (open) questions in ``response``.

    ``normalized``: ``normalize(response)`` when the caller already has it.
    """
    norm = normalize(response) if normalized is None else normalized
    sentences = [s.strip() for s in _SENTENCE.findall(norm) if any(ch.isalnum() for ch in s)]
    questions = [s for s in sentences if s.endswith("?")]
    n_open = sum(_open_question(q, lexicons["open_question_starts"]) for q in questions)
    n_excl = response.count("!")
    return MarkerCounts(
        n_words=len(_RAW_WORD.findall(response)),
        n_sentences=len(sentences),
        n_questions=len(questions),
        n_open_questions=n_open,
        n_exclamations=n_excl,
        natural=lexicons["natural_conversational"].count(norm),
        engagement=lexicons["authentic_engagement"].count(norm),
        performative=lexicons["performative"].count(norm) + n_excl,
        situational=lexicons["situational"].count(norm),
        clarity=lexicons["clarity"].count(norm),
        purposeful=lexicons["purposeful"].count(norm),
        empathy=lexicons["empathy"].count(norm),
        curiosity=lexicons["curiosity"].count(norm),
        acceptance=lexicons["acceptance"].count(norm),
        directive=lexicons["directive"].count(norm),
        authenticity=lexicons["authenticity"].count(norm),
    )


@dataclass(frozen=True)
class PCTScores:
    """All PCT metrics of one response; ``None`` where an input was missing (see ``status``)."""

    empathic_authenticity: float | None
    responsive_engagement: float | None
    therapeutic_concision: float | None
    empathic_understanding: float | None
    unconditional_positive_regard: float | None
    therapeutic_congruence: float | None
    rogers_core_conditions: float | None
    pct_adherence: float | None
    mirroring_similarity: float | None
    congruence_similarity: float | None
    degeneracy: float | None
    degeneracy_reasons: str | None
    status: str


def score_counts(
    counts: MarkerCounts,
    *,
    mirroring: float | None,
    concept_similarity: float | None,
    penalty: Degeneracy | None = None,
) -> PCTScores:
    """Apply every formula to one response's counts (pure; no model).

    ``penalty`` (:func:`congruence.evaluation.degeneracy.degeneracy`) scales the three metrics that
    must not prefer junk to a reply:

    .. math::

        EA = g \\cdot EA_0, \\quad RE = g \\cdot RE_0, \\quad PCTA = g \\cdot (R + EA_0 + TC) / 3

    with ``g = prod(1 - p_i)`` (1 without a penalty, the formulas of pct-v1). The other metrics
    keep their definitions; ``degeneracy = 1 - g``.
    """
    g = penalty.factor if penalty is not None else 1.0
    ea = empathic_authenticity(counts.natural, counts.engagement, counts.performative)
    tc = therapeutic_concision(
        counts.clarity,
        counts.purposeful,
        counts.n_questions,
        counts.n_open_questions,
        counts.n_sentences,
        counts.n_words,
    )
    eu = empathic_understanding(counts.empathy, counts.curiosity)
    upr = unconditional_positive_regard(counts.acceptance, counts.directive)
    cg = therapeutic_congruence(counts.authenticity, concept_similarity)
    rogers = rogers_core_conditions(eu, upr, cg)
    re_ = None if mirroring is None else g * responsive_engagement(counts.situational, mirroring)
    return PCTScores(
        empathic_authenticity=g * ea,
        responsive_engagement=re_,
        therapeutic_concision=tc,
        empathic_understanding=eu,
        unconditional_positive_regard=upr,
        therapeutic_congruence=cg,
        rogers_core_conditions=rogers,
        pct_adherence=g * pct_adherence(rogers, ea, tc),
        mirroring_similarity=mirroring,
        congruence_similarity=concept_similarity,
        degeneracy=1.0 - g,
        degeneracy_reasons=penalty.reasons if penalty is not None else "",
        status="ok" if mirroring is not None else "no_client_utterance",
    )


_SCORE_FIELDS = tuple(f.name for f in fields(PCTScores) if f.name != "status")


# --- the scorer ----------------------------------------------------------------------------------
METRIC_COLUMNS = (
    "empathic_authenticity",
    "responsive_engagement",
    "therapeutic_concision",
    "empathic_understanding",
    "unconditional_positive_regard",
    "therapeutic_congruence",
    "rogers_core_conditions",
    "pct_adherence",
)
HEADLINE_METRICS = (
    "empathic_authenticity",
    "responsive_engagement",
    "therapeutic_concision",
    "pct_adherence",
)
COUNT_COLUMNS = ("n_words", "n_sentences", "n_questions", "n_open_questions", "n_directive")

CLIENT_ALIASES = ("client", "client_text", "client_utterance", "utterance", "context")
RESPONSE_ALIASES = ("response", "counsellor", "counselor", "reply", "generated", "output")


def _pick(columns: Sequence[str], wanted: str | None, aliases: Sequence[str], what: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise CongruenceError(
                f"The table has no {what} column '{wanted}'.",
                f"Choose one of: {', '.join(map(str, columns))}.",
            )
        return wanted
    return next((a for a in aliases if a in columns), None)


class PCTScorer:
    """Applies the PCT metrics to a table of (client utterance, response) rows.

    >>> scorer = PCTScorer(similarity="lexical", word_vectors="none")
    >>> df = pd.DataFrame({"client": ["I keep fighting with my brother."],
    ...                    "response": ["It sounds like the fighting with your brother wears you down."]})
    >>> round(float(scorer.score(df)["empathic_understanding"].iloc[0]), 2)
    0.5

    ``similarity``: ``"minilm"`` (cosine of all-MiniLM-L6-v2 embeddings) or ``"lexical"`` (shared
    content words, fast); ``word_vectors``: ``"glove"``, ``"spacy"`` or ``"none"`` (congruence from
    markers only). Models load on first use. ``precision``: the MiniLM pass
    (:class:`~congruence.evaluation.embeddings.SentenceEncoder`); ``encoder``: one shared with
    BERTScore (:class:`~congruence.evaluation.suite.EvaluationSuite` does this).
    """

    def __init__(
        self,
        *,
        similarity: Literal["minilm", "lexical"] = "minilm",
        word_vectors: Literal["glove", "spacy", "none"] = "glove",
        encoder_path: str | Path | None = None,
        lexicon_dir: str | Path | None = None,
        batch_size: int = 16,
        device: str = "cpu",
        precision: Precision = "auto",
        encoder: SentenceEncoder | None = None,
    ) -> None:
        if similarity not in ("minilm", "lexical"):
            raise CongruenceError(f"Unknown similarity '{similarity}'.", "Use 'minilm' or 'lexical'.")
        if word_vectors not in ("glove", "spacy", "none"):
            raise CongruenceError(
                f"Unknown word vectors '{word_vectors}'.", "Use 'glove', 'spacy' or 'none'."
            )
        self.similarity = similarity
        self.word_vectors = word_vectors
        self.lexicon_dir = Path(lexicon_dir) if lexicon_dir is not None else None
        self.lexicons = load_all(self.lexicon_dir)
        self.stopwords = frozenset(read_words("stopwords", self.lexicon_dir))
        self.concepts = read_words("congruence_concepts", self.lexicon_dir)
        if encoder is not None and not encoder.sentences:
            raise CongruenceError(
                "The shared encoder computes no sentence vectors.", "Build it with sentences=True."
            )
        self._encoder = (
            (
                encoder
                or SentenceEncoder(
                    path=encoder_path, batch_size=batch_size, device=device, precision=precision
                )
            )
            if similarity == "minilm"
            else None
        )
        self._vectors = WordVectors(source=word_vectors) if word_vectors != "none" else None
        self._encoder_name = Path(encoder_path).name if encoder_path else "all-MiniLM-L6-v2"
        # the off-topic reference is measured for the packaged MiniLM and the lexical overlap only
        self._mirroring_baseline = (
            mirroring_baseline(similarity) if similarity == "lexical" or encoder_path is None else None
        )

    def config(self) -> dict[str, Any]:
        return {
            "version": PCT_VERSION,
            "similarity": self.similarity,
            "encoder": self._encoder_name if self._encoder else None,
            "encoder_precision": self._encoder.precision if self._encoder else None,
            "word_vectors": self._vectors.name if self._vectors else None,
            "lexicon_dir": str(self.lexicon_dir or LEXICON_DIR),
        }

    def columns(self) -> dict[str, Provenance]:
        """Every output column with its provenance."""
        lex = f"{PCT_VERSION} lexicons"
        mirror = (
            f"{self._encoder_name} cosine ({self._encoder.precision})" if self._encoder else "lexical overlap"
        )
        vec = self._vectors.name if self._vectors else None
        note = "rule-based PCT proxy (E-THER V-A); not a clinical rating"
        p = Kind.PROXY
        cols = {
            "empathic_authenticity": Provenance(lex, p, note),
            "responsive_engagement": Provenance(f"{lex} + {mirror}", p, note),
            "therapeutic_concision": Provenance(lex, p, note),
            "empathic_understanding": Provenance(lex, p, note),
            "unconditional_positive_regard": Provenance(lex, p, note),
            "therapeutic_congruence": Provenance(f"{lex} + {vec}" if vec else lex, p, note),
            "rogers_core_conditions": Provenance(lex + (f" + {vec}" if vec else ""), p, note),
            "pct_adherence": Provenance(lex + (f" + {vec}" if vec else ""), p, note),
            "mirroring_similarity": Provenance(
                mirror,
                Kind.MEASUREMENT,
                "cosine similarity of response and client utterance"
                if self._encoder
                else "share of the client's content words repeated",
            ),
            "congruence_similarity": Provenance(
                f"{vec} concept centroid" if vec else "none",
                Kind.PROXY,
                "percentile of the concept cosine against reference sentences",
            ),
            "degeneracy": Provenance(
                f"{PCT_VERSION} degeneracy",
                Kind.MEASUREMENT,
                "1 - g: repetition, echo of the client, role talk, scaffolding, length, directive, off-topic",
            ),
            "degeneracy_reasons": Provenance(
                f"{PCT_VERSION} degeneracy", Kind.MEASUREMENT, "the penalties that fired, ';'-separated"
            ),
            "pct_status": Provenance(
                PCT_VERSION, Kind.MEASUREMENT, "ok / no_client_utterance / empty_response"
            ),
        }
        for c in COUNT_COLUMNS:
            cols[c] = Provenance(PCT_VERSION, Kind.MEASUREMENT, "count on the response text")
        return cols

    def counts(self, responses: Sequence[str]) -> list[MarkerCounts]:
        return [count_markers(r, self.lexicons) for r in responses]

    def _mirroring(
        self, clients: Sequence[str], responses: Sequence[str], norms: Sequence[tuple[str, str]]
    ) -> list[float]:
        if not clients:
            return []
        if self._encoder is None:
            return [
                lexical_mirroring(c, r, self.stopwords, normalized=n)
                for c, r, n in zip(clients, responses, norms, strict=True)
            ]
        ec = self._encoder.encode(list(clients))
        er = self._encoder.encode(list(responses))
        return [float(x) for x in np.sum(ec * er, axis=1)]

    def _concepts(self, responses: Sequence[str]) -> list[float | None]:
        if self._vectors is None or not responses:
            return [None] * len(responses)
        mean, std = load_congruence_baseline(self._vectors.name)
        cos = concept_cosines(responses, self._vectors, self.concepts, self.stopwords)
        return [
            None if not np.isfinite(c) else concept_similarity_percentile(float(c), mean, std) for c in cos
        ]

    def score_texts(
        self, responses: Sequence[str | None], clients: Sequence[str | None] | None = None
    ) -> pd.DataFrame:
        """Score parallel lists of responses and client utterances (``None``: missing)."""
        n = len(responses)
        clients = list(clients) if clients is not None else [None] * n
        if len(clients) != n:
            raise CongruenceError(
                "responses and clients differ in length.", "Pass one client utterance per response."
            )
        ok = [i for i, r in enumerate(responses) if isinstance(r, str) and r.strip()]
        # each text is normalised once (clients often repeat: one per system in a comparison)
        norm_r = {i: normalize(responses[i]) for i in ok}  # type: ignore[arg-type]
        norm_c = {c: normalize(c) for c in dict.fromkeys(clients) if isinstance(c, str) and c.strip()}
        with_client = [i for i in ok if isinstance(clients[i], str) and clients[i].strip()]
        mirror = dict(
            zip(
                with_client,
                self._mirroring(
                    [clients[i] for i in with_client],
                    [responses[i] for i in with_client],
                    [(norm_c[clients[i]], norm_r[i]) for i in with_client],  # type: ignore[index]
                ),
                strict=True,
            )
        )
        concept = dict(zip(ok, self._concepts([responses[i] for i in ok]), strict=True))
        rows: list[dict[str, Any]] = []
        for i in range(n):
            if i not in concept:
                row: dict[str, Any] = dict.fromkeys(self.columns(), None)
                row["pct_status"] = "empty_response"
                rows.append(row)
                continue
            c = count_markers(responses[i], self.lexicons, normalized=norm_r[i])  # type: ignore[arg-type]
            if c.n_words == 0:  # punctuation only: nothing to score
                row = dict.fromkeys(self.columns(), None)
                row["pct_status"] = "empty_response"
                rows.append(row)
                continue
            pen = degeneracy(
                responses[i],  # type: ignore[arg-type]
                clients[i],
                n_words=c.n_words,
                directive=c.directive,
                similarity=mirror.get(i),
                baseline=self._mirroring_baseline,
                off_topic_weight=OFF_TOPIC_LEXICAL_WEIGHT if self._encoder is None else 1.0,
                normalized=norm_r[i],
                normalized_client=norm_c.get(clients[i]) if clients[i] is not None else None,  # type: ignore[arg-type]
            )
            s = score_counts(c, mirroring=mirror.get(i), concept_similarity=concept[i], penalty=pen)
            row = {f: getattr(s, f) for f in _SCORE_FIELDS}
            row["pct_status"] = s.status
            row.update(
                n_words=c.n_words,
                n_sentences=c.n_sentences,
                n_questions=c.n_questions,
                n_open_questions=c.n_open_questions,
                n_directive=c.directive,
            )
            rows.append(row)
        out = pd.DataFrame(rows, columns=list(self.columns()))
        for col in (*METRIC_COLUMNS, "mirroring_similarity", "congruence_similarity", "degeneracy"):
            out[col] = out[col].astype("Float64")
        for col in COUNT_COLUMNS:
            out[col] = out[col].astype("Int64")
        return out

    def score(
        self, table: pd.DataFrame, *, client_col: str | None = None, response_col: str | None = None
    ) -> pd.DataFrame:
        """Metric columns for every row of ``table`` (same index).

        The client and response columns are found by name (``client`` / ``client_utterance`` /
        ..., ``response`` / ``reply`` / ...) unless given.
        """
        rcol = _pick(list(table.columns), response_col, RESPONSE_ALIASES, "response")
        if rcol is None:
            raise CongruenceError(
                "The table has no response column.",
                f"Name it one of {', '.join(RESPONSE_ALIASES)} or pass response_col= (CLI: --response-col).",
            )
        ccol = _pick(list(table.columns), client_col, CLIENT_ALIASES, "client utterance")
        responses = [r if isinstance(r, str) else None for r in table[rcol].tolist()]
        clients = [c if isinstance(c, str) else None for c in table[ccol].tolist()] if ccol else None
        out = self.score_texts(responses, clients)
        out.index = table.index
        return out


def scores_as_dict(s: PCTScores) -> dict[str, Any]:
    return asdict(s)
