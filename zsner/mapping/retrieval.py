"""Blocked nearest-neighbour and CSLS search, the unsupervised criterion, and P@k evaluation.

All similarity matrices are computed ``block_size`` query rows at a time, so memory stays at
``block_size x n_keys`` floats whatever the vocabulary sizes. Inputs are rows of float32 tensors; the
functions L2-normalise them themselves where cosine similarity is meant.

CSLS (Conneau et al. 2017): ``csls(x, y) = 2 cos(x, y) - r_Y(x) - r_X(y)``, where ``r_Y(x)`` is the mean
cosine of ``x`` to its ``k`` nearest neighbours among the other language's vectors.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import ZsnerError

log = logging.getLogger(__name__)


def unit_rows(matrix: torch.Tensor) -> torch.Tensor:
    return matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-12)


def mean_knn_sim(queries: torch.Tensor, keys: torch.Tensor, k: int, block_size: int = 4096) -> torch.Tensor:
    """For each (unit) query, the mean similarity to its ``k`` most similar (unit) keys: CSLS's ``r``."""
    k = min(k, keys.shape[0])
    out = torch.empty(queries.shape[0])
    for start in range(0, queries.shape[0], block_size):
        sims = queries[start:start + block_size] @ keys.T
        out[start:start + block_size] = sims.topk(k, dim=1).values.mean(1)
    return out


def search(queries: torch.Tensor, keys: torch.Tensor, topk: int = 1, key_penalty: torch.Tensor | None = None,
           block_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``topk`` keys per (unit) query by cosine, or by CSLS when ``key_penalty`` (= ``r`` of the keys)
    is given. Returns (scores, indices), each ``[n_queries, topk]``; CSLS scores omit the query's own ``r``
    term, which does not change a query's ranking."""
    topk = min(topk, keys.shape[0])
    scores = torch.empty(queries.shape[0], topk)
    indices = torch.empty(queries.shape[0], topk, dtype=torch.long)
    for start in range(0, queries.shape[0], block_size):
        sims = queries[start:start + block_size] @ keys.T
        if key_penalty is not None:
            sims.mul_(2).sub_(key_penalty)
        scores[start:start + block_size], indices[start:start + block_size] = sims.topk(topk, dim=1)
    return scores, indices


def translate(queries: torch.Tensor, keys: torch.Tensor, method: str = "csls", k: int = 10, topk: int = 1,
              block_size: int = 4096, neighbours: torch.Tensor | None = None) -> torch.Tensor:
    """Indices ``[n_queries, topk]`` of the best keys for unit queries, by ``nn`` or ``csls``. The CSLS
    penalty of each key is computed against ``neighbours`` (default: the queries)."""
    if method == "nn":
        return search(queries, keys, topk, block_size=block_size)[1]
    if method != "csls":
        raise ValueError(f"unknown retrieval method {method!r}")
    penalty = mean_knn_sim(keys, queries if neighbours is None else neighbours, k, block_size)
    return search(queries, keys, topk, penalty, block_size)[1]


def csls_translations(src: torch.Tensor, tgt: torch.Tensor, k: int = 10, block_size: int = 4096):
    """CSLS translation of every (unit) ``src`` row among the ``tgt`` rows, and its cosine: (indices, cosines)."""
    best = translate(src, tgt, "csls", k, 1, block_size)[:, 0]
    return best, (src * tgt[best]).sum(1)


def mean_cosine_criterion(mapped: torch.Tensor, target: torch.Tensor, n_queries: int = 10_000,
                          max_rank: int = 15_000, k: int = 10, block_size: int = 4096) -> float:
    """Unsupervised validation criterion: mean cosine between the ``n_queries`` most frequent mapped source
    words and their CSLS translations among the ``max_rank`` most frequent target words (CSLS neighbourhoods
    also within the ``max_rank`` most frequent words of each side, as in MUSE's dictionary builder)."""
    src, tgt = unit_rows(mapped[:max_rank]), unit_rows(target[:max_rank])
    penalty = mean_knn_sim(tgt, src, k, block_size)
    queries = src[:n_queries]
    best = search(queries, tgt, 1, penalty, block_size)[1][:, 0]
    return float((queries * tgt[best]).sum(1).mean())


def load_dictionary(path, src_index: dict[str, int], tgt_index: dict[str, int], lowercase: bool = True):
    """Read a MUSE dictionary (``src tgt`` per line, space or tab). Returns (pairs ``[n, 2]`` int64 of
    in-vocabulary rows, stats) where stats counts all pairs, kept pairs, and covered source words."""
    path = Path(path)
    if not path.exists():
        raise ZsnerError("no such dictionary file", path)
    raw = []
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                parts = (line.lower() if lowercase else line).split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise ZsnerError(f"expected 'source target', got {len(parts)} fields", path, number)
                raw.append(parts)
        except UnicodeDecodeError:
            raise ZsnerError("dictionary is not UTF-8", path) from None
    if not raw:
        raise ZsnerError("empty dictionary", path)
    rows = np.array([(src_index.get(s, -1), tgt_index.get(t, -1)) for s, t in raw], dtype=np.int64)
    pairs = np.unique(rows[(rows >= 0).all(1)], axis=0)
    stats = {"pairs": len(raw), "pairs_in_vocab": int(len(pairs)),
             "source_words": len({s for s, _ in raw}), "source_words_in_vocab": int(len(np.unique(pairs[:, 0])))}
    if not len(pairs):
        raise ZsnerError("no dictionary pair has both words in the vocabularies", path)
    return pairs, stats


def precision_at_k(mapped: torch.Tensor, target: torch.Tensor, pairs: np.ndarray, ks=(1, 5, 10),
                   method: str = "csls", k: int = 10, block_size: int = 4096) -> dict[str, float]:
    """Word-translation P@k (percent), MUSE conventions: one query per distinct source word of ``pairs``,
    retrieval over the whole target matrix (CSLS neighbourhoods over both whole matrices); correct if any
    gold translation is among the top k."""
    pairs = torch.as_tensor(pairs, dtype=torch.long)
    sources, query_of_pair = torch.unique(pairs[:, 0], return_inverse=True)
    src, tgt = unit_rows(mapped), unit_rows(target)
    top = translate(src[sources], tgt, method, k, max(ks), block_size, neighbours=src)
    gold = query_of_pair * target.shape[0] + pairs[:, 1]
    hits = torch.isin(torch.arange(len(sources))[:, None] * target.shape[0] + top, gold)
    return {f"P@{n}": round(100.0 * float(hits[:, :n].any(1).float().mean()), 2) for n in ks}
