"""The MiniLM encoder of the evaluation: sentence-transformers' vectors, one pass shared by
mirroring and BERTScore, precision choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from congruence.errors import CongruenceError
from congruence.evaluation.baselines import reference_sentences
from congruence.evaluation.embeddings import SentenceEncoder, minilm_path
from congruence.evaluation.suite import EvaluationSuite


@pytest.mark.slow
def test_float32_sentence_vectors_are_sentence_transformers_own() -> None:
    """Mean-pooled, unit-length, truncated at 256 tokens like sentence-transformers (the library the
    mirroring similarity was defined with); the long text checks the truncation."""
    from sentence_transformers import SentenceTransformer

    sents = [*reference_sentences()[:60], " ".join(reference_sentences()[:40])]
    want = SentenceTransformer(str(minilm_path()), device="cpu").encode(sents, normalize_embeddings=True)
    got = SentenceEncoder(precision="float32").encode(sents)
    np.testing.assert_allclose(got, want, atol=1e-5)
    bf16 = SentenceEncoder(precision="bfloat16").encode(sents)
    assert np.abs(np.sum(bf16 * want, axis=1) - 1).max() < 0.005  # cosine to the float32 vector


@pytest.mark.slow
def test_the_suite_runs_each_text_through_minilm_once() -> None:
    """Default evaluate (MiniLM mirroring + BERTScore on MiniLM): one forward pass per distinct text
    serves both metrics, and the scores equal those of separate passes."""
    sents = reference_sentences()
    table = pd.DataFrame({"client": list(sents[:30]), "response": list(sents[30:60])})
    suite = EvaluationSuite(word_vectors="none", precision="float32")
    shared = suite.pct._encoder
    assert shared is not None and suite.bertscore is not None and suite.bertscore.encoder is shared
    scored = suite.score(table)
    assert shared.n_encoded == 60  # 30 clients + 30 responses, once each
    alone = EvaluationSuite(word_vectors="none", bertscore=False, precision="float32").score(table)
    np.testing.assert_allclose(
        scored["mirroring_similarity"].to_numpy(float),
        alone["mirroring_similarity"].to_numpy(float),
        atol=1e-6,
    )
    assert "float32" in suite.columns()["mirroring_similarity"].estimator


def test_encoder_arguments_are_checked() -> None:
    with pytest.raises(CongruenceError, match="precision"):
        SentenceEncoder(precision="half")  # type: ignore[arg-type]
    with pytest.raises(CongruenceError, match="nothing to compute"):
        SentenceEncoder(sentences=False)
    with pytest.raises(CongruenceError, match="token layer"):
        SentenceEncoder().tokens(["hello"])
    assert SentenceEncoder(precision="auto").precision in ("float32", "bfloat16")
