"""Algorithm 1's round schedule (both backends): uniform length thresholds and the sentences they select."""
from __future__ import annotations

import numpy as np

from zsner.rounds import sample_threshold, within_threshold


def test_thresholds_cover_the_whole_range_uniformly():
    draws = [sample_threshold(np.random.default_rng([7, n]), 3, 9) for n in range(2000)]
    counts = np.bincount(draws, minlength=10)
    assert counts[:3].sum() == 0 and all(200 < c < 380 for c in counts[3:])  # 7 values, about 286 each


def test_selection_matches_brute_force():
    lengths = np.random.default_rng(0).integers(1, 40, size=300)
    for threshold in (0, 1, 17, 39, 40):
        expected = [i for i, n in enumerate(lengths.tolist()) if n <= threshold]
        assert within_threshold(lengths, threshold).tolist() == expected
        assert within_threshold(lengths.tolist(), threshold).tolist() == expected
