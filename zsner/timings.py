"""Where a command's time goes: named steps timed into one dict of seconds, and the command's start-up.

``startup_seconds()`` is the time from the command's start to now: from ``mark_start()`` when a host process
(a grid task in a Ray worker) runs the command in-process, else from the process's own start (Linux ``/proc``;
elsewhere from this module's import). Steps: see ``STEPS``; each command records those it does.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager

STEPS = ("startup", "imports", "read_conll", "mapping", "vectors", "vocabularies", "encoding", "prepared_load",
         "prepared_save", "training", "evaluation", "writing")
_imported = time.perf_counter()
_started: float | None = None


def mark_start() -> None:
    """The command starts now (a grid task calls this before running a zsner command in its worker)."""
    global _started
    _started = time.perf_counter()


def startup_seconds() -> float:
    if _started is not None:
        return time.perf_counter() - _started
    age = _process_age()
    return age if age is not None else time.perf_counter() - _imported


def _process_age() -> float | None:
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time in ticks
    except (OSError, ValueError, IndexError):
        return None


class StepTimes:
    """Seconds per step name, summed over repeated steps, in the order first seen."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, seconds)

    @contextmanager
    def step(self, name: str):
        clock = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - clock)

    def rounded(self, digits: int = 2) -> dict[str, float]:
        return {name: round(value, digits) for name, value in self.seconds.items()}
