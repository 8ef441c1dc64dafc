"""Evaluation beside training: a second thread scores a snapshot of the model while SGD goes on.

With one torch thread per Python thread, two threads run their tensor ops on two cores (torch releases the GIL
inside each op). An evaluation point hands the worker a snapshot (weights, optimizer state, RNG states, the
task's state); the worker scores it, selects, writes model files, loss.tsv and the checkpoint, exactly as the
in-line path would. At most one evaluation is in flight: the next one (and the end of training) waits for it, so
files are written in order and an error in the worker stops training at the next evaluation point. Evaluation
draws no random numbers, so the trained weights and every figure are the in-line run's.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

import torch

def overlap_wanted(mode: str, threads: int, device: str) -> bool:
    """``auto``: on the CPU with one torch thread when this process may use a second core; ``on`` / ``off``."""
    if mode == "off" or torch.device(device).type != "cpu":
        return False
    return mode == "on" or (threads == 1 and len(os.sched_getaffinity(0)) >= 2)


class EvaluationThread:
    """One worker thread; ``submit`` waits for the previous job (re-raising its error) before queueing."""

    def __init__(self, threads: int):
        self.threads = threads
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="zsner-evaluation")
        self.pending: Future | None = None

    def submit(self, job, *args) -> None:
        self.wait()
        self.pending = self.pool.submit(self._run, job, *args)

    def _run(self, job, *args):
        torch.set_num_threads(self.threads)  # this thread's torch threads, like the trainer's
        return job(*args)

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown(wait=True)
