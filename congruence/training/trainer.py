"""Incongruence-aware LoRA training: collators, the weighted-loss Trainer and ``train(config)``.

The loss is E-THER eq. 5: ``L = 1/|B| sum_i w_i l_i`` where ``l_i`` is the mean token
cross-entropy over the *response* tokens of sample ``i`` (prompt and padding are ignored) and
``w_i`` comes from :mod:`congruence.training.weights`. Evaluation loss is unweighted (``w = 1``) so
runs with different weight schemes compare on the same held-out measure.

Context dropout (:mod:`congruence.training.dropout`) is drawn per sample each time the training
collator builds a batch, i.e. per iteration as in Algorithm 1; the eval collator never drops.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from congruence.errors import CongruenceError
from congruence.incongruence.scores import LAMBDA
from congruence.training.config import Config
from congruence.training.dropout import dropout_mask, remove_emotional_cues
from congruence.training.weights import batch_scores, sample_weights

IGNORE = -100
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def response_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample mean next-token cross-entropy over labelled (response) tokens: ``[B]``.

    ``labels`` holds ``-100`` on prompt / padding / image positions. Samples with no labelled
    token get loss 0 (they carry no target).
    """
    lg = logits[:, :-1].float()
    lb = labels[:, 1:]
    tok = torch.nn.functional.cross_entropy(
        lg.reshape(-1, lg.shape[-1]), lb.reshape(-1), ignore_index=IGNORE, reduction="none"
    ).view(lb.shape)
    n = (lb != IGNORE).sum(dim=1)
    return tok.sum(dim=1) / n.clamp(min=1)


def weighted_loss(per_sample: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """E-THER eq. 5: ``1/|B| sum_i w_i l_i``."""
    return (weights.to(per_sample.dtype) * per_sample).mean()


def align_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Logits of the ``labels`` positions: models that prepend visual positions to the text (legacy
    BLIP-2 / Video-LLaVA processing) return longer logits, whose last ``L`` positions are the text's."""
    n = labels.shape[1]
    if logits.shape[1] == n:
        return logits
    if logits.shape[1] < n:
        raise CongruenceError(
            f"The model returned {logits.shape[1]} logit positions for {n} tokens.",
            "Use a model whose processor expands image tokens into the text (transformers >= 4.47 layout).",
        )
    return logits[:, -n:]


# ----------------------------------------------------------------------------------------------
# batches
# ----------------------------------------------------------------------------------------------


@dataclass
class TextEncoder:
    """Prompt + target token ids for a chat LM: prompt tokens get label -100, response tokens their ids."""

    tokenizer: Any
    system_prompt: str
    max_length: int

    def prompt_text(self, utterance: str) -> str:
        msgs = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": utterance}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return f"{self.system_prompt}\nClient: {utterance}\nCounsellor:"

    def encode(self, utterance: str, target: str | None) -> tuple[list[int], list[int]]:
        tok = self.tokenizer
        p = tok(self.prompt_text(utterance), add_special_tokens=False)["input_ids"]
        if target is None:
            return p[-self.max_length :], [IGNORE] * min(len(p), self.max_length)
        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        t = tok(
            " " + target if not getattr(tok, "chat_template", None) else target, add_special_tokens=False
        )["input_ids"]
        t = (t + eos)[: max(1, self.max_length // 2)]  # keep at least half the budget for the prompt
        p = p[-(self.max_length - len(t)) :]
        return p + t, [IGNORE] * len(p) + t


@dataclass
class Collator:
    """Instances (dicts of the dataset) -> a padded batch with ``sample_weight`` and face inputs.

    ``train=True`` applies context dropout with probability ``p_dropout`` and the configured weight
    scheme; ``train=False`` never drops and uses ``w = 1``. ``encoder`` is a :class:`TextEncoder`
    (the embedded model: face features from the instance) or an encoder with ``encode_batch``
    (:class:`congruence.training.vlm.VisionChatEncoder`: the processor adds the client frame).
    ``stats`` counts samples, context-dropped samples and the sum of the weights applied.
    """

    encoder: TextEncoder
    scheme: str = "continuous"
    gamma: float = 1.0
    tau: str = "batch_median"
    lambda_base: float = 1.0
    alpha: float = 1.0
    normalise: bool = False
    p_dropout: float = 0.3
    use_face: bool = True
    train: bool = True
    seed: int = 0
    stats: dict[str, float] = field(default_factory=lambda: {"samples": 0, "dropped": 0, "weight_sum": 0.0})

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def weights(self, batch: Sequence[dict[str, Any]]) -> np.ndarray:
        if not self.train:
            return np.ones(len(batch))
        col = {"binary": "incongruent", "continuous": "score", "engagement": "engagement"}.get(self.scheme)
        vals = [float(b[col]) for b in batch] if col else None
        if self.scheme == "continuous" and self.tau == "batch_median" and vals is not None:
            vals = self.batch_scores(batch, vals).tolist()
        return sample_weights(
            self.scheme,
            n=len(batch),
            indicator=vals if self.scheme == "binary" else None,
            score=vals if self.scheme == "continuous" else None,
            engagement=vals if self.scheme == "engagement" else None,
            gamma=self.gamma,
            lambda_base=self.lambda_base,
            alpha=self.alpha,
            normalise=self.normalise,
        )

    @staticmethod
    def batch_scores(batch: Sequence[dict[str, Any]], fallback: Sequence[float]) -> np.ndarray:
        """E-THER's ``s`` for this batch (eq. 3, ``tau_e`` = the batch median VA mismatch) where the
        instance's score is the model's continuous one and its inputs are there; ``s = I`` rows and
        rows without inputs keep their score (:func:`congruence.training.weights.batch_scores`)."""
        return batch_scores(
            fallback,
            *([b.get(k) for b in batch] for k in ("face_va", "text_va", "face_cats", "text_cats")),
            lam=LAMBDA,
            recompute=[b.get("score_kind") == "continuous" for b in batch],
        )

    def __call__(self, batch: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        drop = (
            dropout_mask(len(batch), self.p_dropout, self.rng) if self.train else np.zeros(len(batch), bool)
        )
        texts = []
        for b, d in zip(batch, drop, strict=True):
            text = remove_emotional_cues(b["client_text"]) if d else b["client_text"]
            texts.append(text or "...")  # an utterance made only of cue words still has a turn
        w = self.weights(batch)
        self.stats["samples"] += len(batch)
        self.stats["dropped"] += int(drop.sum())
        self.stats["weight_sum"] += float(w.sum())
        if hasattr(self.encoder, "encode_batch"):  # VLM: the processor builds ids and image tensors
            out = self.encoder.encode_batch(texts, [b["counsellor_text"] for b in batch], batch)
            out["sample_weight"] = torch.tensor(w, dtype=torch.float32)
            return out
        ids, labels = [], []
        for text, b in zip(texts, batch, strict=True):
            i, lab = self.encoder.encode(text, b["counsellor_text"])
            ids.append(i)
            labels.append(lab)
        n = max(map(len, ids))
        pad = self.encoder.tokenizer.pad_token_id or 0
        out = {
            "input_ids": torch.tensor([x + [pad] * (n - len(x)) for x in ids]),
            "attention_mask": torch.tensor([[1] * len(x) + [0] * (n - len(x)) for x in ids]),
            "labels": torch.tensor([x + [IGNORE] * (n - len(x)) for x in labels]),
            "sample_weight": torch.tensor(w, dtype=torch.float32),
        }
        if self.use_face:
            feats = [b.get("face_features") for b in batch]
            dim = next((len(f) for f in feats if f is not None), None)
            if dim is not None:
                out["face_features"] = torch.tensor(
                    np.stack(
                        [
                            np.asarray(f, np.float32) if f is not None else np.zeros(dim, np.float32)
                            for f in feats
                        ]
                    )
                )
                out["face_mask"] = torch.tensor([f is not None for f in feats], dtype=torch.float32)
        return out


# ----------------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------------


def _trainer_cls() -> type:
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """A transformers Trainer whose loss is E-THER eq. 5 on response tokens only.

        Checkpoints hold the trainable parameters only (LoRA adapters + projector:
        ``trainable.safetensors``) and resume with optimizer, scheduler and RNG state.
        """

        TRAINABLE = "trainable.safetensors"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loss_is_scaled_for_ga = False  # our mean loss must be divided by the accumulation steps
            # samples that went through a training forward pass and their summed weights (exact: the
            # collator also builds batches that the data loader prefetches)
            self.trained = {"samples": 0, "weight_sum": 0.0}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            w = inputs.pop("sample_weight")
            out = model(**inputs)
            per = response_token_loss(align_logits(out.logits, labels), labels)
            if model.training:
                self.trained["samples"] += len(w)
                self.trained["weight_sum"] += float(w.sum())
            loss = weighted_loss(per, w if model.training else torch.ones_like(w))
            return (loss, out) if return_outputs else loss

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            with torch.no_grad():
                loss = self.compute_loss(model, dict(inputs))
            return loss.detach(), None, None

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            from safetensors.torch import save_file

            out = Path(output_dir or str(self.args.output_dir))
            out.mkdir(parents=True, exist_ok=True)
            model = self.accelerator.unwrap_model(self.model)
            tensors = {
                n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad
            }
            save_file(tensors, str(out / self.TRAINABLE))
            torch.save(self.args, out / "training_args.bin")

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            from safetensors.torch import load_file

            f = Path(resume_from_checkpoint) / self.TRAINABLE
            if not f.is_file():
                raise CongruenceError(f"Checkpoint {resume_from_checkpoint} has no {self.TRAINABLE}.", "")
            target = self.accelerator.unwrap_model(model or self.model)
            missing = set(load_file(str(f))) - {n for n, _ in target.named_parameters()}
            if missing:
                raise CongruenceError(
                    f"Checkpoint {resume_from_checkpoint} does not fit this model "
                    f"({len(missing)} unknown tensors).",
                    "Resume with the same model configuration, or use a new output_dir.",
                )
            target.load_state_dict(load_file(str(f)), strict=False)

    return WeightedTrainer


def csv_logger(path: Path) -> Any:
    """A TrainerCallback writing one CSV row per log event: step, epoch, loss, eval_loss, lr, seconds."""
    from transformers import TrainerCallback

    class CSVLogger(TrainerCallback):
        cols = ("step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "seconds")

        def __init__(self) -> None:
            self.t0 = time.perf_counter()
            if not path.exists():
                with path.open("w", newline="") as f:
                    csv.writer(f).writerow(self.cols)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "epoch": state.epoch, "seconds": time.perf_counter() - self.t0}
            row.update({k: logs.get(k) for k in self.cols if k in logs})
            with path.open("a", newline="") as f:
                csv.writer(f).writerow([row.get(c, "") for c in self.cols])

    return CSVLogger()


# ----------------------------------------------------------------------------------------------
# fit check
# ----------------------------------------------------------------------------------------------


def estimate_memory_gb(n_params: int, n_trainable: int, *, batch: int, seq: int, hidden: int, layers: int,
                       bytes_per_param: int) -> float:  # fmt: skip
    """Rough training memory (GB): weights + Adam state and grads of the trainable part (fp32)
    + activations (~ 34 * batch * seq * hidden * layers bytes, Korthikanti et al. 2022, no recomputation)."""
    weights = n_params * bytes_per_param
    trainable = n_trainable * 16
    acts = 34 * batch * seq * hidden * layers * (bytes_per_param / 2 if bytes_per_param > 2 else 1)
    return (weights + trainable + acts) / 1e9


def check_fits(model: Any, cfg: Config, device: str, *, seq: int | None = None) -> float:
    """Raise a :class:`CongruenceError` when the configuration cannot fit this machine's memory.

    ``seq``: tokens per sample (default ``model.max_length``; a VLM's image tokens come on top).
    """
    import psutil

    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mcfg = getattr(model, "config", None)
    mcfg = getattr(mcfg, "text_config", mcfg)
    hidden = int(getattr(mcfg, "hidden_size", 1024) or 1024)
    layers = int(getattr(mcfg, "num_hidden_layers", 24) or 24)
    bpp = 4 if cfg.train.precision == "fp32" else 2
    seq = max(int(seq or 0), cfg.model.max_length)
    need = estimate_memory_gb(params, trainable, batch=cfg.train.per_device_batch, seq=seq,
                              hidden=hidden, layers=layers, bytes_per_param=bpp)  # fmt: skip
    if device.startswith("cuda"):
        have = torch.cuda.get_device_properties(0).total_memory / 1e9
    else:
        have = psutil.virtual_memory().available / 1e9
    if need > have:
        raise CongruenceError(
            f"This configuration needs about {need:.1f} GB on {device} but {have:.1f} GB are free "
            f"({params / 1e6:.0f}M parameters, batch {cfg.train.per_device_batch} x "
            f"{seq} tokens).",
            "Lower train.per_device_batch (raise train.grad_accum to keep the effective batch), lower "
            "model.max_length, use fp16/bf16 on a GPU, or add GPUs with `accelerate launch` + DeepSpeed.",
        )
    return need


def check_deepspeed(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The DeepSpeed JSON of ``train.deepspeed``, or a clear error when it cannot be used here.

    ZeRO stages 0-2 only: stage 3 partitions the parameters themselves, and the checkpoints of this
    trainer are the trainable tensors read from the model (``trainable.safetensors``).
    """
    import importlib.util
    import json

    p = Path(path)
    if not p.is_file():
        raise CongruenceError(
            f"train.deepspeed = {str(p)!r} does not exist.",
            "Point it at a DeepSpeed JSON, e.g. configs/training/deepspeed-zero2.json.",
        )
    try:
        ds = json.loads(p.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise CongruenceError(f"{p} is not valid JSON: {exc}.", "Fix the DeepSpeed config.") from exc
    stage = int((ds.get("zero_optimization") or {}).get("stage", 0))
    if stage > 2:
        raise CongruenceError(
            f"{p} asks for ZeRO stage {stage}, which partitions the parameters; this trainer saves the "
            "LoRA tensors straight from the model.",
            "Use ZeRO stage 2 (configs/training/deepspeed-zero2.json): LoRA's optimizer state is small.",
        )
    if importlib.util.find_spec("deepspeed") is None:
        raise CongruenceError(
            "train.deepspeed is set but the deepspeed package is not installed.",
            "pip install deepspeed on the GPU machine, or leave train.deepspeed out (plain DDP).",
        )
    if not torch.cuda.is_available():
        raise CongruenceError("DeepSpeed needs CUDA GPUs; this machine has none.", "Unset train.deepspeed.")
    return ds


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    output_dir: Path
    metrics_csv: Path
    train_metrics: dict[str, float]
    eval_loss_before: float | None
    eval_loss_after: float | None
    samples_per_second: float  # all processes together (this process's rate x world size)
    dropout_share: float
    model: Any = None
    tokenizer: Any = None
    collator: Any = None
    processor: Any = None
    trained_samples: int = 0  # samples of this run's training forward passes (this process)
    mean_weight: float = float("nan")  # their mean loss weight (1.0 for the uniform scheme)


def _records(df: pd.DataFrame, cap: int | None) -> list[dict[str, Any]]:
    recs = df.to_dict("records")
    for r in recs:
        f = r.get("face_features")
        r["face_features"] = (
            None if f is None or (isinstance(f, float) and np.isnan(f)) else list(map(float, f))
        )
    return recs[:cap] if cap else recs


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def build_model(cfg: Config) -> tuple[Any, Any, Any]:
    """Model, tokenizer and processor (``None`` for the embedded model, whose face input is features)."""
    dtype = DTYPES[cfg.train.precision]
    if cfg.model.kind == "embedded":
        from congruence.training.model import load_embedded

        model, tok = load_embedded(path=cfg.model.path, n_tokens=cfg.model.visual_tokens,
                                   hidden=cfg.model.projector_hidden, lora=cfg.lora)  # fmt: skip
        return model, tok, None
    from congruence.training.vlm import load_vlm

    return load_vlm(cfg.model.path, lora=cfg.lora, dtype=dtype)


def make_encoder(cfg: Config, tok: Any, processor: Any = None) -> Any:
    """The prompt/target encoder of ``cfg``: :class:`TextEncoder` (embedded) or, with a processor,
    :class:`congruence.training.vlm.VisionChatEncoder` (the same prompt plus the client frame)."""
    m = cfg.model
    if processor is None:
        return TextEncoder(tokenizer=tok, system_prompt=m.system_prompt, max_length=m.max_length)
    from congruence.training.vlm import VisionChatEncoder

    return VisionChatEncoder(processor=processor, system_prompt=m.system_prompt, max_length=m.max_length,
                             with_image=not m.text_only, pixel_dtype=DTYPES[cfg.train.precision])  # fmt: skip


def make_collators(cfg: Config, tok: Any, processor: Any = None) -> tuple[Collator, Collator]:
    """Training collator (context dropout, weight scheme) and evaluation collator (neither)."""
    enc = make_encoder(cfg, tok, processor)
    w = cfg.weights
    common: dict[str, Any] = {
        "encoder": enc, "scheme": w.scheme, "gamma": w.gamma, "tau": w.tau, "lambda_base": w.lambda_base,
        "alpha": w.alpha,
        "normalise": w.normalise, "use_face": not cfg.model.text_only,
    }  # fmt: skip
    return (
        Collator(**common, p_dropout=cfg.dropout.p, train=True, seed=cfg.train.seed),
        Collator(**common, p_dropout=0.0, train=False, seed=cfg.train.seed),
    )


def train(
    cfg: Config,
    *,
    instances: pd.DataFrame | None = None,
    model: Any = None,
    tokenizer: Any = None,
    processor: Any = None,
    resume: bool = True,
    evaluate_before: bool = True,
) -> TrainResult:
    """Train ``cfg`` (LoRA, weighted loss, context dropout); logs per step to ``metrics.csv``.

    ``instances`` defaults to ``cfg.data.dataset``; ``model`` / ``tokenizer`` / ``processor``
    default to :func:`build_model` (``processor`` only for ``model.kind = "vlm"``). Resumes from the
    newest checkpoint in ``output_dir`` when ``resume``.
    """
    from transformers import TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    from congruence.training.dataset import check_instances, load_instances

    df = instances if instances is not None else load_instances(cfg.data.dataset)
    vlm_image = cfg.model.kind == "vlm" and not cfg.model.text_only
    check_instances(
        df,
        scheme=cfg.weights.scheme,
        needs_face=cfg.model.kind == "embedded" and not cfg.model.text_only,
        needs_frame=vlm_image,
    )
    train_items = _records(df[df["split"] == "train"], cfg.data.max_train)
    eval_items = _records(df[df["split"] == "eval"], cfg.data.max_eval)
    if vlm_image:
        for split, items in (("training", train_items), ("evaluation", eval_items)):
            missing = sum(1 for r in items if not r.get("frame_path") or not Path(r["frame_path"]).is_file())
            if missing:
                raise CongruenceError(
                    f"{missing} {split} instance(s) have no client frame on disk for the vision-language "
                    "model.",
                    "Rebuild the dataset from analysed video (frames/), or set model.text_only = true.",
                )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.train.precision != "fp32" and device == "cpu":
        raise CongruenceError(
            f"train.precision = {cfg.train.precision} needs a GPU; this machine has none.",
            "Use precision = 'fp32' on the CPU.",
        )
    if cfg.train.deepspeed:
        check_deepspeed(cfg.train.deepspeed)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if model is None:
        model, tokenizer, processor = build_model(cfg)
    if cfg.model.kind == "vlm" and cfg.model.text_only:
        from congruence.training.vlm import needs_image

        if needs_image(model):
            raise CongruenceError(
                f"{type(getattr(model, 'get_base_model', lambda: model)()).__name__} cannot run without an "
                "image, so it has no text-only ablation.",
                "Set model.text_only = false for this architecture (E-THER ablated IDEFICS2 and "
                "Video-LLaVA, not BLIP-2).",
            )
    tr_col, ev_col = make_collators(cfg, tokenizer, processor)
    # a VLM sample is its text plus the image tokens of the frame: measure one
    seq = ev_col(train_items[:1])["input_ids"].shape[1] if processor is not None and train_items else None
    check_fits(model, cfg, device, seq=seq)
    out = Path(cfg.train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = cfg.train
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch,
        per_device_eval_batch_size=max(t.per_device_batch, 4),
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        warmup_steps=t.warmup_steps,
        fp16=t.precision == "fp16",
        bf16=t.precision == "bf16",
        logging_steps=t.logging_steps,
        eval_strategy="steps" if t.eval_steps else "no",
        eval_steps=t.eval_steps,
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to=[],
        dataloader_num_workers=0,
        deepspeed=t.deepspeed,
        disable_tqdm=os.environ.get("CONGRUENCE_NO_PROGRESS") == "1",
        use_cpu=device == "cpu",
    )
    metrics_csv = out / "metrics.csv"
    trainer = _trainer_cls()(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_items),
        eval_dataset=_ListDataset(eval_items),
        data_collator=tr_col,
        callbacks=[csv_logger(metrics_csv)],
    )
    trainer.data_collator = tr_col
    before = None
    if evaluate_before and eval_items:
        trainer.data_collator = ev_col
        before = float(trainer.evaluate()["eval_loss"])
        trainer.data_collator = tr_col
    last = get_last_checkpoint(str(out)) if resume and out.is_dir() else None
    t0 = time.perf_counter()
    res = trainer.train(resume_from_checkpoint=last)
    dt = time.perf_counter() - t0
    trainer.save_model(str(out / "final"))
    after = None
    if eval_items:
        trainer.data_collator = ev_col
        trainer.eval_dataset = _ListDataset(eval_items)
        # evaluation uses the eval collator (no dropout, w = 1); Trainer takes the collator from self
        after = float(trainer.evaluate()["eval_loss"])
    stats, n = tr_col.stats, trainer.trained["samples"]
    return TrainResult(
        output_dir=out,
        metrics_csv=metrics_csv,
        train_metrics={k: float(v) for k, v in res.metrics.items()},
        eval_loss_before=before,
        eval_loss_after=after,
        samples_per_second=n * args.world_size / dt if dt > 0 else float("nan"),
        dropout_share=stats["dropped"] / max(1, stats["samples"]),
        model=model,
        tokenizer=tokenizer,
        collator=tr_col,
        processor=processor,
        trained_samples=n,
        mean_weight=trainer.trained["weight_sum"] / n if n else float("nan"),
    )


__all__ = [
    "DTYPES",
    "Collator",
    "TextEncoder",
    "TrainResult",
    "align_logits",
    "check_deepspeed",
    "check_fits",
    "estimate_memory_gb",
    "make_collators",
    "make_encoder",
    "response_token_loss",
    "train",
    "weighted_loss",
]
