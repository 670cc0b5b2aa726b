"""The "text.classifier" / "hf" plug-in on a tiny randomly initialised BERT built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from congruence import registry
from congruence.errors import ModelUnavailableError
from congruence.perception.text import HFTextClassifier
from congruence.perception.text.classifier import label_column
from congruence.provenance import Kind

pytestmark = pytest.mark.slow

WORDS = [
    "i",
    "am",
    "so",
    "happy",
    "sad",
    "feel",
    "hopeless",
    "and",
    "alone",
    "this",
    "is",
    "wonderful",
    "not",
    "very",
    "today",
]
LABELS = {0: "Negative", 1: "neutral", 2: "Positive"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny_bert")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=3,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = BertForSequenceClassification(cfg).eval()
    out = root / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def reference_probs(path: Path, text: str) -> np.ndarray:
    """Direct transformers forward pass, to compare the plug-in against."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        return torch.softmax(model(**tok(text, return_tensors="pt")).logits, -1)[0].numpy()


def test_label_columns_come_from_id2label(tiny_model):
    clf = registry.create("text.classifier", "hf", model_path=tiny_model)
    assert isinstance(clf, HFTextClassifier)
    assert clf.labels() == ["Negative", "neutral", "Positive"]
    cols = clf.columns()
    assert list(cols) == ["text_clf_negative", "text_clf_neutral", "text_clf_positive", "text_clf_status"]
    assert cols["text_clf_positive"].kind is Kind.MODEL


def test_probabilities_match_a_direct_forward_pass(tiny_model):
    clf = HFTextClassifier(model_path=tiny_model)
    texts = ["i am so happy", "i feel hopeless and alone this is not very wonderful today", ""]
    out = clf.analyze_many(texts)
    for text, f in zip(texts[:2], out, strict=False):
        p = np.array([f.values[c] for c in ("text_clf_negative", "text_clf_neutral", "text_clf_positive")])
        assert f.values["text_clf_status"] == "ok"
        assert p.sum() == pytest.approx(1.0)
        # batched with padding must equal the unpadded single pass (the attention mask is used)
        np.testing.assert_allclose(p, reference_probs(tiny_model, text), atol=1e-5)
    assert out[2].values["text_clf_status"] == "empty" and out[2].values["text_clf_positive"] is None
    assert set(out[0].values) == set(clf.columns())


def test_multi_label_model_uses_sigmoid(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model)
    model.config.problem_type = "multi_label_classification"
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path)
    clf = HFTextClassifier(model_path=tmp_path, prefix="emo_")
    p = clf.predict_proba(["i am so happy"])[0]
    assert np.all((p > 0) & (p < 1)) and "sigmoid" in clf.columns()["emo_neutral"].note
    assert abs(p.sum() - 1.0) > 1e-6  # independent per-label probabilities


def test_missing_model_folder_is_a_clear_error(tmp_path):
    clf = HFTextClassifier(model_path=tmp_path / "missing")
    with pytest.raises(ModelUnavailableError, match=r"config\.json"):
        clf.analyze_turn("hello")


def test_label_column_slug():
    assert label_column("Very Negative") == "text_clf_very_negative"
    assert label_column("joy", "go_") == "go_joy"


def test_classifier_chosen_by_name_in_the_analysis_config(tiny_model, tmp_path):
    """`[text] classifier = "hf"` adds the plug-in's probabilities to the turn table, as model outputs."""
    from congruence.analyze import analyze
    from congruence.config import AnalysisConfig
    from congruence.examples import build_demo_session

    media, transcript = build_demo_session(tmp_path / "demo")
    cfg = AnalysisConfig.from_dict(
        {
            "face": {"enabled": False},
            "voice": {"enabled": False},
            "text": {
                "embed": False,
                "classifier": "hf",
                "classifier_options": {"model_path": str(tiny_model)},
            },
        }
    )
    result = analyze(media, transcript=transcript, out_dir=tmp_path / "out", config=cfg, report=False)
    clf_cols = [c for c in result.table.columns if c.startswith("text_clf_") and c != "text_clf_status"]
    assert clf_cols and result.table[clf_cols].sum(axis=1).round(5).eq(1.0).all()
    assert all(result.provenance[c].kind == "model" for c in clf_cols)
