"""Stratified random sampling of annotated pairs for expert validation.

E-THER (docs/references.md#e-ther, section III-D): a clinical psychologist "independently review[ed] a
stratified random sample of 100 dialogue pairs (12.7% of the total corpus), with proportional
representation from each rater". Here the strata are (rater, label) so that both the raters and
the incongruence types are represented in proportion.

Allocation is proportional with the largest-remainder (Hamilton) method: stratum ``h`` of size
``N_h`` gets ``floor(n N_h / N)`` items, and the ``n - sum floor(...)`` items left go to the
strata with the largest fractional parts (ties broken at random by the seed). Every stratum
therefore gets ``floor`` or ``ceil`` of its exact quota ``n N_h / N``, and the total is exactly
``n``. Within a stratum the items are drawn uniformly without replacement.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence

from congruence.errors import CongruenceError

#: E-THER reviewed 100 of 789 pairs.
ETHER_SHARE = 100 / 789


def sample_size(n_items: int, share: float) -> int:
    """``round(share * N)`` (half up), at least 1 when ``share > 0`` and there are items.

    >>> sample_size(789, 0.127)
    100
    """
    if not 0.0 <= share <= 1.0 or math.isnan(share):
        raise CongruenceError(f"The sample share must lie in [0, 1], got {share}.", "Pass e.g. 0.127.")
    if n_items <= 0 or share == 0:
        return 0
    return max(1, min(n_items, math.floor(share * n_items + 0.5)))


def allocate(sizes: Mapping[Hashable, int], n: int, *, seed: int = 0) -> dict[Hashable, int]:
    """Proportional allocation of ``n`` draws over strata of the given sizes (largest remainder).

    >>> allocate({"a": 50, "b": 30, "c": 20}, 10)
    {'a': 5, 'b': 3, 'c': 2}
    """
    total = sum(sizes.values())
    if n < 0 or n > total:
        raise CongruenceError(f"Cannot draw {n} items from {total}.", f"Draw between 0 and {total}.")
    if total == 0:
        return dict.fromkeys(sizes, 0)
    quotas = {k: n * v / total for k, v in sizes.items()}
    alloc = {k: math.floor(q) for k, q in quotas.items()}
    left = n - sum(alloc.values())
    rng = random.Random(seed)
    keys = list(sizes)
    rng.shuffle(keys)  # random tie-break among equal remainders
    keys.sort(key=lambda k: quotas[k] - alloc[k], reverse=True)  # stable: keeps the shuffle on ties
    for k in keys[:left]:
        alloc[k] += 1
    return alloc


def stratified_sample(
    strata: Sequence[Hashable], *, share: float | None = None, n: int | None = None, seed: int = 0
) -> list[int]:
    """Positions of a stratified random sample of the items whose stratum labels are ``strata``.

    Give either ``share`` (of all items, rounded with :func:`sample_size`) or ``n``. The result is
    sorted and reproducible for a seed.

    >>> stratified_sample(["a"] * 6 + ["b"] * 4, n=5, seed=1)
    [0, 4, 5, 6, 8]
    """
    if (share is None) == (n is None):
        raise CongruenceError("Give exactly one of share= and n=.", "E.g. share=0.127 as in E-THER.")
    size = sample_size(len(strata), share) if share is not None else int(n)  # type: ignore[arg-type]
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, s in enumerate(strata):
        groups[s].append(i)
    alloc = allocate({k: len(v) for k, v in groups.items()}, size, seed=seed)
    rng = random.Random(seed + 1)
    picked: list[int] = []
    for key in sorted(groups, key=repr):  # a fixed order keeps the draw reproducible
        picked.extend(rng.sample(groups[key], alloc[key]))
    return sorted(picked)
