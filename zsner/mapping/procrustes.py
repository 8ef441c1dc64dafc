"""Orthogonal Procrustes, synthetic dictionary induction with CSLS, and refinement guarded against drift by
held-out signals (identical strings' P@1, frequent words' mutual neighbours).

Convention everywhere in ``zsner.mapping``: ``W`` maps row vectors ``x`` of the mapped side as ``x @ W.T``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from .retrieval import csls_translations, translate, unit_rows
from .seed import watch_precision

log = logging.getLogger(__name__)


def procrustes(src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """The orthogonal W minimising ``||src @ W.T - tgt||_F``: ``W = U V^T`` with ``U S V^T = svd(tgt^T src)``."""
    u, _, vt = torch.linalg.svd(tgt.T.double() @ src.double())
    return (u @ vt).float()


def build_dictionary(mapped: torch.Tensor, target: torch.Tensor, method: str = "S2T", max_rank: int = 15_000,
                     k: int = 10, block_size: int = 4096, n_queries: int = 10_000):
    """Synthetic dictionary ``[n, 2]`` (mapped row, target row) of CSLS translations among the ``max_rank``
    most frequent words of each side: ``S2T``, ``T2S``, union ``S2T|T2S`` or mutual nearest neighbours
    ``S2T&T2S``; with it, the unsupervised criterion of the same mapping (mean cosine of the S2T translations
    of the ``n_queries`` first rows) and those S2T translations, which come for free from the S2T search.
    Returns (dictionary, criterion, translations)."""
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
    return np.stack([merged // n_tgt, merged % n_tgt], axis=1).astype(np.int64), criterion, best


def mutual_share(mapped: torch.Tensor, target: torch.Tensor, translations: torch.Tensor, rows: torch.Tensor,
                 k: int = 10, block_size: int = 4096) -> float | None:
    """Percent of the mapped ``rows`` whose CSLS translation (``translations``: S2T among the
    ``len(translations)`` most frequent words of each side) has them as its own CSLS translation back (T2S among
    the same words): mutual nearest neighbours, a cycle-consistency that needs no dictionary."""
    if rows is None or not len(rows):
        return None
    rank = len(translations)
    src, tgt = unit_rows(mapped[:rank]), unit_rows(target[:rank])
    back = translate(tgt[translations[rows]], src, "csls", k, 1, block_size, neighbours=tgt)[:, 0]
    return round(100.0 * float((back == rows).float().mean()), 2)


@dataclass
class RefinementResult:
    w: torch.Tensor                    # the chosen mapping (the initial one included)
    best_step: int                     # 0 = the initial mapping
    history: list[dict] = field(default_factory=list)  # per step: criterion, dictionary size, watched signals
    stopped: int | None = None         # the step whose drift ended the refinement
    drift: str | None = None           # what drifted there


def refine(x: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, config, evaluate=None, tag: str = "",
           every_step: bool = False, anchors: np.ndarray | None = None,
           watch: np.ndarray | None = None, held: np.ndarray | None = None,
           watch_stops: bool = True) -> RefinementResult:
    """Alternate CSLS dictionary induction and Procrustes ``config.n_refinement`` times from ``w0``; keep the
    mapping with the best unsupervised criterion among the steps before drift. ``anchors`` (seed pairs) join
    every step's dictionary. Two held-out signals watch the chain, and a step where one drifts ends the
    refinement (it cannot be chosen):

    * ``watch`` pairs (identical strings not fitted): a loss of more than ``config.drift_tolerance`` points of
      their P@1 against the start (``watch_stops`` false: their P@1 is only recorded);
    * ``held`` (boolean mask over the mapped rows: frequent words left out of every dictionary): the share of
      them that are mutual CSLS neighbours with their translation falls by more than ``config.mutual_tolerance``
      of its start (relative).

    ``evaluate(w) -> dict`` adds (supervised) figures to the history of the initial and the chosen step (of
    every step with ``every_step``) for reporting only; it never influences the result."""
    held_rows = None
    if held is not None and held[:config.dico_max_rank].any():
        held_rows = torch.from_numpy(np.flatnonzero(held[:config.dico_max_rank]))

    def analyse(w):
        mapped = x @ w.T
        dico, value, translations = build_dictionary(mapped, y, config.dico_build, config.dico_max_rank,
                                                     config.csls_k, config.block_size, config.criterion_queries)
        share = None
        if held_rows is not None:
            dico = dico[~held[dico[:, 0]]]
            share = mutual_share(mapped, y, translations, held_rows, config.csls_k, config.block_size)
        return dico, value, {**_watched(watch_precision(translations, watch)), **_held(share)}

    dico, value, signals = analyse(w0)
    start = signals
    best_w, best_value, best_step, stopped, drift = w0, value, 0, None, None
    history = [{"step": 0, "criterion": round(value, 5), **signals, **(evaluate(w0) if evaluate else {})}]
    log.info("refinement%s step 0: criterion %.5f%s", tag, value, _figures(history[-1]))
    for step in range(1, config.n_refinement + 1):
        if anchors is not None and len(anchors):
            dico = np.unique(np.concatenate([dico, anchors]), axis=0)
        w = procrustes(x[dico[:, 0]], y[dico[:, 1]])
        size = len(dico)
        dico, value, signals = analyse(w)  # criterion of w, and the dictionary for the next step
        history.append({"step": step, "criterion": round(value, 5), "dictionary": size, **signals,
                        **(evaluate(w) if evaluate and every_step else {})})
        log.info("refinement%s step %d: dictionary %d pairs, criterion %.5f%s", tag, step, size, value,
                 _figures(history[-1]))
        drift = _drift(start if watch_stops else _held(start.get("held_mutual")), signals, config)
        if drift:
            stopped = step
            log.warning("refinement%s drifts at step %d: %s; stopped", tag, step, drift)
            break
        if value > best_value:
            best_w, best_value, best_step = w, value, step
    if evaluate and not every_step and best_step:
        history[best_step].update(evaluate(best_w))
        log.info("refinement%s best step %d:%s", tag, best_step, _figures(history[best_step])[1:])
    return RefinementResult(best_w, best_step, history, stopped, drift)


def _drift(start: dict, now: dict, config) -> str | None:
    """Which held-out signal drifted from ``start`` to ``now`` beyond its tolerance, in words; None: none."""
    found = []
    if "watch_P@1" in start and now["watch_P@1"] < start["watch_P@1"] - config.drift_tolerance:
        found.append(f"held-out identical strings P@1 {now['watch_P@1']:.2f}, {start['watch_P@1']:.2f} at the start")
    if start.get("held_mutual") and now["held_mutual"] < start["held_mutual"] * (1 - config.mutual_tolerance):
        found.append(f"held-out words' mutual neighbours {now['held_mutual']:.2f}%, {start['held_mutual']:.2f}% "
                     f"at the start")
    return "; ".join(found) or None


def _held(value: float | None) -> dict:
    return {} if value is None else {"held_mutual": value}


def _watched(value: float | None) -> dict:
    return {} if value is None else {"watch_P@1": value}


def _figures(entry: dict) -> str:
    extra = {key: value for key, value in entry.items() if key not in ("step", "criterion", "dictionary")}
    return "".join(f", {key} {value}" for key, value in extra.items())
