"""Python API: ``learn_mapping`` runs the whole unsupervised mapping and writes the run folder.

Stages: prepare (lowercase, truncate, normalise) -> initial mapping (adversarial restarts, with failure
detection against random rotations and the identical-strings fallback; or identical strings directly) ->
Procrustes/CSLS refinement of each initial mapping -> the mapping with the best unsupervised criterion (chains
compared at an equal number of refinement steps) -> export. A dictionary, when given, is only used to report
P@k; it never influences any choice.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import LogFile, write_json
from ..embeddings import WordVectors, load_vectors
from ..errors import ZsnerError
from .adversarial import train_adversarial
from .config import MappingConfig
from .procrustes import procrustes, refine
from .retrieval import load_dictionary, mean_cosine_criterion, precision_at_k
from .runfolder import mapping_cache_key, write_run
from .seed import held_out_words, identical_pairs, split_seed
from .space import Space, training_space

__all__ = ["MappingResult", "learn_mapping", "mapping_cache_key"]

log = logging.getLogger("zsner.mapping")


@dataclass
class MappingResult:
    """``w`` maps row vectors of the ``mapped`` side ("src" for s2t, "tgt" for t2s) as ``x @ w.T``."""

    w: np.ndarray
    config: MappingConfig
    metrics: dict
    out_dir: Path | None = None
    files: dict = field(default_factory=dict)

    @property
    def mapped(self) -> str:
        return "src" if self.config.direction == "s2t" else "tgt"

    @property
    def failed(self) -> bool:
        return bool(self.metrics.get("adversarial", {}).get("failed", False))


def learn_mapping(src_vectors, tgt_vectors, config: MappingConfig | None = None, eval_dict=None, out_dir=None,
                  progress: bool = True, candidate=None) -> MappingResult:
    """Learn W between two monolingual embedding sets (``WordVectors`` or files) without bilingual signal.
    ``eval_dict`` (a MUSE dictionary file, src -> tgt) adds P@k figures; ``out_dir`` receives config.json,
    mapping.npy, metrics.json, training.log and the mapped vectors (src.mapped.vec, tgt.mapped.vec).
    ``candidate`` (folder, callback): when the identical-strings chain runs beside adversarial training, its
    refined mapping is exported to the folder as soon as it is done and the callback is called with the folder
    (a caller may start work on it and keep that work if the final choice is the same mapping)."""
    config = config or MappingConfig()
    src, tgt = _as_vectors(src_vectors), _as_vectors(tgt_vectors)
    if src.dim != tgt.dim:
        raise ZsnerError(f"dimension mismatch: target vectors are {tgt.dim}-d, source vectors {src.dim}-d "
                         f"({src.source or 'given in memory'})", tgt.source or None)
    out_dir = Path(out_dir) if out_dir is not None else None
    with _run_logging(out_dir), _threads(config.threads):
        log.info("mapping %s -> %s, direction %s, config %s", src.source, tgt.source, config.direction,
                 json.dumps(config.to_dict()))
        return _run(src, tgt, config, eval_dict, out_dir, progress, candidate)


def _run(src: WordVectors, tgt: WordVectors, config: MappingConfig, eval_dict, out_dir, progress,
         candidate=None) -> MappingResult:
    clock, timing = time.perf_counter(), {}
    spaces = {side: training_space(vectors, config.max_vocab, config.lowercase, config.norm_steps)
              for side, vectors in (("src", src), ("tgt", tgt))}
    x, y = spaces["src"].matrix, spaces["tgt"].matrix
    if config.direction == "t2s":
        x, y = y, x
    metrics: dict = {side: {"file": vectors.source, "words": len(vectors), "training_words": len(spaces[side].words)}
                     for side, vectors in (("src", src), ("tgt", tgt))}
    evaluate = _Evaluator(spaces, config, eval_dict, metrics)
    seed = _seed_pairs(spaces, config, metrics)
    timing["prepare"] = _lap(clock)

    beside = _identical_beside(config, candidate)
    with ThreadPoolExecutor(1, thread_name_prefix="zsner-identical-chain") as pool:
        publish = _publisher(candidate, config, src, tgt, spaces)
        identical = pool.submit(_identical_chain, x, y, seed, config, evaluate.fork(), publish) if beside else None
        initial = _initial_mappings(spaces, x, y, config, evaluate, metrics, timing, progress, seed["all"],
                                    with_identical=not beside)
        refined = {name: _refine_chain(name, w0, x, y, seed, config, evaluate, metrics, timing)
                   for name, w0 in initial.items()}
        if identical is not None:  # the chain that ran beside, merged as if it had run here
            chain = identical.result()
            evaluate.seconds += chain["evaluation_seconds"]
            timing.update(chain["timing"])
            if chain["result"] is not None:
                metrics["identical"].update(chain["initial_metrics"])
                metrics.setdefault("refinement", {})["identical"] = chain["record"]
                refined["identical"] = chain["result"]
    best, compared = _choose_chain(refined)
    w = refined[best].w
    metrics["final"] = {"init": best, "refinement_step": refined[best].best_step, "compared_at_step": compared,
                        **refined[best].history[refined[best].best_step]}
    log.info("final mapping: %s initialisation, refinement step %d, criterion %.5f", best,
             refined[best].best_step, metrics["final"]["criterion"])
    timing["evaluation"] = round(evaluate.seconds, 2)
    result = MappingResult(w.numpy(), config, metrics, out_dir)
    if out_dir is not None:
        start = time.perf_counter()
        result.files = write_run(out_dir, result.w, config, src, tgt, spaces)
        timing["export"] = _lap(start)
    timing["total"] = _lap(clock)
    metrics["timing"] = timing
    if out_dir is not None:
        write_json(out_dir / "metrics.json", metrics)
    log.info("timing (s): %s", json.dumps(timing))
    return result


def _choose_chain(refined: dict) -> tuple[str, int]:
    """The chain whose criterion is best at an equal number of refinement steps (the fewest any chain's choice
    took), and that number. Refinement raises the criterion whatever it learns (a failed adversarial start gains
    0.09 in 5 steps on en-nl), so a chain stopped early by drift is not compared with another's later steps."""
    step = min(result.best_step for result in refined.values())
    best = max(refined, key=lambda name: refined[name].history[step]["criterion"])
    log.info("chains compared at refinement step %d: %s", step,
             ", ".join(f"{name} {result.history[step]['criterion']:.5f}" for name, result in refined.items()))
    return best, step


def _identical_beside(config: MappingConfig, candidate) -> bool:
    """Whether the identical-strings chain runs in a second thread beside adversarial training: it is
    independent of it (fallback "always"), each thread runs torch on one thread of its own, a second core is
    there, and a caller waits for that chain's mapping (``candidate``). Without one it stays in line: on the
    2-core VM of docs/results/speed.md §9.3 the two threads slowed each other so much that the mapping took longer
    (423 s against 400 s). Results are the same either way (neither chain draws from a shared random stream)."""
    return (candidate is not None and config.init == "adversarial" and config.fallback == "always"
            and config.threads == 1 and len(os.sched_getaffinity(0)) >= 2)


def _refine_chain(name: str, w0, x, y, seed: dict, config: MappingConfig, evaluate, metrics: dict,
                  timing: dict):
    """Procrustes/CSLS refinement from the initial mapping ``w0``; its history goes into ``metrics``."""
    start, spent = time.perf_counter(), evaluate.seconds
    record = metrics.setdefault("refinement", {})[name] = {}
    if name == "identical":
        chain_config, anchors, watch = _validated_steps(x, y, seed, config, record), seed["all"], None
        anchors = anchors if config.anchor_seed else None
    else:  # the identical strings were not fitted: the whole seed watches the chain
        chain_config, anchors, watch = config, None, seed["all"]
    result = refine(x, y, w0, chain_config, evaluate if evaluate.active else None, f" from {name}",
                    config.eval_every_step, anchors, watch)
    timing[f"refinement_{name}"] = round(_lap(start) - (evaluate.seconds - spent), 2)
    record.update({"best_step": result.best_step, "stopped_by_drift": result.stopped, "steps": result.history})
    return result


def _publisher(candidate, config: MappingConfig, src: WordVectors, tgt: WordVectors, spaces: dict):
    """``publish(w)`` for a ``candidate`` (folder, callback): export ``w`` there, then call back; None: none."""
    if candidate is None:
        return None
    folder, callback = candidate

    def publish(w: np.ndarray) -> None:
        write_run(folder, w, config, src, tgt, spaces)
        callback(folder)
    return publish


def _identical_chain(x, y, seed: dict, config: MappingConfig, evaluate, publish=None) -> dict:
    """The identical-strings initialisation and its refinement, with their own metrics, timing and evaluator
    (run beside adversarial training; merged by ``_run``); ``publish(w)`` receives the refined mapping."""
    torch.set_num_threads(config.threads)  # this thread's torch threads (the pool's, like the caller's)
    metrics, timing = {}, {}
    start = time.perf_counter()
    w0 = _identical_init(seed["all"], x, y, required=False)
    timing["identical"] = _lap(start)
    if w0 is None:
        return {"result": None, "timing": timing, "evaluation_seconds": evaluate.seconds}
    initial_metrics = evaluate(w0)
    result = _refine_chain("identical", w0, x, y, seed, config, evaluate, metrics, timing)
    if publish is not None:
        start = time.perf_counter()
        publish(result.w.numpy())
        timing["candidate_export"] = _lap(start)
    return {"result": result, "record": metrics["refinement"]["identical"], "initial_metrics": initial_metrics,
            "timing": timing, "evaluation_seconds": evaluate.seconds}


def _seed_pairs(spaces, config: MappingConfig, metrics: dict) -> dict[str, np.ndarray]:
    """The identical strings as (mapped row, target row) pairs: ``all``, and a ``fit`` / ``watch`` split of them;
    ``held``: the mask of the frequent mapped-side words of the same split (the watch pairs' words among them)."""
    pairs = identical_pairs(spaces["src"].words, spaces["tgt"].words)
    fit, watch = split_seed(pairs, spaces["src"].words, config.watch_fraction)
    seed = {"all": pairs, "fit": fit, "watch": watch}
    if config.direction == "t2s":
        seed = {name: rows[:, ::-1].copy() for name, rows in seed.items()}
    mapped = spaces["src" if config.direction == "s2t" else "tgt"].words
    seed["held"] = held_out_words(mapped, config.watch_fraction, config.dico_max_rank)
    metrics["identical"] = {"pairs": int(len(pairs)), "watch": int(len(watch)),
                            "watch_in_rank": int((watch < config.dico_max_rank).all(1).sum()),
                            "held_words": int(seed["held"].sum())}
    log.info("identical strings shared by both vocabularies: %d (%d held out on the validation split, %d of them "
             "among the %d most frequent words; %d frequent words held out)", len(pairs), len(watch),
             metrics["identical"]["watch_in_rank"], config.dico_max_rank, metrics["identical"]["held_words"])
    return seed


def _validated_steps(x, y, seed: dict, config: MappingConfig, record: dict) -> MappingConfig:
    """How far refinement from the identical strings may go: the same refinement on the validation split (the
    ``fit`` share of the seed; the held-out frequent words in no dictionary) stops where the held-out words'
    mutual-neighbour share drifts; the chain on the whole seed then runs that many steps. The watch pairs' P@1 is
    recorded, not obeyed: once their words are kept out of the dictionaries it falls on en-es too, where
    refinement doubles P@1 (docs/results/reproduction.md §3.2). No split (``watch_fraction`` 0) or no held-out
    word among the frequent ones: all ``n_refinement`` steps."""
    if not len(seed["fit"]) or not seed["held"].any():
        return config
    anchors = seed["fit"] if config.anchor_seed else None
    trial = refine(x, y, procrustes(x[seed["fit"][:, 0]], y[seed["fit"][:, 1]]), config, None,
                   " from identical (validation split)", False, anchors, seed["watch"], seed["held"],
                   watch_stops=False)
    allowed = config.n_refinement if trial.stopped is None else trial.stopped - 1
    record["validation"] = {"allowed_steps": allowed, "stopped_by_drift": trial.stopped, "drift": trial.drift,
                            "steps": trial.history}
    if allowed < config.n_refinement:
        log.warning("refinement from identical strings limited to %d steps (drift on the validation split)", allowed)
    return config.replace(n_refinement=allowed)


def _initial_mappings(spaces, x, y, config, evaluate, metrics, timing, progress, seed,
                      with_identical: bool = True) -> dict[str, torch.Tensor]:
    """The starting mappings to refine: adversarial (with its chance test) and/or identical strings (unless
    ``with_identical`` is false: that chain runs elsewhere)."""
    initial: dict[str, torch.Tensor] = {}
    if config.init == "adversarial":
        start = time.perf_counter()
        adv = train_adversarial(x, y, config, progress)
        timing["adversarial"] = _lap(start)
        start = time.perf_counter()
        chance = _chance_criterion(x, y, config)
        timing["chance"] = _lap(start)
        failed = adv.criterion < chance + config.chance_margin
        metrics["adversarial"] = {"criterion": round(adv.criterion, 5), "seed": adv.seed, "epochs": adv.history,
                                  "chance_criterion": round(chance, 5), "chance_margin": config.chance_margin,
                                  "failed": failed, **evaluate(adv.w)}
        if failed:
            log.warning("adversarial criterion %.5f is no better than chance (%.5f + margin %.3f): the "
                        "adversarial mapping failed%s", adv.criterion, chance, config.chance_margin,
                        "" if config.fallback == "none" else "; the identical-strings initialisation takes over")
        initial["adversarial"] = adv.w
    if config.init == "identity":  # refinement keeps step 0, so the criterion chooses identity vs refined
        initial["identity"] = torch.eye(x.shape[1])
        metrics["identity"] = evaluate(initial["identity"])
        return initial
    if with_identical and (config.init == "identical" or config.fallback == "always" or (
            config.fallback == "on-failure" and metrics["adversarial"]["failed"])):
        start = time.perf_counter()
        w0 = _identical_init(seed, x, y, required=config.init == "identical")
        timing["identical"] = _lap(start)
        if w0 is not None:
            initial["identical"] = w0
            metrics["identical"].update(evaluate(w0))
    return initial


class _Evaluator:
    """P@k (NN and CSLS) of a mapping on the evaluation dictionary; ``{}`` when there is none."""

    def __init__(self, spaces: dict[str, Space], config: MappingConfig, eval_dict, metrics: dict):
        self.spaces, self.config, self.seconds, self.pairs, self.memo = spaces, config, 0.0, None, {}
        if eval_dict is not None:
            self.pairs, stats = load_dictionary(eval_dict, spaces["src"].index, spaces["tgt"].index,
                                                config.lowercase)
            metrics["dictionary"] = {"file": str(eval_dict), **stats}
            log.info("evaluation dictionary %s: %s", eval_dict, stats)

    @property
    def active(self) -> bool:
        return self.pairs is not None

    def fork(self) -> "_Evaluator":
        """An evaluator on the same dictionary with its own clock and memo (for a chain in another thread)."""
        twin = copy.copy(self)
        twin.seconds, twin.memo = 0.0, {}
        return twin

    def __call__(self, w: torch.Tensor) -> dict:
        if self.pairs is None:
            return {}
        key = hashlib.sha1(w.numpy().tobytes()).hexdigest()
        if key in self.memo:
            return self.memo[key]
        start = time.perf_counter()
        src, tgt = self.spaces["src"].matrix, self.spaces["tgt"].matrix
        if self.config.direction == "s2t":
            src = src @ w.T
        else:
            tgt = tgt @ w.T
        out = {method: precision_at_k(src, tgt, self.pairs, self.config.eval_ks, method, self.config.csls_k,
                                      self.config.block_size) for method in ("nn", "csls")}
        self.seconds += time.perf_counter() - start
        self.memo[key] = out
        return out


def _chance_criterion(x, y, config) -> float:
    """What a mapping that learned nothing scores: the best criterion among ``chance_trials`` random rotations
    and the identity (the adversarial start, which need not be random: vectors trained with the same seed
    and settings can share some coordinates)."""
    gen = torch.Generator().manual_seed(config.seed)
    rotations = [torch.eye(x.shape[1])]
    for _ in range(config.chance_trials):
        q, r = torch.linalg.qr(torch.randn(x.shape[1], x.shape[1], generator=gen, dtype=torch.float64))
        rotations.append((q * torch.sign(torch.diagonal(r))).float())
    values = [mean_cosine_criterion(x @ w.T, y, config.criterion_queries, config.dico_max_rank, config.csls_k,
                                    config.block_size) for w in rotations]
    log.info("chance level: criterion of the identity %.5f, of %d random rotations %s", values[0],
             config.chance_trials, [round(v, 5) for v in values[1:]])
    return max(values)


def _identical_init(pairs: np.ndarray, x, y, required: bool):
    """Procrustes on the seed pairs (the held-out watch pairs excluded)."""
    if len(pairs) == 0:
        if required:
            raise ZsnerError("--init identical: the two vocabularies share no identical string")
        log.warning("no identical strings: fallback unavailable")
        return None
    if len(pairs) < x.shape[1]:
        log.warning("only %d identical strings for %d dimensions: the seed mapping is underdetermined",
                    len(pairs), x.shape[1])
    return procrustes(x[pairs[:, 0]], y[pairs[:, 1]])


def _as_vectors(vectors) -> WordVectors:
    return vectors if isinstance(vectors, WordVectors) else load_vectors(vectors)


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 2)


@contextlib.contextmanager
def _run_logging(out_dir: Path | None):
    """Send ``zsner.mapping`` records to ``out_dir/training.log`` for the duration of a run."""
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = LogFile(out_dir / "training.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(previous)


@contextlib.contextmanager
def _threads(n: int):
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
