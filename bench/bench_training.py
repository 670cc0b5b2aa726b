"""Training speed of the embedded default on this machine, and the cost of E-THER's training tricks.

The embedded default (``configs/training/embedded.toml``: face features -> projector -> 4 soft
tokens -> SmolLM2-135M-Instruct with LoRA r = 8 on q/v, batch 4, ``max_length`` 96, fp32, 2 torch
threads) trains on counselling-style instances made here (real-length utterances and replies,
random face features, scores and engagement). Reported:

1. **samples/s through ``congruence train``'s code path** (:func:`congruence.training.trainer.train`,
   the transformers Trainer with the weighted loss, continuous weights, context dropout 0.3):
   training samples / wall seconds of ``Trainer.train``.
2. **overhead of weighting + context dropout against uniform training, in the same run**: one
   model and optimizer take steps alternately with the full collator (continuous weights,
   ``p = 0.3``) and a uniform one (``w = 1``, ``p = 0``) on the same batches, the order flipping
   every repeat so drift and contention hit both alike. Per step: the collator (tokenisation,
   cue removal, weights), forward, eq. 5 loss, backward and the AdamW step.

   - *step overhead* = median step time (full) / median step time (uniform) - 1. Context dropout
     also shortens some prompts (fewer tokens to process), so this can come out negative.
   - *mechanism overhead* = the extra time of what the tricks add - the full collator over the
     uniform one on identical instances plus the weighted mean over the plain mean of the
     per-sample losses - divided by the uniform step time. This is the figure the < 3 % target is
     read against: it cannot be hidden by shorter inputs.

Usage::

    .venv/bin/python bench/bench_training.py                       # writes bench/results/training-<date>.md
    .venv/bin/python bench/bench_training.py --steps 6 --repeats 6 --out /tmp/x.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CONGRUENCE_NO_PROGRESS", "1")

import torch  # noqa: E402

from congruence.training.config import load_config  # noqa: E402
from congruence.training.dataset import FACE_FEATURES  # noqa: E402
from congruence.training.trainer import (  # noqa: E402
    make_collators,
    response_token_loss,
    train,
    weighted_loss,
)

PAIRS = [
    ("Honestly, I'm fine. Everything is great at work, really wonderful, nothing to worry about.",
     "It sounds like things are going well, and I notice you say it quickly. What has work been like?"),
    ("My mum died last month but it's whatever, I've been keeping busy and I feel okay most days.",
     "Keeping busy has helped you get through the days since your mum died."),
    ("I finally got the job I wanted, and I am so happy about it, even if the commute is long.",
     "That is lovely to hear: the job you wanted. How has the first week been?"),
    ("It's nothing, I'm just a bit tired I guess. The kids were up a lot and I can handle it.",
     "You're carrying a lot with the kids up at night, and you say you can handle it."),
    ("We moved house last month and the kids like the new school, so that part is good.",
     "A big change, and the children are settling in. How is it for you?"),
    ("He said sorry, so it's all good now, I suppose. I don't want to make a fuss about it.",
     "You don't want to make a fuss, and I wonder what it was like to hear his apology."),
    ("I keep waking up at four and can't get back to sleep, and then the whole day feels heavy.",
     "Waking at four and then carrying that heaviness through the day sounds exhausting."),
    ("It's stupid, but I cried in the car again after the meeting. I don't even know why.",
     "It doesn't sound stupid to me. Something in that meeting stayed with you."),
]  # fmt: skip


def instances(n_train: int, n_eval: int, seed: int = 0) -> pd.DataFrame:
    """Counselling-style instances with the fields every weight scheme needs."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_train + n_eval):
        client, reply = PAIRS[k % len(PAIRS)]
        s = float(rng.uniform())
        rows.append({"session_id": f"s{k % 5}", "turn_index": 2 * k + 1,
                     "split": "train" if k < n_train else "eval", "client_text": client,
                     "counsellor_text": reply, "frame_path": None, "face_present": True,
                     "face_features": rng.uniform(0, 1, len(FACE_FEATURES)).tolist(),
                     "incongruent": int(s > 0.5), "score": s,
                     "engagement": float(rng.uniform())})  # fmt: skip
    return pd.DataFrame(rows)


def trainer_throughput(cfg, df: pd.DataFrame, steps: int, out: Path) -> tuple[dict[str, float], object]:
    """samples/s of ``train()`` (full method): over the run, and from the median logged step; load time.

    A 2-step warm-up run (first-call allocations) is made and discarded first.
    """
    from congruence.training.trainer import build_model

    t0 = time.perf_counter()
    model, tok, proc = build_model(cfg)
    load = time.perf_counter() - t0
    for name, n in (("warmup", 2), ("throughput", steps)):
        run = cfg.with_(train={"max_steps": n, "output_dir": str(out / name), "save_steps": 10**6})
        res = train(run, instances=df, model=model, tokenizer=tok, processor=proc, resume=False,
                    evaluate_before=False)  # fmt: skip
    log = pd.read_csv(res.metrics_csv)
    secs = log.loc[log["loss"].notna(), "seconds"].to_numpy()
    median_step = float(np.median(np.diff(secs))) if len(secs) > 2 else float("nan")
    figures = {"sps": res.samples_per_second, "sps_median": cfg.train.per_device_batch / median_step,
               "load": load}  # fmt: skip
    return figures, res


def interleaved(cfg, df: pd.DataFrame, model, tok, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Alternate full / uniform training steps on one model and optimizer; times per phase."""
    full_col, _ = make_collators(cfg, tok)
    uni_col, _ = make_collators(cfg.with_(weights={"scheme": "uniform"}, dropout={"p": 0.0}), tok)
    items = df[df["split"] == "train"].to_dict("records")
    b = cfg.train.per_device_batch
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.train.learning_rate)
    model.train()
    times: dict[str, list[float]] = {f"{m}_{k}": [] for m in ("full", "uniform") for k in ("step", "tokens")}
    for r in range(warmup + repeats):
        batch = [items[(r * b + j) % len(items)] for j in range(b)]
        order = [("full", full_col), ("uniform", uni_col)]
        if r % 2:
            order.reverse()
        for name, col in order:
            t0 = time.perf_counter()
            inputs = col(batch)
            labels, w = inputs.pop("labels"), inputs.pop("sample_weight")
            per = response_token_loss(model(**inputs).logits, labels)
            loss = weighted_loss(per, w)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            dt_ = time.perf_counter() - t0
            if r >= warmup:
                times[f"{name}_step"].append(dt_)
                times[f"{name}_tokens"].append(float(inputs["attention_mask"].sum()))
    return times


def mechanism(cfg, df: pd.DataFrame, tok, n: int) -> dict[str, float]:
    """Seconds per batch of the full and the uniform collator, and of the weighted vs plain mean."""
    full_col, _ = make_collators(cfg, tok)
    uni_col, _ = make_collators(cfg.with_(weights={"scheme": "uniform"}, dropout={"p": 0.0}), tok)
    items = df[df["split"] == "train"].to_dict("records")
    b = cfg.train.per_device_batch
    batches = [[items[(k * b + j) % len(items)] for j in range(b)] for k in range(n)]
    out: dict[str, float] = {}
    for rep in range(2):  # interleave: full, uniform, uniform, full
        for name, col in ((("full", full_col), ("uniform", uni_col)) if rep == 0 else
                          (("uniform", uni_col), ("full", full_col))):  # fmt: skip
            t0 = time.perf_counter()
            for bt in batches:
                col(bt)
            out[f"collate_{name}"] = out.get(f"collate_{name}", 0.0) + (time.perf_counter() - t0) / (2 * n)
    per = torch.rand(b, requires_grad=True)
    w = torch.rand(b) + 1
    t0 = time.perf_counter()
    for _ in range(n * 20):
        weighted_loss(per, w)
    out["loss_weighted"] = (time.perf_counter() - t0) / (n * 20)
    t0 = time.perf_counter()
    for _ in range(n * 20):
        per.mean()
    out["loss_plain"] = (time.perf_counter() - t0) / (n * 20)
    return out


def render(args, cfg, figs, res, times, mech, loads, wall) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}
    step_over = med["full_step"] / med["uniform_step"] - 1
    extra = (mech["collate_full"] - mech["collate_uniform"]) + (mech["loss_weighted"] - mech["loss_plain"])
    mech_over = extra / med["uniform_step"]
    tok = {m: statistics.median(times[f"{m}_tokens"]) for m in ("full", "uniform")}
    rate = {m: statistics.median(np.array(times[f"{m}_tokens"]) / np.array(times[f"{m}_step"]))
            for m in ("full", "uniform")}  # fmt: skip
    la = ", ".join(f"{k}: {v[0]:.2f}, {v[1]:.2f}, {v[2]:.2f}" for k, v in loads)
    n_train = sum(p.numel() for p in res.model.parameters() if p.requires_grad) / 1e6
    m = cfg.model
    rows = [
        (f"training samples/s, `train()` (Trainer, continuous weights, context dropout 0.3), "
         f"{args.steps} steps after a 2-step warm-up", f"**{figs['sps']:.2f}**"),
        ("training samples/s from the median logged Trainer step", f"{figs['sps_median']:.2f}"),
        ("median step (s), full: weights + context dropout", f"{med['full_step']:.3f}"),
        ("median step (s), uniform: w = 1, no dropout", f"{med['uniform_step']:.3f}"),
        (f"step overhead, full / uniform - 1 ({args.repeats} interleaved pairs)",
         f"{100 * step_over:+.1f} %"),
        ("tokens per step (median), full / uniform", f"{tok['full']:.0f} / {tok['uniform']:.0f}"),
        ("tokens/s (median), full / uniform", f"{rate['full']:.0f} / {rate['uniform']:.0f}"),
        ("collator per batch (ms), full / uniform",
         f"{1e3 * mech['collate_full']:.2f} / {1e3 * mech['collate_uniform']:.2f}"),
        ("loss reduction (µs), weighted / plain mean",
         f"{1e6 * mech['loss_weighted']:.1f} / {1e6 * mech['loss_plain']:.1f}"),
        ("**mechanism overhead** (extra collator + loss time / uniform step)",
         f"**{100 * mech_over:.2f} %**"),
    ]  # fmt: skip
    lines = [
        f"# Training speed, {dt.date.today().isoformat()}",
        "",
        f"Command: `{' '.join(['.venv/bin/python bench/bench_training.py', *sys.argv[1:]])}`",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__}, Python "
        f"{platform.python_version()}, {torch.get_num_threads()} torch threads. Load average (1, 5, 15 min) "
        f"{la} (other jobs share the cores: figures above ~2 mean contention). Wall time: {wall:.0f} s.",
        "",
        f"Model: the embedded default of `{args.config.name}` (face features -> 2-layer projector -> "
        f"{m.visual_tokens} soft tokens -> SmolLM2-135M-Instruct, LoRA r = {cfg.lora.r} on "
        f"{', '.join(cfg.lora.target_modules)}; {n_train:.2f}M trainable parameters), batch "
        f"{cfg.train.per_device_batch}, max_length {m.max_length}, fp32; loaded in {figs['load']:.1f} s from "
        f"the cached safetensors copy. Instances: {len(PAIRS)} counselling-style utterance / reply pairs "
        "cycled, random face features, scores and engagement.",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        f"Target: weighting plus context dropout cost below 3 % of uniform training. Mechanism overhead "
        f"{100 * mech_over:.2f} % ({'met' if mech_over < 0.03 else 'NOT met'}); the whole-step difference is "
        f"{100 * step_over:+.1f} % (context dropout removes cue words, so dropped prompts are shorter; "
        "contention on the shared cores moves single steps by several %).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "training" / "embedded.toml")
    ap.add_argument("--steps", type=int, default=8, help="Trainer steps for the samples/s figure")
    ap.add_argument("--repeats", type=int, default=8, help="interleaved full/uniform step pairs")
    ap.add_argument("--collate", type=int, default=50, help="batches for the collator timing")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or ROOT / "bench" / "results" / f"training-{dt.date.today().isoformat()}.md"
    loads = [("before", os.getloadavg())]
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(args.config).with_(data={"max_eval": 4}, train={"output_dir": tmp})
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        df = instances(n_train=64, n_eval=4)
        figs, res = trainer_throughput(cfg, df, args.steps, Path(tmp))
        times = interleaved(cfg, df, res.model, res.tokenizer, args.repeats)
        mech = mechanism(cfg, df, res.tokenizer, args.collate)
    loads.append(("after", os.getloadavg()))
    text = render(args, cfg, figs, res, times, mech, loads, time.perf_counter() - t_all)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
