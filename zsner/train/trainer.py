"""The one training loop of both backends: passes over plans of micro-batches.

A pass runs a plan (a list of batch specs) from a position: forward under autocast (CUDA only), backward through
the grad scaler (a no-op unless fp16 on CUDA), gradient accumulation, clipping, an optimizer step at the lr the
caller's schedule gives for that step, running loss sums kept on the device and read once per evaluation, an
evaluation every ``eval_every`` optimizer steps and at the end of a final pass, and early stopping when the
evaluation says so. What differs between backends is passed in: the optimizer, the lr schedule, the losses of a
batch spec, and what an evaluation does (score, select, checkpoint). The classic backend's epochs of SGD live in
``train/epochs.py``; the transformer's phases, AdamW schedule and pseudo-label rounds in ``transformer/train.py``.
"""
from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from typing import Callable, ContextManager

import numpy as np
import torch
from tqdm import tqdm

from ..device import autocast, host_float


def clip_gradients(parameters, max_norm: float) -> torch.Tensor:
    """Rescale gradients so their global L2 norm is at most ``max_norm``; returns the norm before clipping (a
    0-d tensor on the gradients' device: reading it would synchronise)."""
    return torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def optimizer_state_problem(saved, optimizer: torch.optim.Optimizer) -> str | None:
    """What keeps ``saved`` (an optimizer state read back from a checkpoint) from being ``optimizer``'s own (its
    groups, their settings' types, per-parameter state shapes), as a message; else None."""
    fresh = optimizer.state_dict()
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list) \
            or len(saved["param_groups"]) != len(fresh["param_groups"]) or not isinstance(saved.get("state"), dict):
        return "the optimizer state is not this run's"
    for group, own in zip(saved["param_groups"], fresh["param_groups"]):
        if not isinstance(group, dict) or set(group) != set(own) or group["params"] != own["params"] or any(
                type(group[key]) is not type(value) and not {type(group[key]), type(value)} <= {int, float}
                for key, value in own.items()):
            return "the optimizer's parameter groups are not this run's"
    shapes = {index: tuple(parameter.shape) for group, own in zip(optimizer.param_groups, fresh["param_groups"])
              for index, parameter in zip(own["params"], group["params"])}
    for index, entry in saved["state"].items():
        if index not in shapes or not isinstance(entry, dict) or not all(
                isinstance(value, torch.Tensor) and value.is_floating_point()
                and tuple(value.shape) in (shapes[index], ()) for value in entry.values()):
            return "the optimizer's state does not fit the model"
    return None


def rng_states(device) -> dict:
    """The torch RNG states a resume must restore: the CPU one, and the CUDA one when training runs there."""
    states = {"torch_rng": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state(torch.device(device))
    return states


def restore_rng_states(saved: dict, device) -> None:
    torch.set_rng_state(saved["torch_rng"])
    if "cuda_rng" in saved and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(saved["cuda_rng"], torch.device(device))


# losses(spec) -> ({"loss": total, other named parts...}, sentences in the batch)
Losses = Callable[[object], tuple[dict, int]]
# on_evaluate(mean losses, lr, fraction of the pass done, plan position, end of a final pass) -> keep going
OnEvaluate = Callable[[dict, float, float, int, bool], bool]


class Trainer:
    """Optimizer steps over plans of micro-batches, with evaluations; ``meter`` (any object with ``step``,
    ``train_seconds`` and ``sentences_seen``) carries the counters across passes and resumes."""

    def __init__(self, model: torch.nn.Module, meter, eval_every: int, clip: float, *, accumulate: int = 1,
                 device="cpu", amp: bool = False, scaler: torch.amp.GradScaler | None = None, progress: bool = True,
                 losses_per_pass: bool = False, no_sync: Callable[[], ContextManager] | None = None):
        self.model, self.meter, self.eval_every, self.clip = model, meter, eval_every, clip
        self.accumulate, self.device, self.amp, self.progress = max(1, accumulate), device, amp, progress
        self.scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
        self.losses_per_pass = losses_per_pass  # logged loss means restart with each pass (else: at evaluations)
        self.no_sync = no_sync  # DDP (train/distributed.py): no gradient all-reduce inside an accumulated step
        self._sums: dict[str, tuple] = {}  # loss name -> (sum on the device, micro-batches where it was computed)

    def run_pass(self, plan: list, optimizer: torch.optim.Optimizer, losses: Losses, lr_at: Callable[[int], float],
                 on_evaluate: OnEvaluate, final: bool, desc: str = "", start: int = 0) -> bool:
        """Train on ``plan[start:]`` (``lr_at(k)`` for the pass's k-th optimizer step); returns False when an
        evaluation stopped training. A pass resumed at ``start > 0`` begins right after an evaluation."""
        meter, accumulate = self.meter, self.accumulate
        steps_in_plan = math.ceil(len(plan) / accumulate)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if self.losses_per_pass:
            self._sums = {}
        sums = self._sums
        evaluated_last = start > 0
        lr = optimizer.param_groups[0]["lr"]
        self.model.train()
        optimizer.zero_grad(set_to_none=True)
        bar = tqdm(total=len(plan), initial=start, desc=desc, disable=not self.progress, leave=False)
        started = time.perf_counter()
        for position in range(start, len(plan)):
            ends_step = not (position + 1) % accumulate or position == len(plan) - 1
            with nullcontext() if ends_step or self.no_sync is None else self.no_sync():
                with autocast(self.device, self.amp):
                    parts, sentences = losses(plan[position])
                self.scaler.scale(parts["loss"] / accumulate if accumulate > 1 else parts["loss"]).backward()
            for name, value in parts.items():
                total, count = sums.get(name, (0.0, 0))
                sums[name] = (total + value.detach().float(), count + 1)
            meter.sentences_seen += sentences
            bar.update(1)
            if not ends_step:
                continue
            local = position // accumulate
            lr = lr_at(local)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if self.clip > 0:
                self.scaler.unscale_(optimizer)
                clip_gradients(trainable, self.clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            meter.step += 1
            evaluated_last = False
            if self.eval_every and meter.step % self.eval_every == 0:
                meter.train_seconds += time.perf_counter() - started
                keep_going = on_evaluate(_means(sums), lr, (local + 1) / steps_in_plan, position + 1, False)
                sums = self._sums = {}
                evaluated_last = True
                self.model.train()
                started = time.perf_counter()
                if not keep_going:
                    bar.close()
                    return False
        bar.close()
        meter.train_seconds += time.perf_counter() - started
        if (not self.eval_every or final) and not evaluated_last:
            keep_going = on_evaluate(_means(sums), lr, 1.0, len(plan), True)
            self._sums = {}
            self.model.train()
            return keep_going
        return True


def _means(sums: dict) -> dict[str, float]:
    """Mean of each running loss: the only read of the losses from the device, once per evaluation."""
    return {name: host_float(total) / count for name, (total, count) in sums.items()}
