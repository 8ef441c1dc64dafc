"""Orthogonal Procrustes, synthetic dictionary induction with CSLS, identical-strings seed, refinement.

Convention everywhere in ``zsner.mapping``: ``W`` maps row vectors ``x`` of the mapped side as ``x @ W.T``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from .retrieval import csls_translations, unit_rows

log = logging.getLogger(__name__)


def procrustes(src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """The orthogonal W minimising ``||src @ W.T - tgt||_F``: ``W = U V^T`` with ``U S V^T = svd(tgt^T src)``."""
    u, _, vt = torch.linalg.svd(tgt.T.double() @ src.double())
    return (u @ vt).float()


def identical_pairs(src_words: list[str], tgt_words: list[str]) -> np.ndarray:
    """Rows ``[n, 2]`` of the words spelt identically in both vocabularies (first occurrence each)."""
    _, src_rows, tgt_rows = np.intersect1d(np.array(src_words, dtype=object).astype(str),
                                           np.array(tgt_words, dtype=object).astype(str),
                                           assume_unique=False, return_indices=True)
    pairs = np.stack([src_rows, tgt_rows], axis=1).astype(np.int64)
    return pairs[np.argsort(pairs[:, 0], kind="stable")]


def build_dictionary(mapped: torch.Tensor, target: torch.Tensor, method: str = "S2T", max_rank: int = 15_000,
                     k: int = 10, block_size: int = 4096, n_queries: int = 10_000) -> tuple[np.ndarray, float]:
    """Synthetic dictionary ``[n, 2]`` (mapped row, target row) of CSLS translations among the ``max_rank``
    most frequent words of each side: ``S2T``, ``T2S``, union ``S2T|T2S`` or mutual nearest neighbours
    ``S2T&T2S``; with it, the unsupervised criterion of the same mapping (mean cosine of the S2T translations
    of the ``n_queries`` first rows), which comes for free from the S2T search."""
    src, tgt = unit_rows(mapped[:max_rank]), unit_rows(target[:max_rank])
    n_tgt = tgt.shape[0]
    best, cosines = csls_translations(src, tgt, k, block_size)
    criterion = float(cosines[:n_queries].mean())
    codes = []
    if "S2T" in method:
        codes.append((torch.arange(src.shape[0]) * n_tgt + best).numpy())
    if "T2S" in method:
        back = csls_translations(tgt, src, k, block_size)[0]
        codes.append((back * n_tgt + torch.arange(n_tgt)).numpy())
    if len(codes) == 1:
        merged = np.unique(codes[0])
    elif "&" in method:
        merged = np.intersect1d(codes[0], codes[1])
    else:
        merged = np.union1d(codes[0], codes[1])
    return np.stack([merged // n_tgt, merged % n_tgt], axis=1).astype(np.int64), criterion


@dataclass
class RefinementResult:
    w: torch.Tensor                    # best mapping by the criterion (the initial one included)
    best_step: int                     # 0 = the initial mapping
    history: list[dict] = field(default_factory=list)  # per step: criterion, dictionary size


def refine(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, config, evaluate=None, tag: str = "",
           every_step: bool = False) -> RefinementResult:
    """Alternate CSLS dictionary induction and Procrustes ``config.n_refinement`` times from ``w0``; keep the
    mapping with the best unsupervised criterion. ``evaluate(w) -> dict`` adds (supervised) figures to the
    history of the initial and the best step (of every step with ``every_step``) for reporting only; it
    never influences the result."""
    def analyse(w):
        return build_dictionary(x @ w.T, y, config.dico_build, config.dico_max_rank, config.csls_k,
                                config.block_size, config.criterion_queries)

    dico, value = analyse(w0)
    best_w, best_value, best_step = w0, value, 0
    history = [{"step": 0, "criterion": round(value, 5), **(evaluate(w0) if evaluate else {})}]
    log.info("refinement%s step 0: criterion %.5f%s", tag, value, _figures(history[-1]))
    for step in range(1, config.n_refinement + 1):
        w = procrustes(x[dico[:, 0]], y[dico[:, 1]])
        size = len(dico)
        dico, value = analyse(w)  # criterion of w, and the dictionary for the next step
        history.append({"step": step, "criterion": round(value, 5), "dictionary": size,
                        **(evaluate(w) if evaluate and every_step else {})})
        log.info("refinement%s step %d: dictionary %d pairs, criterion %.5f%s", tag, step, size, value,
                 _figures(history[-1]))
        if value > best_value:
            best_w, best_value, best_step = w, value, step
    if evaluate and not every_step and best_step:
        history[best_step].update(evaluate(best_w))
        log.info("refinement%s best step %d:%s", tag, best_step, _figures(history[best_step])[1:])
    return RefinementResult(best_w, best_step, history)


def _figures(entry: dict) -> str:
    extra = {key: value for key, value in entry.items() if key not in ("step", "criterion", "dictionary")}
    return "".join(f", {key} {value}" for key, value in extra.items())
