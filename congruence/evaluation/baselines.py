"""Baselines the project computes itself from its reference sentences.

- BERTScore rescaling baseline (Zhang et al., 2020, section 3): the mean P, R and F1 of random
  pairs of *unrelated* sentences, per layer, written in bert_score's format (``LAYER,P,R,F``, one
  row per layer 0..L). bert_score's own baselines used a million Common Crawl pairs; ours use
  the reference sentences in ``congruence/data/pct/reference_sentences.txt`` (client talk,
  counsellor replies and everyday sentences), so the rescaled scores say "more similar than two
  unrelated sentences of this register".
- Mirroring baseline: mean and SD of the client-response similarity (MiniLM cosine, lexical
  overlap) of random unrelated pairs, the reference of the off-topic penalty
  (:func:`congruence.evaluation.degeneracy.off_topic_penalty`).
- Congruence concept baseline: the mean and SD of the cosine between a sentence's mean word vector
  and the congruence concept centroid over the same sentences (see
  :func:`congruence.evaluation.pct.concept_similarity_percentile`).

Regenerate the shipped files with::

    python -m congruence.evaluation.baselines all
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from congruence.evaluation.lexicon import LEXICON_DIR, read_words


def reference_sentences(path: Path | None = None) -> list[str]:
    """The shipped reference sentences (one per line, ``#`` comments skipped)."""
    p = path or LEXICON_DIR / "reference_sentences.txt"
    return [
        ln.strip()
        for ln in p.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]


def random_pairs(n_sentences: int, n_pairs: int, seed: int = 0) -> np.ndarray:
    """(n_pairs, 2) indices of distinct sentences, drawn uniformly without self-pairs."""
    if n_sentences < 2:
        raise ValueError("need at least two sentences")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_sentences, size=n_pairs)
    b = (a + rng.integers(1, n_sentences, size=n_pairs)) % n_sentences  # never equal to a
    return np.stack([a, b], axis=1)


def compute_bertscore_baseline(
    sentences: Sequence[str],
    *,
    model_path: str | Path,
    n_pairs: int = 4000,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
) -> pd.DataFrame:
    """Per-layer mean BERTScore of random unrelated pairs, in bert_score's baseline format."""
    import torch

    from congruence.evaluation.bertscore import make_scorer

    cfg = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8"))
    n_layers = int(cfg["num_hidden_layers"])
    scorer = make_scorer(model_path, num_layers=n_layers, all_layers=True, device=device)
    idx = random_pairs(len(sentences), n_pairs, seed)
    cands = [sentences[i] for i in idx[:, 0]]
    refs = [sentences[j] for j in idx[:, 1]]
    with torch.inference_mode():
        p, r, f = scorer.score(cands, refs, batch_size=batch_size)  # each (layers + 1, n_pairs)
    return pd.DataFrame(
        {
            "LAYER": np.arange(n_layers + 1),
            "P": p.mean(dim=1).numpy(),
            "R": r.mean(dim=1).numpy(),
            "F": f.mean(dim=1).numpy(),
        }
    )


def compute_congruence_baseline(sentences: Sequence[str], *, source: str = "glove") -> dict[str, float]:
    """Mean and SD of the concept cosine (:func:`~congruence.evaluation.pct.concept_cosines`)."""
    from congruence.evaluation.pct import WordVectors, concept_cosines

    vectors = WordVectors(source=source)  # type: ignore[arg-type]
    cos = concept_cosines(
        sentences, vectors, read_words("congruence_concepts"), frozenset(read_words("stopwords"))
    )
    cos = cos[np.isfinite(cos)]
    return {"mean": float(cos.mean()), "std": float(cos.std(ddof=1)), "n": int(cos.size)}


def compute_mirroring_baseline(sentences: Sequence[str], *, n_pairs: int = 4000, seed: int = 0) -> dict:
    """Mean and SD of both mirroring similarities over random pairs of unrelated sentences.

    The reference point of the off-topic penalty (:func:`congruence.evaluation.degeneracy.off_topic_penalty`).
    """
    from congruence.evaluation.embeddings import SentenceEncoder
    from congruence.evaluation.pct import lexical_mirroring

    idx = random_pairs(len(sentences), n_pairs, seed)
    emb = SentenceEncoder(precision="float32").encode(list(sentences))  # the reference: float32
    cos = np.sum(emb[idx[:, 0]] * emb[idx[:, 1]], axis=1)
    stop = frozenset(read_words("stopwords"))
    lex = np.array([lexical_mirroring(sentences[a], sentences[b], stop) for a, b in idx])
    return {
        name: {"mean": float(v.mean()), "std": float(v.std(ddof=1)), "n": int(v.size)}
        for name, v in (("minilm", cos), ("lexical", lex))
    }


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - maintenance script
    from congruence.evaluation.bertscore import BASELINE_DIR, minilm_baseline_path
    from congruence.evaluation.pct import minilm_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("which", choices=["bertscore", "congruence", "mirroring", "all"])
    ap.add_argument("--pairs", type=int, default=4000)
    args = ap.parse_args(argv)
    sents = reference_sentences()
    if args.which in ("bertscore", "all"):
        df = compute_bertscore_baseline(sents, model_path=minilm_path(), n_pairs=args.pairs)
        BASELINE_DIR.mkdir(parents=True, exist_ok=True)
        df.to_csv(minilm_baseline_path(), index=False)
        print(df.to_string(index=False))
    if args.which in ("congruence", "all"):
        out = {}
        for source, name in (("glove", "glove-6B-50d"), ("spacy", "spacy-en_core_web_md")):
            out[name] = compute_congruence_baseline(sents, source=source)
        path = LEXICON_DIR / "congruence_baseline.json"
        out["_note"] = (
            "mean/std of the concept cosine over reference_sentences.txt; regenerate with "
            "`python -m congruence.evaluation.baselines congruence`"
        )  # type: ignore[assignment]
        path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(out, indent=1))

    if args.which in ("mirroring", "all"):
        out = compute_mirroring_baseline(sents, n_pairs=args.pairs)
        out["_note"] = (
            "mean/std of the mirroring similarity (all-MiniLM-L6-v2 cosine; lexical overlap) of random "
            "pairs of distinct reference_sentences.txt; regenerate with "
            "`python -m congruence.evaluation.baselines mirroring`"
        )  # type: ignore[assignment]
        path = LEXICON_DIR / "mirroring_baseline.json"
        path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(out, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
