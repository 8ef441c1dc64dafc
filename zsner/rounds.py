"""Algorithm 1's round schedule, shared by both backends: before each pseudo-label round a length threshold
``l ~ U(min, max)`` is drawn, and the target sentences with at most ``l`` words are the ones labelled."""
from __future__ import annotations

import numpy as np


def sample_threshold(rng: np.random.Generator, low: int, high: int) -> int:
    """One length threshold, uniform over ``low..high`` (both included)."""
    return int(rng.integers(low, high + 1))


def within_threshold(lengths, threshold: int) -> np.ndarray:
    """Indices (ascending) of the sentences with at most ``threshold`` words."""
    return np.flatnonzero(np.asarray(lengths) <= threshold)
