"""Benchmark the evaluation stage: lexicon PCT metrics, embedding parts, BERTScore.

Targets (issue 15): >= 5,000 responses/s for the lexicon-based metrics through the public API and
>= 300 pairs/s for BERTScore and the MiniLM mirroring on the 2-core CPU. Model loading is timed
separately from throughput. Measured:
  - lexicon-only PCT metrics (similarity="lexical", word_vectors="none"), responses/s;
  - the pure path (count_markers + score_counts) without the DataFrame wrapper;
  - GloVe congruence similarity alone (batched), responses/s;
  - MiniLM mirroring alone (batched, client + response embeddings), pairs/s;
  - BERTScore on all-MiniLM-L6-v2 layer 4, rescaled: distinct pairs, and the compare workflow
    (4 systems answering the same client utterances, so each client text is embedded once);
  - where BERTScore's time goes (``--breakdown``): tokenisation, the model's forward pass, the
    greedy matching, by batch size, and the arithmetic floor of the forward pass.
Writes bench/results/evaluation-YYYY-MM-DD.md (appends when the file exists) or ``--out``; the
machine load (``uptime``) is written beside the figures.

Usage: .venv/bin/python bench/bench_evaluation.py [--n-lexicon 3000] [--n-pairs 400] [--threads 2]
       [--breakdown] [--out FILE] [--label TEXT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus() -> tuple[list[str], list[str]]:
    """(responses, utterances): the contrast responses, and distinct sentences for pairs.

    Distinct sentences come from shared/papers/*.md when present (as the text benchmark), plus the
    project's reference sentences.
    """
    from congruence.evaluation.baselines import reference_sentences

    data = json.loads((ROOT / "tests" / "evaluation" / "contrast_responses.json").read_text(encoding="utf-8"))
    responses = [
        c[t] for c in data["cases"] for t in ("reflective", "directive", "generic", "performative", "verbose")
    ]
    sents = list(reference_sentences())
    papers = ROOT.parent / "shared" / "papers"
    if not papers.is_dir():
        papers = Path("/work/shared/papers")
    for p in sorted(papers.glob("*.md")):
        for s in re.split(r"(?<=[.!?])\s+", p.read_text(encoding="utf-8")):
            s = " ".join(s.split())
            if 8 <= len(s.split()) <= 40 and not re.search(r"[\\$|{}_^]", s):
                sents.append(s)
    return responses, list(dict.fromkeys(sents))


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


class Clock:
    """Wall and process CPU time of a block; CPU time / item is less sensitive to other processes."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0

    def per_cpu_s(self, n: int) -> str:
        return f"{n / self.cpu:,.0f}" if self.cpu > 0 else ""


def uptime() -> str:
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):  # pragma: no cover - no uptime binary
        return "n/a"


def bertscore_breakdown(bs, cands: list[str], refs: list[str]) -> list[tuple[str, str, str]]:
    """Where BERTScore's time goes: bert_score's own steps timed in place, and batch sizes.

    bert_score embeds each distinct sentence once (tokenise, pad, forward pass of the truncated
    model), then matches the token embeddings of each pair (``greedy_cos_idf``); idf is off
    (every token weight 1, [CLS]/[SEP] 0), so no idf dictionary is built.
    """
    import bert_score.utils as bu
    import torch

    timers = {"sent_encode": 0.0, "bert_encode": 0.0, "greedy_cos_idf": 0.0}
    originals = {k: getattr(bu, k) for k in timers}

    def timed(name):
        fn = originals[name]

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[name] += time.perf_counter() - t0

        return wrapper

    rows = []
    n = len(cands)
    uniq = list(dict.fromkeys(cands + refs))
    tok = bs.scorer._tokenizer
    n_tokens = sum(len(tok(s, truncation=True)["input_ids"]) for s in uniq)
    cfg = bs.scorer._model.config
    h, ff, layers = cfg.hidden_size, cfg.intermediate_size, bs.settings.num_layers
    flop_per_token = 2 * layers * (4 * h * h + 2 * h * ff)  # the dense layers; attention adds a little
    try:
        for k in timers:
            setattr(bu, k, timed(k))
        with torch.inference_mode(), Clock() as ck:
            bs.score(cands, refs)
    finally:
        for k, fn in originals.items():
            setattr(bu, k, fn)
    total = ck.wall
    fwd = timers["bert_encode"]
    rows.append(
        (
            f"BERTScore parts, {n} pairs, {len(uniq)} distinct sentences, {n_tokens} tokens",
            f"{total:.2f} s",
            "",
        )
    )
    rows.append(
        (
            "  tokenisation (bert_score sent_encode, per sentence)",
            f"{timers['sent_encode']:.2f} s",
            f"{100 * timers['sent_encode'] / total:.0f} %",
        )
    )
    rows.append(
        ("  forward pass (truncated model, padded batches)", f"{fwd:.2f} s", f"{100 * fwd / total:.0f} %")
    )
    rows.append(
        (
            "  greedy matching (greedy_cos_idf)",
            f"{timers['greedy_cos_idf']:.2f} s",
            f"{100 * timers['greedy_cos_idf'] / total:.0f} %",
        )
    )
    rows.append(
        (
            f"  forward arithmetic: {flop_per_token / 1e6:.1f} MFLOP/token x {n_tokens} tokens",
            f"{flop_per_token * n_tokens / 1e9:.0f} GFLOP",
            f"{flop_per_token * n_tokens / 1e9 / fwd:.0f} GFLOP/s achieved",
        )
    )
    for b in (16, 64, 256):
        old = bs.batch_size
        bs.batch_size = b
        try:
            with torch.inference_mode(), Clock() as ck:
                bs.score(cands, refs)
        finally:
            bs.batch_size = old
        rows.append((f"  batch size {b}", f"{ck.wall:.2f} s", rate(n, ck.wall) + " pairs/s"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-lexicon", type=int, default=3000)
    ap.add_argument("--n-pairs", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--breakdown", action="store_true", help="time BERTScore's parts and batch sizes")
    ap.add_argument("--out", type=Path, default=None, help="result file (default: bench/results/...)")
    ap.add_argument("--label", default="", help="a label for this run's heading (e.g. before / after)")
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from congruence.evaluation import pct
    from congruence.evaluation.bertscore import BERTScore
    from congruence.evaluation.lexicon import load_all

    load0 = os.getloadavg()[0]
    uptime0 = uptime()
    responses, sents = corpus()
    rng = np.random.default_rng(0)
    lex_resp = [responses[i % len(responses)] for i in range(args.n_lexicon)]
    lex_client = [sents[i % len(sents)] for i in range(args.n_lexicon)]
    rows: list[tuple[str, str, str]] = []

    fast = pct.PCTScorer(similarity="lexical", word_vectors="none")
    fast.score_texts(lex_resp[:20], lex_client[:20])  # compile the regexes
    t = time.perf_counter()
    fast.score_texts(lex_resp, lex_client)
    dt_ = time.perf_counter() - t
    rows.append(
        (
            f"lexicon PCT metrics (PCTScorer lexical/none), {args.n_lexicon} responses",
            f"{dt_:.2f} s",
            rate(args.n_lexicon, dt_) + " responses/s",
        )
    )

    lexicons = load_all()
    t = time.perf_counter()
    for r in lex_resp:
        pct.score_counts(pct.count_markers(r, lexicons), mirroring=0.5, concept_similarity=None)
    dt_ = time.perf_counter() - t
    rows.append(
        (
            f"pure path count_markers + score_counts, {args.n_lexicon} responses",
            f"{dt_:.2f} s",
            rate(args.n_lexicon, dt_) + " responses/s",
        )
    )

    vec = pct.WordVectors(source="glove")
    t = time.perf_counter()
    _ = vec._table
    rows.append(("load GloVe 6B 50d (400k words)", f"{time.perf_counter() - t:.2f} s", ""))
    stop = frozenset(pct.read_words("stopwords"))
    concepts = pct.read_words("congruence_concepts")
    t = time.perf_counter()
    pct.concept_cosines(lex_resp, vec, concepts, stop)
    dt_ = time.perf_counter() - t
    rows.append(
        (
            f"GloVe congruence similarity, {args.n_lexicon} responses",
            f"{dt_:.2f} s",
            rate(args.n_lexicon, dt_) + " responses/s",
        )
    )

    n = args.n_pairs
    idx = rng.permutation(len(sents))
    cands = [sents[i] for i in idx[:n]]
    refs = [sents[i] for i in idx[n : 2 * n]] if len(sents) >= 2 * n else [sents[i] for i in idx[-n:]]
    words = np.mean([len(s.split()) for s in cands + refs])

    enc = pct.SentenceEncoder()
    t = time.perf_counter()
    enc.encode(["warm up"])
    rows.append(("load all-MiniLM-L6-v2 (sentence-transformers)", f"{time.perf_counter() - t:.2f} s", ""))
    with Clock() as ck:
        a, b = enc.encode(refs), enc.encode(cands)
        _ = (a * b).sum(axis=1)
    rows.append(
        (
            f"MiniLM mirroring, {n} distinct pairs",
            f"{ck.wall:.2f} s (CPU {ck.cpu:.2f} s)",
            rate(n, ck.wall) + f" pairs/s ({ck.per_cpu_s(n)} per CPU-second)",
        )
    )

    bs = BERTScore(model="minilm")
    t = time.perf_counter()
    bs.score(cands[:4], refs[:4])
    rows.append(("load BERTScore MiniLM L4 + first batch", f"{time.perf_counter() - t:.2f} s", ""))
    with torch.inference_mode(), Clock() as ck:
        bs.score(cands, refs)
    rows.append(
        (
            f"BERTScore MiniLM L4 rescaled, {n} distinct pairs",
            f"{ck.wall:.2f} s (CPU {ck.cpu:.2f} s)",
            rate(n, ck.wall) + f" pairs/s ({ck.per_cpu_s(n)} per CPU-second)",
        )
    )
    clients = refs[: n // 4]
    wf_c = [cands[i] for i in range(len(clients) * 4)]
    wf_r = [clients[i % len(clients)] for i in range(len(clients) * 4)]
    with torch.inference_mode(), Clock() as ck:
        bs.score(wf_c, wf_r)
    dt_ = ck.wall
    rows.append(
        (
            f"BERTScore, 4 systems x {len(clients)} clients ({len(wf_c)} pairs)",
            f"{dt_:.2f} s (CPU {ck.cpu:.2f} s)",
            rate(len(wf_c), dt_) + f" pairs/s ({ck.per_cpu_s(len(wf_c))} per CPU-second)",
        )
    )

    if args.breakdown:
        rows += bertscore_breakdown(bs, cands, refs)
    load1 = os.getloadavg()[0]
    uptime1 = uptime()
    cmd = "`.venv/bin/python bench/bench_evaluation.py " + " ".join(sys.argv[1:]) + "`"
    lines = [
        f"# Evaluation benchmark, {dt.date.today().isoformat()}" + (f" ({args.label})" if args.label else ""),
        "",
        f"- command: {cmd.replace(' `', '`')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores visible, torch threads "
        f"{torch.get_num_threads()}, Python {platform.python_version()}, torch {torch.__version__}",
        f"- 1-min load average: {load0:.2f} before, {load1:.2f} after (shared machine)",
        f"- `uptime` before: {uptime0}",
        f"- `uptime` after: {uptime1}",
        f"- texts: {len(responses)} contrast responses (cycled) for the lexicon metrics; {n} distinct "
        f"sentence pairs ({words:.1f} words on average) from the reference sentences and shared/papers "
        "for the embedding parts",
        "- targets (issue 15): >= 5,000 responses/s (lexicon metrics, public API), >= 300 pairs/s "
        "(BERTScore and mirroring, packaged model)",
        "- 'per CPU-second': items per second of this process's CPU time (all threads), a figure that "
        "depends less on the other processes of a shared machine than the wall-clock rate",
        "",
        "| measurement | time | throughput |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    out = args.out or ROOT / "bench" / "results" / f"evaluation-{dt.date.today().isoformat()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    if out.exists():
        text = out.read_text(encoding="utf-8").rstrip() + "\n\n" + text
    out.write_text(text + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
