"""How stable the language groups are across seeds and caps: the adjusted Rand index between the majority-vote
groupings of every two (seed, cap) settings, for the LID-fine-tuned encoder and for the plain one."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from .grouping import adjusted_rand


def stability(settings: dict[str, dict]) -> dict:
    """``settings``: name (``seed1-cap200``) -> ``{"seed", "cap", "lid": {lang: group}, "plain": {...},
    "lid_accuracy"}``. Returns every setting, every pair's ARI and the mean ARI per encoder."""
    pairs = [{"a": a, "b": b, **{variant: adjusted_rand(settings[a][variant], settings[b][variant])
                                 for variant in ("lid", "plain")}}
             for a, b in combinations(settings, 2)]
    mean = {variant: round(float(np.mean([pair[variant] for pair in pairs])), 4) if pairs else None
            for variant in ("lid", "plain")}
    return {"settings": settings, "pairs": pairs, "mean_ari": mean}
