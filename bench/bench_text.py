"""Benchmark the text analyzer: utterances per second, batched and one at a time.

Corpus: ~500 real English sentences, taken from the papers in ``shared/papers/*.md`` when that
folder is beside the repository (or ``--corpus`` files), else from scikit-learn's dataset
descriptions (installed with the package). Measures, in one process:
  - cold start: model loading + the first 8 utterances;
  - warm batch ``analyze_many`` on N utterances, with and without the MiniLM embedding;
  - warm ``analyze_turn`` one utterance at a time on the first 100.
Writes bench/results/text-YYYY-MM-DD.md.

The load average is recorded: on a shared 2-core machine, other processes slow torch's 2 threads
down a lot (``--threads 1`` is then often faster).

Usage: .venv/bin/python bench/bench_text.py [--n 500] [--threads T] [--corpus FILE ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus_files(explicit: list[str]) -> tuple[list[Path], str]:
    if explicit:
        return [Path(p) for p in explicit], "given files"
    for shared in (ROOT / "shared", ROOT.parent / "shared"):
        papers = sorted((shared / "papers").glob("*.md"))
        if papers:
            return papers, f"{shared.name}/papers/*.md"
    import sklearn

    descr = sorted((Path(sklearn.__file__).parent / "datasets" / "descr").glob("*.rst"))
    return descr, "scikit-learn dataset descriptions"


def sentences(files: list[Path], n: int) -> list[str]:
    out: list[str] = []
    for f in files:
        for line in f.read_text("utf-8", errors="ignore").splitlines():
            if not line.strip() or re.search(r"[$|\\#=<>{}]", line):  # skip tables, maths, markup
                continue
            for s in re.split(r"(?<=[.!?])\s+", line.strip()):
                words = s.split()
                if 4 <= len(words) <= 40:
                    out.append(s)
    if not out:
        raise SystemExit("no sentences found in the corpus")
    return [out[i % len(out)] for i in range(n)]


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    res = fn(*args)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--corpus", nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    from congruence.perception.text import TextAnalyzer

    files, source = corpus_files(args.corpus)
    texts = sentences(files, args.n)
    n_unique = len(set(texts))
    mean_words = sum(len(t.split()) for t in texts) / len(texts)

    full = TextAnalyzer()
    cold, _ = timed(full.analyze_many, texts[:8])
    warm_full, res = timed(full.analyze_many, texts)
    assert all(f.values["text_status"] == "ok" for f in res)
    n_single = min(100, len(texts))
    single, _ = timed(lambda: [full.analyze_turn(t) for t in texts[:n_single]])

    lex = TextAnalyzer(embed=False)
    lex.analyze_many(texts[:8])
    warm_lex, _ = timed(lex.analyze_many, texts)
    embed_only, _ = timed(full._embed, texts)

    rows = [
        ("cold start (load models + 8 utterances)", f"{cold:.2f} s", ""),
        (
            f"batch analyze_many, {len(texts)} utterances",
            f"{warm_full:.2f} s",
            f"{len(texts) / warm_full:.0f}",
        ),
        (f"batch, embed=False, {len(texts)} utterances", f"{warm_lex:.2f} s", f"{len(texts) / warm_lex:.0f}"),
        (
            f"MiniLM embedding alone, {len(texts)} utterances",
            f"{embed_only:.2f} s",
            f"{len(texts) / embed_only:.0f}",
        ),
        (f"analyze_turn one by one, {n_single} utterances", f"{single:.2f} s", f"{n_single / single:.0f}"),
    ]
    load_after = os.getloadavg()[0]
    today = dt.date.today().isoformat()
    cmd = f"--n {args.n}" + (f" --threads {args.threads}" if args.threads else "")
    lines = [
        f"# Text analyzer benchmark, {today}",
        "",
        f"- command: `.venv/bin/python bench/bench_text.py {cmd}`",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores visible, torch threads "
        f"{torch.get_num_threads()}, Python {platform.python_version()}, torch {torch.__version__}",
        f"- 1-min load average: {load_before:.2f} before, {load_after:.2f} after (shared machine)",
        f"- corpus: {len(texts)} utterances ({n_unique} distinct) from {source}, "
        f"{mean_words:.1f} words on average",
        "- models: spaCy en_core_web_md (tagger + lemmatizer only), VADER, Warriner 2013, NRC EmoLex, "
        "all-MiniLM-L6-v2 on CPU, batch size 32",
        "",
        "| measurement | time | utterances/s |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    out = ROOT / "bench" / "results" / f"text-{today}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    # several runs on one day (e.g. thread settings) are appended, not overwritten
    prior = out.read_text() + "\n" if out.exists() else ""
    out.write_text(prior + "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
