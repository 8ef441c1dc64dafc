"""The identical-strings seed: words spelt the same in both vocabularies, split into the pairs a mapping may be
fitted on and a held-out share that only watches refinement for drift; and the same hash split of the frequent
words, whose held-out share the validation chain never fits (no bilingual dictionary involved)."""
from __future__ import annotations

import hashlib

import numpy as np
import torch


def identical_pairs(src_words: list[str], tgt_words: list[str]) -> np.ndarray:
    """Rows ``[n, 2]`` of the words spelt identically in both vocabularies (first occurrence each)."""
    _, src_rows, tgt_rows = np.intersect1d(np.array(src_words, dtype=object).astype(str),
                                           np.array(tgt_words, dtype=object).astype(str),
                                           assume_unique=False, return_indices=True)
    pairs = np.stack([src_rows, tgt_rows], axis=1).astype(np.int64)
    return pairs[np.argsort(pairs[:, 0], kind="stable")]


def _bucket(word: str) -> float:
    return int.from_bytes(hashlib.sha1(word.encode("utf-8")).digest()[:4], "big") / 2 ** 32


def split_seed(pairs: np.ndarray, words: list[str], fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, watch): each pair goes to ``watch`` with probability ``fraction`` by a hash of its word (``words``
    indexed by the pairs' first column), so the split does not depend on seeds, order or vocabulary size."""
    held = np.array([_bucket(words[row]) for row in pairs[:, 0]], dtype=np.float64) < fraction
    return pairs[~held], pairs[held]


def held_out_words(words: list[str], fraction: float, rank: int) -> np.ndarray:
    """Boolean mask over ``words``: the ones among the ``rank`` first held out by the hash of ``split_seed`` (an
    identical string is held out here exactly when its pair is a watch pair)."""
    mask = np.zeros(len(words), dtype=bool)
    mask[:rank] = [_bucket(word) < fraction for word in words[:rank]]
    return mask


def watch_precision(translations: torch.Tensor, watch: np.ndarray) -> float | None:
    """P@1 (percent) of the ``watch`` pairs whose mapped-side row has a translation in ``translations`` (the CSLS
    translations of the most frequent rows); None when no watch pair is that frequent."""
    if watch is None or not len(watch):
        return None
    inside = watch[watch[:, 0] < len(translations)]
    if not len(inside):
        return None
    return round(100.0 * float((translations[inside[:, 0]].numpy() == inside[:, 1]).mean()), 2)
