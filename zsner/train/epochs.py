"""The paper's schedule on the one training loop: epochs of SGD with per-epoch decay and clipping, evaluation on
named sets every N batches, one best checkpoint per selection criterion, and a resumable checkpoint at every
evaluation. Used by the classic tagger (``zsner train``) and the transfer variants (Algorithm 1 included).

A *task* supplies what differs between models (duck-typed):
    plan_epoch(epoch) -> list      picklable batch specs for one epoch (stored in the checkpoint)
    loss(spec) -> (Tensor, int)    the training loss of one batch spec, and its number of sentences
    evaluate() -> dict             evaluation-set name -> span metrics
    save_model(path, extra)        write a self-contained model archive
    state() / load_state(dict)     task state that must survive a resume (e.g. pseudo-labels)
    check_spec(spec) -> bool       optional: whether a batch spec read back from a checkpoint is one of its own
    check_state(state, plan)       optional: what in a task state read back from a checkpoint (with the epoch plan
                                   of its progress) does not fit this task, as a message, or None
    with_model(model) -> task      optional: the task evaluating and saving ``model`` instead (a copy of the
                                   trained model), for evaluation beside training (``train/overlap.py``)

Given the same seed, data and threads, a resumed run ends exactly like an uninterrupted one: epoch plans and
RNG states travel in the checkpoint.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from ..atomic import write_text
from ..config import TrainConfig
from ..errors import ZsnerError
from .model_io import CHECKPOINT_FILE, compact_state, load_archive, load_compact_state, save_archive
from .overlap import EvaluationThread, overlap_wanted
from .trainer import Trainer, optimizer_state_problem, restore_rng_states, rng_states

log = logging.getLogger("zsner")


def epoch_lr(config: TrainConfig, epoch: int) -> float:
    """lr_e = max(lr0 / (1 + decay * e), min_lr), as in the paper."""
    return max(config.lr / (1.0 + config.lr_decay * epoch), config.min_lr)


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    best: dict = field(default_factory=dict)  # criterion -> {"f1": ..., "step": ...}
    rows: list = field(default_factory=list)  # loss.tsv rows so far
    plan: list | None = None  # the current epoch's batch specs
    train_seconds: float = 0.0
    sentences_seen: int = 0


class EpochTraining:
    """Runs a task to the end of ``config.epochs``; ``criteria`` maps criterion -> (evaluation set, model file)."""

    def __init__(self, config: TrainConfig, out_dir: Path, model: torch.nn.Module, task, criteria: dict,
                 eval_names: list[str], progress_bars: bool = True):
        self.config, self.out_dir, self.model, self.task = config, Path(out_dir), model, task
        self.criteria, self.eval_names, self.bars = criteria, eval_names, progress_bars
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.trainable, lr=config.lr, momentum=config.momentum)
        self.state = Progress()
        self.beside = None  # (evaluation thread, the task on a copy of the model) when evaluating beside training
        if hasattr(task, "with_model") and overlap_wanted(config.eval_overlap, config.threads, config.device):
            self.beside = (EvaluationThread(config.threads), task.with_model(copy.deepcopy(model)))

    def resume(self) -> None:
        path = self.out_dir / CHECKPOINT_FILE
        archive = load_archive(path)
        problem = self._checkpoint_problem(archive)
        if problem:
            raise ZsnerError(f"damaged checkpoint: {problem}", path)
        load_compact_state(self.model, archive["model"], path)
        try:
            self.optimizer.load_state_dict(archive["optimizer"])
            restore_rng_states(archive, self.config.device)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ZsnerError(f"damaged checkpoint: optimizer or random state ({type(err).__name__})", path) from None
        self.state = Progress(**archive["progress"])
        self.task.load_state(archive.get("task", {}))
        log.info("resumed at step %d (epoch %d, batch %d)", self.state.step, self.state.epoch, self.state.batch_in_epoch)

    def _checkpoint_problem(self, archive: dict) -> str | None:
        """What in a checkpoint does not fit this run (progress fields, task state, optimizer layout, RNG state), or
        None."""
        progress = archive.get("progress")
        if not isinstance(progress, dict) or set(progress) != {item.name for item in fields(Progress)}:
            return "no progress record with the fields of this version"
        for name in ("epoch", "batch_in_epoch", "step", "sentences_seen"):
            if type(progress[name]) is not int or progress[name] < 0:
                return f"progress.{name} is not a count"
        if type(progress["train_seconds"]) not in (int, float):
            return "progress.train_seconds is not a number"
        best, rows, plan = progress["best"], progress["rows"], progress["plan"]
        if not isinstance(best, dict) or not all(isinstance(value, dict) and type(value.get("f1")) in (int, float)
                                                 for value in best.values()):
            return "progress.best is not a record of F1 scores"
        if not isinstance(rows, list) or not all(isinstance(row, (list, tuple)) for row in rows):
            return "progress.rows is not a list of loss.tsv rows"
        check = getattr(self.task, "check_spec", None)
        if plan is not None and (not isinstance(plan, list) or progress["batch_in_epoch"] > len(plan)
                                 or (check is not None and not all(check(spec) for spec in plan))):
            return "progress.plan is not a plan of this run's batches"
        check_state = getattr(self.task, "check_state", None)
        problem = check_state(archive.get("task"), plan) if check_state is not None else None
        if problem:
            return problem
        if not isinstance(archive.get("torch_rng"), torch.Tensor) or archive["torch_rng"].dtype != torch.uint8:
            return "no random generator state"
        return optimizer_state_problem(archive.get("optimizer"), self.optimizer)

    def run(self) -> Progress:
        config, state = self.config, self.state
        trainer = Trainer(self.model, state, config.eval_every, config.clip, device=config.device,
                          progress=self.bars)
        try:
            for epoch in range(state.epoch, config.epochs):
                if state.plan is None or state.epoch != epoch:
                    state.epoch, state.batch_in_epoch = epoch, 0
                    state.plan = self.task.plan_epoch(epoch)
                lr = epoch_lr(config, epoch)
                trainer.run_pass(state.plan, self.optimizer, self._losses, lambda _: lr, self._on_evaluate,
                                 epoch == config.epochs - 1, f"epoch {epoch + 1}/{config.epochs}",
                                 state.batch_in_epoch)
        finally:
            if self.beside is not None:
                self.beside[0].close()  # the last evaluation's files are written before anything reads them
        return state

    def _losses(self, spec) -> tuple[dict, int]:
        loss, sentences = self.task.loss(spec)
        return {"loss": loss}, sentences

    def _on_evaluate(self, means: dict, lr: float, _fraction: float, position: int, at_end: bool) -> bool:
        self.state.batch_in_epoch = position
        if at_end:
            self.state.epoch = self.config.epochs  # a resume after this point has nothing left to do
        self._evaluate_and_checkpoint(means.get("loss", 0.0), lr)
        return True

    def _evaluate_and_checkpoint(self, mean_loss: float, lr: float) -> None:
        """Score, select and checkpoint the model as it is now: here, or on a snapshot beside training."""
        state = self.state
        progress = {item.name: copy.deepcopy(getattr(state, item.name)) for item in fields(state)
                    if item.name not in ("rows", "best")}  # those two are the evaluation's to write
        point = {"step": state.step, "epoch": state.epoch, "lr": lr, "loss": mean_loss, "task": self.task.state(),
                 "progress": progress, **rng_states(self.config.device)}
        if self.beside is None:
            self._record(self.task, point, compact_state(self.model), self.optimizer.state_dict())
            return
        thread, task = self.beside
        weights = {key: value.detach().clone() for key, value in compact_state(self.model).items()}
        thread.submit(self._record, task, copy.deepcopy(point), weights,
                      copy.deepcopy(self.optimizer.state_dict()))

    def _record(self, task, point: dict, weights: dict, optimizer_state: dict) -> None:
        """Evaluate ``task``'s model (set to ``weights``), keep the best file per criterion, write loss.tsv and the
        resumable checkpoint of ``point``. ``state.rows`` and ``state.best`` are written only here."""
        state = self.state
        if task is not self.task:
            load_compact_state(task.model, weights)
        results = task.evaluate()
        f1 = {name: results[name]["micro"]["f1"] for name in self.eval_names}
        state.rows.append([point["step"], point["epoch"], round(point["lr"], 6), round(point["loss"], 5),
                           *[f1[name] for name in self.eval_names]])
        for criterion, (eval_name, file_name) in self.criteria.items():
            best = state.best.get(criterion, {"f1": -1.0})
            if f1[eval_name] > best["f1"]:
                state.best[criterion] = {"f1": f1[eval_name], "step": point["step"]}
                task.save_model(self.out_dir / file_name, {"step": point["step"], "criterion": criterion,
                                                           "selection_f1": f1[eval_name]})
        header = "\t".join(["step", "epoch", "lr", "loss", *[f"{name}_f1" for name in self.eval_names]])
        write_text(self.out_dir / "loss.tsv", header + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in state.rows))
        progress = {**point["progress"], "rows": copy.deepcopy(state.rows), "best": copy.deepcopy(state.best)}
        save_archive(self.out_dir / CHECKPOINT_FILE, {
            "model": weights, "optimizer": optimizer_state, "progress": progress, "task": point["task"],
            **{key: point[key] for key in ("torch_rng", "cuda_rng") if key in point}})
        log.info("step %d epoch %d: loss %.4f %s", point["step"], point["epoch"], point["loss"],
                 " ".join(f"{name} F1 {value:.2f}" for name, value in f1.items()))
