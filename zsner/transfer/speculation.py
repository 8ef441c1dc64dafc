"""The first seed's source training on a mapping that is still being chosen (``--speculate``).

With a spare core the mapping's identical-strings chain runs beside adversarial training (mapping/pipeline.py)
and is refined minutes before adversarial training ends. Here the whole mapping runs in a child process (its own
random streams and torch settings: training beside it must not share them); the first mapping it publishes (that
chain's, exported) is handed to the pipeline, which builds the word space and trains the first seed's source model
on it while the adversarial chain finishes. Once the mapping is final, that work is kept only if the unsupervised
criterion chose the same mapping (the same W, byte for byte); otherwise it is thrown away and redone on the final
mapping. Either way the run ends exactly as the sequential pipeline would.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ZsnerError
from .inputs import TransferInputs, ensure_mapping, mapping_cached, mapping_folder



def speculation_wanted(mode: str, inputs: TransferInputs, direction: str, cache_dir, threads: int) -> bool:
    """``auto``: the mapping is not cached yet, training runs on one torch thread and a second core is there;
    ``on``: whenever the mapping is not cached; ``off``: never."""
    if mode == "off" or mapping_cached(mapping_folder(inputs, direction, cache_dir)[0]):
        return False
    return mode == "on" or (threads == 1 and len(os.sched_getaffinity(0)) >= 2)


def _learn(inputs: TransferInputs, direction: str, cache_dir, candidate_dir: Path, messages) -> None:
    """The child process: the cached mapping, announcing the candidate and then the final folder (or the error)."""
    try:
        final = ensure_mapping(inputs, direction, cache_dir, progress=False,
                               candidate=(candidate_dir, lambda folder: messages.put(("candidate", str(folder)))))
        messages.put(("final", str(final)))
    except ZsnerError as err:
        messages.put(("error", str(err)))
    except BaseException as err:  # noqa: BLE001  (any failure must reach the parent, which raises it)
        messages.put(("failure", f"{type(err).__name__}: {err}"))


class SpeculativeMapping:
    """``ensure_mapping`` in a child process; ``candidate()`` is the first usable mapping folder."""

    def __init__(self, inputs: TransferInputs, direction: str, cache_dir):
        self.candidate_dir = Path(tempfile.mkdtemp(prefix="zsner-mapping-candidate-"))  # never a cache entry
        context = multiprocessing.get_context("spawn")
        self.messages = context.Queue()
        light = dataclasses.replace(inputs, _splits=({}, {}))  # the mapping reads vectors, not sentences
        self.process = context.Process(target=_learn, args=(light, direction, cache_dir, self.candidate_dir,
                                                            self.messages), daemon=True, name="zsner-mapping")
        self.process.start()
        self.first: Path | None = None  # the published candidate
        self.final: Path | None = None

    def _next(self) -> None:
        while True:
            try:
                kind, value = self.messages.get(timeout=2)
                break
            except queue.Empty:
                if not self.process.is_alive() and self.messages.empty():
                    raise RuntimeError(f"the mapping process ended without a result (exit code "
                                       f"{self.process.exitcode})") from None
        if kind == "candidate":
            self.first = Path(value)
        elif kind == "final":
            self.final = Path(value)
        elif kind == "error":
            raise ZsnerError(value)
        else:
            raise RuntimeError(f"the mapping process failed: {value}")

    def candidate(self) -> Path:
        """The published candidate, or the final mapping when it comes first (another process built it)."""
        self._next()
        return self.first or self.final

    def result(self) -> Path:
        """The final mapping folder (waits for it); the mapping's error, if it failed."""
        while self.final is None:
            self._next()
        self.process.join()
        return self.final

    def confirmed(self) -> bool:
        """Whether the final mapping is the candidate that work started on."""
        final = self.result()
        return self.first is None or np.array_equal(np.load(final / "mapping.npy"), np.load(self.first / "mapping.npy"))

    def close(self) -> None:
        if self.process.is_alive() and self.final is None:
            self.process.terminate()
        self.process.join()
        shutil.rmtree(self.candidate_dir, ignore_errors=True)
