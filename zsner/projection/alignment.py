"""SimAlign-style word alignment from a word similarity matrix (Jalili Sabet et al., 2020).

The matrix is the cosine similarity of the two sentences' word vectors, rescaled to ``[0, 1]`` as SimAlign does
(so masking by multiplication keeps the order of similarities). ``argmax`` aligns ``(i, j)`` when ``j`` is the best
target word of ``i`` and ``i`` the best source word of ``j`` (first index on ties, as ``numpy.argmax``).
``itermax`` repeats that on the words still unaligned: each later round scales similarities by
``clip(alpha * [i unaligned] + alpha * [j unaligned], 0, 1)`` and adds the new mutual argmaxes that touch at least
one unaligned word, for ``rounds`` rounds in all (SimAlign: 2, alpha 0.9; sentences with at most two words on a
side stop after the first round).
"""
from __future__ import annotations

import numpy as np
import torch


def similarity_matrix(source: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """``(cos + 1) / 2`` of every source and target word vector: ``[m, n]`` in ``[0, 1]``."""
    source = torch.nn.functional.normalize(source.float(), dim=-1)
    target = torch.nn.functional.normalize(target.float(), dim=-1)
    return ((source @ target.T + 1.0) / 2.0).cpu().numpy()


def mutual_argmax(sim: np.ndarray) -> np.ndarray:
    """Boolean ``[m, n]``: ``(i, j)`` where each is the other's most similar word."""
    m, n = sim.shape
    forward = np.zeros((m, n), dtype=bool)
    forward[np.arange(m), sim.argmax(axis=1)] = True
    backward = np.zeros((m, n), dtype=bool)
    backward[sim.argmax(axis=0), np.arange(n)] = True
    return forward & backward


def itermax(sim: np.ndarray, rounds: int = 2, alpha: float = 0.9) -> np.ndarray:
    """Boolean ``[m, n]``: mutual argmax, then up to ``rounds - 1`` rounds over the words left unaligned."""
    aligned = mutual_argmax(sim)
    if min(sim.shape) <= 2:
        return aligned
    for _ in range(rounds - 1):
        free_rows = ~aligned.any(axis=1)
        free_cols = ~aligned.any(axis=0)
        if not free_rows.any() or not free_cols.any():
            break
        scale = np.clip(alpha * free_rows[:, None] + alpha * free_cols[None, :], 0.0, 1.0)
        either_free = free_rows[:, None] | free_cols[None, :]
        added = mutual_argmax(sim * scale) & either_free
        if not (added & ~aligned).any():
            break
        aligned = aligned | added
    return aligned


def align(sim: np.ndarray, method: str = "itermax", rounds: int = 2, alpha: float = 0.9) -> np.ndarray:
    if method == "argmax":
        return mutual_argmax(sim)
    if method == "itermax":
        return itermax(sim, rounds, alpha)
    raise ValueError(f"unknown alignment method {method!r}")
