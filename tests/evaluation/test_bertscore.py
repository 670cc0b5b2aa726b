"""BERTScore: packaged MiniLM with the project's baseline, model resolution, tiny RoBERTa loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.evaluation import bertscore as B
from congruence.evaluation.baselines import compute_bertscore_baseline, random_pairs, reference_sentences
from congruence.evaluation.pct import minilm_path
from congruence.provenance import Kind


def test_shipped_minilm_baseline_is_in_bert_score_format() -> None:
    df = pd.read_csv(B.minilm_baseline_path())
    assert list(df.columns) == ["LAYER", "P", "R", "F"]
    assert list(df["LAYER"]) == list(range(7))  # embeddings + 6 layers of all-MiniLM-L6-v2
    assert ((df[["P", "R", "F"]] > 0) & (df[["P", "R", "F"]] < 1)).all().all()


def test_random_pairs_never_pair_a_sentence_with_itself() -> None:
    idx = random_pairs(5, 2000, seed=3)
    assert (idx[:, 0] != idx[:, 1]).all()
    assert set(np.unique(idx)) == set(range(5))


@pytest.mark.slow
def test_related_responses_outscore_unrelated_ones(
    minilm_bertscore: B.BERTScore, contrast_table: pd.DataFrame
) -> None:
    refl = contrast_table[contrast_table["type"] == "reflective"].reset_index(drop=True)
    own = minilm_bertscore.score(list(refl["response"]), list(refl["client"]))
    other = minilm_bertscore.score(list(refl["response"]), list(np.roll(refl["client"].to_numpy(), 1)))
    assert (own["bertscore_f1"].to_numpy() > other["bertscore_f1"].to_numpy()).mean() >= 7 / 8
    # rescaled against unrelated pairs: mismatched pairs sit near 0 (same register, so a little above)
    assert abs(float(other["bertscore_f1"].mean())) < 0.15
    assert float(own["bertscore_f1"].mean()) > float(other["bertscore_f1"].mean()) + 0.1
    gen = contrast_table[contrast_table["type"] == "generic"]
    generic = minilm_bertscore.score(list(gen["response"]), list(gen["client"]))
    assert float(own["bertscore_f1"].mean()) > float(generic["bertscore_f1"].mean()) + 0.1


@pytest.mark.slow
def test_rescaling_uses_the_documented_layer_of_the_baseline_file(minilm_bertscore: B.BERTScore) -> None:
    raw = B.BERTScore(model="minilm", rescale=False)
    cands, refs = ["You sound worn out by all of it."], ["I'm so tired of fighting with everyone at work."]
    r = raw.score(cands, refs).iloc[0]
    s = minilm_bertscore.score(cands, refs).iloc[0]
    base = pd.read_csv(B.minilm_baseline_path()).iloc[B.MINILM_LAYER]
    for col, key in zip(B.COLUMNS, ("P", "R", "F"), strict=True):
        assert s[col] == pytest.approx((r[col] - base[key]) / (1 - base[key]), abs=1e-5)
    assert minilm_bertscore.settings.estimator == "bertscore:all-MiniLM-L6-v2@L4(rescaled)"
    precision = minilm_bertscore.encoder.precision
    assert minilm_bertscore.estimator == f"bertscore:all-MiniLM-L6-v2@L4(rescaled,{precision})"
    assert minilm_bertscore.columns()["bertscore_f1"].kind is Kind.MEASUREMENT


@pytest.mark.slow
def test_baseline_recomputes_close_to_the_shipped_file() -> None:
    sents = reference_sentences()
    fresh = compute_bertscore_baseline(sents, model_path=minilm_path(), n_pairs=300, seed=11)
    shipped = pd.read_csv(B.minilm_baseline_path())
    assert list(fresh.columns) == ["LAYER", "P", "R", "F"]
    assert abs(fresh.at[B.MINILM_LAYER, "F"] - shipped.at[B.MINILM_LAYER, "F"]) < 0.02


@pytest.mark.slow
def test_missing_texts_are_reported_not_scored(minilm_bertscore: B.BERTScore) -> None:
    table = pd.DataFrame(
        {
            "client": ["I lost my job.", None, "I lost my job."],
            "response": ["That is a big loss.", "Hm.", ""],
        },
        index=[10, 11, 12],
    )
    out = minilm_bertscore.score_table(table)
    assert list(out.index) == [10, 11, 12]
    assert list(out["bertscore_status"]) == ["ok", "empty_text", "empty_text"]
    assert out.loc[[11, 12], list(B.COLUMNS)].isna().all().all()


# --- model resolution ---------------------------------------------------------------------------
def _write_config(folder: Path, **cfg: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


ROBERTA_LARGE = {"model_type": "roberta", "num_hidden_layers": 24, "hidden_size": 1024}


def test_roberta_large_on_disk_gets_layer_17_and_bert_scores_baseline(tmp_path: Path, monkeypatch) -> None:
    folder = _write_config(tmp_path / "roberta-large", **ROBERTA_LARGE)
    s = B.resolve_settings(folder)
    assert (s.name, s.num_layers) == ("roberta-large", 17)
    assert s.baseline_path == B.roberta_large_baseline_path() and s.baseline_path.is_file()
    # auto picks it when it is on disk ($CONGRUENCE_ROBERTA_LARGE), the packaged MiniLM otherwise
    monkeypatch.setenv("CONGRUENCE_ROBERTA_LARGE", str(folder))
    assert B.resolve_settings().name == "roberta-large"
    monkeypatch.setenv("CONGRUENCE_ROBERTA_LARGE", str(tmp_path / "nowhere"))
    auto = B.resolve_settings("auto")
    assert (auto.name, auto.num_layers, auto.baseline_path) == (
        "all-MiniLM-L6-v2",
        4,
        B.minilm_baseline_path(),
    )
    with pytest.raises(ModelUnavailableError, match="roberta-large weights"):
        B.resolve_settings("roberta-large")


def test_unknown_models_need_a_layer_and_a_baseline(tmp_path: Path) -> None:
    folder = _write_config(tmp_path / "other", model_type="bert", num_hidden_layers=4, hidden_size=64)
    with pytest.raises(CongruenceError, match="No documented BERTScore layer"):
        B.resolve_settings(folder)
    with pytest.raises(CongruenceError, match="No BERTScore baseline"):
        B.resolve_settings(folder, num_layers=3)
    with pytest.raises(CongruenceError, match=r"outside 0\.\.4"):
        B.resolve_settings(folder, num_layers=9, rescale=False)
    assert B.resolve_settings(folder, num_layers=3, rescale=False).baseline_path is None
    with pytest.raises(ModelUnavailableError, match=r"config\.json"):
        B.resolve_settings(tmp_path / "empty")


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2 / RoBERTa byte-level alphabet
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer RoBERTa (hidden size 32) with a byte-level tokenizer, saved to disk."""
    import torch
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    folder = tmp_path_factory.mktemp("tiny-roberta")
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in _bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    vocab["<mask>"] = len(vocab)
    RobertaTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)  # saved without model_max_length
    config = RobertaConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=130, pad_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(folder)
    return folder


def test_a_local_roberta_folder_loads_and_scores(tiny_roberta: Path, tmp_path: Path) -> None:
    bs = B.BERTScore(model=tiny_roberta, num_layers=2, rescale=False, precision="float32")
    out = bs.score(
        ["I feel tired today.", "The train left."], ["I feel tired today.", "My mother called me."]
    )
    assert out.loc[0, "bertscore_f1"] == pytest.approx(1.0, abs=1e-5)  # identical text matches itself
    assert out.loc[1, "bertscore_f1"] < 1.0
    assert bs.settings.estimator.endswith("@L2(raw)")
    # a baseline computed for this model makes rescaling available
    base = compute_bertscore_baseline(reference_sentences()[:40], model_path=tiny_roberta, n_pairs=60, seed=0)
    path = tmp_path / "tiny_baseline.tsv"
    base.to_csv(path, index=False)
    rescaled = B.BERTScore(model=tiny_roberta, num_layers=2, baseline_path=path, precision="float32")
    got = rescaled.score(["The train left."], ["My mother called me."]).iloc[0]
    b = base.iloc[2]
    raw = out.iloc[1]
    assert got["bertscore_f1"] == pytest.approx((raw["bertscore_f1"] - b["F"]) / (1 - b["F"]), abs=1e-5)


def test_matches_the_bert_score_package_on_a_tiny_roberta(tiny_roberta: Path) -> None:
    """The project's matching and encoder give bert_score's numbers for another architecture too
    (byte-level tokenizer, RoBERTa position ids with padding)."""
    cands = ["I feel tired today.", "The train left.", "You seem worn out, and a little lost."]
    refs = ["I feel tired today, really.", "My mother called me.", "Nothing helps anymore."]
    ours = B.BERTScore(model=tiny_roberta, num_layers=1, rescale=False, precision="float32").score(
        cands, refs
    )
    ref = B.make_scorer(tiny_roberta, num_layers=1)
    p, r, f = (x.numpy() for x in ref.score(cands, refs))
    np.testing.assert_allclose(ours[list(B.COLUMNS)].to_numpy(dtype=float), np.c_[p, r, f], atol=1e-5)


# --- against the reference implementation, on real sentences -----------------------------------
@pytest.fixture(scope="module")
def real_pairs() -> tuple[list[str], list[str]]:
    """80 pairs of distinct real sentences (the project's reference sentences), one over 256 tokens."""
    sents = reference_sentences()
    cands, refs = list(sents[:80]), list(sents[80:160])
    cands[0] = " ".join(sents[:40])  # past the sentence model's 256 tokens
    return cands, refs


@pytest.mark.slow
def test_float32_matches_the_bert_score_package(real_pairs) -> None:
    """On the packaged MiniLM (layer 4, rescaled), float32 scores equal bert_score's to 1e-5."""
    cands, refs = real_pairs
    ours = B.BERTScore(model="minilm", precision="float32").score(cands, refs)
    ref = B.make_scorer(minilm_path(), num_layers=B.MINILM_LAYER, baseline_path=B.minilm_baseline_path())
    p, r, f = (x.numpy() for x in ref.score(cands, refs))
    np.testing.assert_allclose(ours[list(B.COLUMNS)].to_numpy(dtype=float), np.c_[p, r, f], atol=1e-5)


@pytest.mark.slow
def test_bfloat16_stays_within_0_005_of_float32_and_keeps_the_order(real_pairs) -> None:
    """The faster precision (auto where the CPU has it) moves no score by more than 0.005."""
    from scipy.stats import spearmanr

    cands, refs = real_pairs
    f32 = B.BERTScore(model="minilm", precision="float32").score(cands, refs)["bertscore_f1"].to_numpy(float)
    bf16 = (
        B.BERTScore(model="minilm", precision="bfloat16").score(cands, refs)["bertscore_f1"].to_numpy(float)
    )
    assert np.abs(bf16 - f32).max() < 0.005
    assert spearmanr(bf16, f32).statistic > 0.999


def test_greedy_matching_is_the_formula() -> None:
    """P, R and F1 of two orthogonal tokens plus a shared one, by hand; special tokens (weight 0)
    take part in the max but are not averaged."""
    cand = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.6, 0.8]])
    p, r, f = B.greedy_match(cand, ref, np.ones(2), np.array([1.0, 1.0, 0.0]))
    assert p == pytest.approx((1 + 0.6) / 2)  # token 2 matches the special token at cos 0.6
    assert r == pytest.approx((1 + 0) / 2)  # ref token 2 is orthogonal to both candidate tokens
    assert f == pytest.approx(2 * p * r / (p + r))
    assert B.rescale(np.array([0.5, 1.0]), 0.5).tolist() == [0.0, 1.0]


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(-1, 1),
    ),
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(-1, 1),
    ),
)
def test_greedy_matching_bounds_and_symmetry(a: np.ndarray, b: np.ndarray) -> None:
    """Cosine averages lie in [-1, 1]; swapping candidate and reference swaps P and R."""
    d = min(a.shape[1], b.shape[1])
    a, b = a[:, :d], b[:, :d]
    assume(np.linalg.norm(a, axis=1).min() > 1e-3 and np.linalg.norm(b, axis=1).min() > 1e-3)
    p, r, _ = B.greedy_match(a, b, np.ones(len(a)), np.ones(len(b)))
    r2, p2, _ = B.greedy_match(b, a, np.ones(len(b)), np.ones(len(a)))
    assert -1 - 1e-9 <= p <= 1 + 1e-9 and -1 - 1e-9 <= r <= 1 + 1e-9
    assert (p, r) == pytest.approx((p2, r2))
