"""Weighted-loss LoRA training on a tiny random LM (and one short SmolLM2 run, marked slow)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from congruence.errors import CongruenceError
from congruence.training.config import config_from_dict
from congruence.training.dataset import build_instances
from congruence.training.trainer import make_collators, response_token_loss, train, weighted_loss


@pytest.fixture(scope="session")
def instances(sessions_dir: list[Path]) -> pd.DataFrame:
    return build_instances(sessions_dir, eval_sessions=["s3", "s4"])


def _cfg(tiny_lm_dir: Path, out: Path, **train: object) -> object:
    return config_from_dict({
        "model": {"path": str(tiny_lm_dir), "max_length": 64, "visual_tokens": 2, "projector_hidden": 16},
        "train": {"output_dir": str(out), "per_device_batch": 4, "learning_rate": 5e-3, "save_steps": 2,
                  "threads": 1, **train},
        "lora": {"r": 4, "alpha": 8},
    })  # fmt: skip


def test_loss_is_weighted_mean_of_response_token_losses():
    logits = torch.randn(2, 5, 11)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, 3, 4]])
    per = response_token_loss(logits, labels)
    ref0 = torch.nn.functional.cross_entropy(logits[0, 1:3], labels[0, 2:4])
    assert per[0] == pytest.approx(ref0.item(), rel=1e-5)
    assert weighted_loss(per, torch.tensor([1.0, 2.0])) == pytest.approx((per[0] + 2 * per[1]).item() / 2)


def test_collator_masks_prompt_weights_incongruent_samples_and_keeps_vad_out(
    tiny_lm_dir, instances, tmp_path
):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_lm_dir))
    tr, ev = make_collators(_cfg(tiny_lm_dir, tmp_path), tok)
    items = instances[instances.split == "train"].head(4).to_dict("records")
    b = tr(items)
    inc = torch.tensor([float(i["score"]) > 0.5 for i in items])
    assert b["sample_weight"][inc].min() > b["sample_weight"][~inc].max()
    assert torch.all(ev(items)["sample_weight"] == 1)
    # labels are exactly the response tokens: decode them back to the counsellor text
    lab = b["labels"][0][b["labels"][0] != -100]
    assert items[0]["counsellor_text"] in tok.decode(lab)
    text = tok.decode(b["input_ids"][0])
    assert "valence" not in text.lower() and str(items[0]["valence"])[:5] not in text
    assert b["face_features"].shape == (4, 19)


def test_short_run_lowers_held_out_loss_and_resumes(tiny_lm_dir, instances, tmp_path):
    cfg = _cfg(tiny_lm_dir, tmp_path / "run", max_steps=6)
    res = train(cfg, instances=instances)
    assert res.eval_loss_after < res.eval_loss_before
    log = pd.read_csv(res.metrics_csv)
    assert log["loss"].notna().sum() == 6  # one row per step
    assert (tmp_path / "run" / "checkpoint-6" / "trainable.safetensors").is_file()
    assert 0 < res.dropout_share < 1
    # resuming continues from the last checkpoint instead of starting over
    res2 = train(cfg.with_(train={"max_steps": 8}), instances=instances, evaluate_before=False)
    assert res2.train_metrics["train_runtime"] > 0
    assert pd.read_csv(res2.metrics_csv)["step"].max() == 8
    assert pd.read_csv(res2.metrics_csv)["loss"].notna().sum() == 8  # steps 7-8 only were added


def test_text_only_ablation_feeds_no_face(tiny_lm_dir, instances, tmp_path):
    from transformers import AutoTokenizer

    cfg = _cfg(tiny_lm_dir, tmp_path).with_(model={"text_only": True})
    tr, _ = make_collators(cfg, AutoTokenizer.from_pretrained(str(tiny_lm_dir)))
    assert "face_features" not in tr(instances.head(2).to_dict("records"))


def test_configs_that_cannot_run_are_clear_errors(tiny_lm_dir, instances, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU case, on any machine
    with pytest.raises(CongruenceError, match="needs a GPU"):
        train(_cfg(tiny_lm_dir, tmp_path, precision="fp16", max_steps=1), instances=instances)
    with pytest.raises(CongruenceError, match="GB"):
        train(_cfg(tiny_lm_dir, tmp_path, per_device_batch=10**7, max_steps=1), instances=instances)
    with pytest.raises(CongruenceError, match="engagement"):
        cfg = _cfg(tiny_lm_dir, tmp_path).with_(weights={"scheme": "engagement"})
        train(cfg, instances=instances.assign(engagement=None))
    with pytest.raises(CongruenceError, match="Unknown key"):
        config_from_dict({"train": {"epoch": 3}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_half_precision_trains_on_a_gpu(tiny_lm_dir, instances, tmp_path):
    # the positive side of the check above: with a GPU, fp16 is accepted and a step runs on it
    res = train(_cfg(tiny_lm_dir, tmp_path, precision="fp16", max_steps=2), instances=instances,
                evaluate_before=False)  # fmt: skip
    assert res.train_metrics["train_loss"] > 0
    assert pd.read_csv(res.metrics_csv)["loss"].notna().sum() == 2


def test_shipped_deepspeed_config_is_zero2_and_unusable_setups_are_clear_errors(
    tiny_lm_dir, instances, tmp_path
):
    import json

    from congruence.training.config import load_config
    from congruence.training.trainer import check_deepspeed

    root = Path(__file__).resolve().parents[2] / "configs" / "training"
    ds = json.loads((root / "deepspeed-zero2.json").read_text())
    assert ds["zero_optimization"]["stage"] == 2 and ds["train_micro_batch_size_per_gpu"] == "auto"
    # the Table IX presets load and point at the papers' VLMs
    for name, lr in (("idefics2-table-ix.toml", 5e-5), ("llava-table-ix.toml", 2e-5)):
        cfg = load_config(root / name)
        assert cfg.model.kind == "vlm" and cfg.train.learning_rate == lr and cfg.train.per_device_batch == 1
    three = tmp_path / "z3.json"
    three.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    with pytest.raises(CongruenceError, match="stage 3"):
        check_deepspeed(three)
    with pytest.raises(CongruenceError, match=r"(?i)deepspeed"):  # not installed here / no GPU
        train(_cfg(tiny_lm_dir, tmp_path, deepspeed=str(root / "deepspeed-zero2.json")), instances=instances)


@pytest.mark.slow
def test_embedded_default_trains_a_step_and_replies(instances, tmp_path):
    """The real embedded default (SmolLM2-135M-Instruct + projector), one step and two replies."""
    from congruence.training.infer import generate_replies

    cfg = config_from_dict({"train": {"output_dir": str(tmp_path), "max_steps": 1, "save_steps": 100,
                                      "threads": 2}, "data": {"max_eval": 4}})  # fmt: skip
    res = train(cfg, instances=instances)
    assert res.eval_loss_after < 10 and res.mean_weight > 1  # a trained LM, not a random one
    items = instances[instances.split == "eval"].head(2).to_dict("records")
    replies = generate_replies(res.model, res.collator.encoder, items, max_new_tokens=12)
    assert len(replies) == 2 and all(len(r.split()) >= 2 for r in replies)
