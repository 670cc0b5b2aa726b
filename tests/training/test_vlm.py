"""The papers' VLM architectures (tiny random IDEFICS2, LLaVA, BLIP-2) through the same weighted trainer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from tiny_vlms import BUILDERS, IMAGE_TOKENS

from congruence.errors import CongruenceError
from congruence.training.config import config_from_dict
from congruence.training.dataset import build_instances
from congruence.training.infer import generate_replies
from congruence.training.trainer import make_collators, response_token_loss, train, weighted_loss
from congruence.training.vlm import language_model_prefix, load_vlm

ARCHS = sorted(BUILDERS)


@pytest.fixture(scope="module")
def instances(sessions_dir: list[Path]) -> pd.DataFrame:
    return build_instances(sessions_dir, eval_sessions=["s3", "s4"])


@pytest.fixture(scope="module", params=ARCHS)
def vlm_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    return name, BUILDERS[name](tmp_path_factory.mktemp(f"tiny-{name}"))


def _cfg(path: Path, out: Path, **model: object) -> object:
    return config_from_dict({
        "model": {"kind": "vlm", "path": str(path), "max_length": 64, **model},
        "train": {"output_dir": str(out), "per_device_batch": 4, "learning_rate": 1e-2, "max_steps": 1,
                  "save_steps": 100, "threads": 1},
        "data": {"max_eval": 4},
        "lora": {"r": 4, "alpha": 8},
    })  # fmt: skip


def test_batch_holds_the_frame_the_prompt_and_only_response_labels(vlm_dir, instances, tmp_path):
    name, path = vlm_dir
    cfg = _cfg(path, tmp_path)
    model, tok, proc = load_vlm(str(path), lora=cfg.lora)
    tr, ev = make_collators(cfg, tok, proc)
    items = instances[instances.split == "train"].head(4).to_dict("records")
    b = tr(items)
    image_id = tok.convert_tokens_to_ids(str(proc.image_token))
    assert "pixel_values" in b and len(b["pixel_values"]) == 4
    assert ((b["input_ids"] == image_id).sum(dim=1) == IMAGE_TOKENS[name]).all()  # one frame per sample
    assert (b["labels"][b["input_ids"] == image_id] == -100).all()
    # the labels are exactly the counsellor's words (+ end of sequence): nothing of the prompt
    for row, it in zip(b["labels"], items, strict=True):
        assert tok.decode(row[row != -100], skip_special_tokens=True).strip() == it["counsellor_text"]
    text = tok.decode(b["input_ids"][0])
    assert "person-centred counsellor" in text and "valence" not in text.lower()
    inc = torch.tensor([float(i["score"]) > 0.5 for i in items])
    assert b["sample_weight"][inc].min() > b["sample_weight"][~inc].max()
    assert torch.all(ev(items)["sample_weight"] == 1)

    # the padded batch's per-sample losses are those of each sample alone, so eq. 5 weighs real samples
    model.eval()
    keys = [k for k in b if k not in ("labels", "sample_weight")]
    with torch.no_grad():
        per = response_token_loss(model(**{k: b[k] for k in keys}).logits, b["labels"])
        for i in (0, 3):
            one = ev([items[i]])
            alone = response_token_loss(
                model(**{k: v for k, v in one.items() if k not in ("labels", "sample_weight")}).logits,
                one["labels"],
            )
            assert per[i] == pytest.approx(alone.item(), rel=1e-4)
        # the frame reaches the language model: another image changes the logits
        other = {k: b[k] for k in keys} | {"pixel_values": torch.rand_like(b["pixel_values"])}
        assert not torch.allclose(model(**{k: b[k] for k in keys}).logits, model(**other).logits)
    w = b["sample_weight"]
    assert weighted_loss(per, w) == pytest.approx(float((w * per).sum() / 4), rel=1e-6)


def test_one_weighted_step_trains_the_language_model_lora_and_generates(vlm_dir, instances, tmp_path):
    _, path = vlm_dir
    res = train(_cfg(path, tmp_path / "run"), instances=instances, resume=False, evaluate_before=False)
    log = pd.read_csv(res.metrics_csv)
    assert log["loss"].notna().sum() == 1 and res.eval_loss_after is not None
    assert res.mean_weight > 1.0  # the continuous scheme weighed the incongruent samples up
    prefix = language_model_prefix(res.model)
    lora_b = {n: p for n, p in res.model.named_parameters() if "lora_B" in n}
    assert prefix and lora_b and all(prefix + "." in n for n in lora_b)  # adapters on the LM only
    assert any(p.abs().sum() > 0 for p in lora_b.values())  # zero-initialised, moved by the step
    assert (res.output_dir / "final" / "trainable.safetensors").is_file()

    items = instances[instances.split == "eval"].head(2).to_dict("records")
    replies = generate_replies(res.model, res.collator.encoder, items, max_new_tokens=4)
    assert len(replies) == 2 and all(isinstance(r, str) and r for r in replies)
    alone = generate_replies(res.model, res.collator.encoder, items[1:], max_new_tokens=4)
    assert alone[0] == replies[1]  # left padding of the batch does not change a greedy reply


def test_text_only_ablation_drops_the_frame(instances, tmp_path_factory, tmp_path):
    path = BUILDERS["idefics2"](tmp_path_factory.mktemp("tiny-idefics2-text"))
    cfg = _cfg(path, tmp_path, text_only=True)
    _, tok, proc = load_vlm(str(path), lora=None)
    tr, _ = make_collators(cfg, tok, proc)
    b = tr(instances.head(2).to_dict("records"))
    assert "pixel_values" not in b
    assert not (b["input_ids"] == tok.convert_tokens_to_ids(str(proc.image_token))).any()
    res = train(cfg, instances=instances.assign(frame_path=None), resume=False, evaluate_before=False)
    assert res.train_metrics["train_loss"] > 0  # no frame needed at all


def test_vlm_configs_that_cannot_run_are_clear_errors(instances, tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU case, on any machine
    blip = BUILDERS["blip2"](tmp_path_factory.mktemp("tiny-blip2-err"))
    with pytest.raises(CongruenceError, match="cannot run without an image"):
        train(_cfg(blip, tmp_path, text_only=True), instances=instances)
    with pytest.raises(CongruenceError, match="no client frame"):
        train(_cfg(blip, tmp_path), instances=instances.assign(frame_path=None))
    with pytest.raises(CongruenceError, match="frame_path"):
        train(_cfg(blip, tmp_path), instances=instances.drop(columns=["frame_path"]))
    with pytest.raises(CongruenceError, match="local model folder"):
        train(_cfg(tmp_path / "nowhere", tmp_path), instances=instances)
    with pytest.raises(CongruenceError, match="needs a GPU"):
        cfg = _cfg(blip, tmp_path).with_(train={"precision": "bf16"})
        train(cfg, instances=instances)


@pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
    reason="no CUDA device on this machine (with bf16)",
)
def test_vlm_trains_in_bf16_on_a_gpu(instances, tmp_path_factory, tmp_path):
    # the positive side of the bf16 check above: with a GPU, a bf16 step of a VLM runs
    path = BUILDERS["llava"](tmp_path_factory.mktemp("tiny-llava-gpu"))
    cfg = _cfg(path, tmp_path).with_(train={"precision": "bf16"})
    res = train(cfg, instances=instances, evaluate_before=False)
    assert res.train_metrics["train_loss"] > 0


def test_vlm_ablation_replies_with_and_without_the_frame(instances, tmp_path_factory, tmp_path):
    from congruence.training.ablation import run_ablations

    path = BUILDERS["llava"](tmp_path_factory.mktemp("tiny-llava-ablate"))
    cfg = _cfg(path, tmp_path / "run").with_(
        ablation={"conditions": ("full", "text_only"), "max_new_tokens": 4, "similarity": "lexical",
                  "word_vectors": "none", "bertscore": False},
        data={"max_eval": 3},
    )  # fmt: skip
    res = run_ablations(cfg, instances=instances)
    assert set(res.tidy["condition"]) == {"Full Method", "Text-Only"} and (res.tidy["n"] == 3).all()
    assert all(len(s) == 3 and s["response"].map(bool).all() for s in res.scores.values())
    assert (res.output_dir / "ablation.md").read_text().count("Text-Only") == 1
    assert res.conditions.set_index("key").loc["text_only", "text_only"]


def test_a_vlm_config_that_cannot_fit_is_a_clear_error(instances, tmp_path_factory, tmp_path):
    path = BUILDERS["llava"](tmp_path_factory.mktemp("tiny-llava-fit"))
    cfg = _cfg(path, tmp_path).with_(train={"per_device_batch": 10**6})
    with pytest.raises(CongruenceError, match=r"GB .*\(\d+M parameters, batch 1000000 x \d+ tokens") as e:
        train(cfg, instances=instances)
    n_tokens = int(str(e.value.problem).split(" x ")[1].split()[0])
    assert n_tokens > 64  # text budget (max_length 64) plus the frame's 25 image tokens
