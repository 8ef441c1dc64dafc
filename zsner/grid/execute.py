"""The grid's steps as Ray tasks: 1 CPU each (and the GPUs a step asks for); classic steps on CPU share their
workers (a task starts without a new process and its imports, ~3 s each), any other step gets a fresh worker
process (a GPU's memory and a transformer's state go with it); dependencies passed as task arguments (Ray starts a step once the steps it needs are done), a task whose process
dies retried up to ``retries`` times. Ray is started on this machine's cores, or joined at ``address``."""
from __future__ import annotations

import logging
import os
import socket
import sys
import time

from ..errors import ZsnerError
from ..extras import require
from .plan import GridPlan


def local_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_address(address: str) -> None:
    """A HOST:PORT that nothing answers on stops here (Ray itself would wait for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "auto", ray://...: left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise ZsnerError(f"no Ray cluster answers at {address} ({err.strerror or err}); start one with "
                         "`ray start --head` there") from None


def start_ray(address: str = "", cpus: int = 0) -> bool:
    """Ray started here (``cpus`` or all of this machine's) or joined at ``address``; False if it was already up."""
    require("distributed", "running steps on Ray")
    import ray

    if ray.is_initialized():
        return False
    options = {"address": address} if address else {"address": "local", "num_cpus": cpus or local_cpus(),
                                                     "include_dashboard": False}  # local: never an old one
    try:
        ray.init(**options, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as err:
        raise ZsnerError(f"cannot join the Ray cluster at {address}: {err}") from None
    return True


def execute(plan: GridPlan, address: str = "", cpus: int = 0, echo=None) -> dict:
    """Run every step; step name -> its result (see ``tasks.run_step``). ``echo`` gets one line per finished
    step (default: stderr)."""
    import ray

    from .tasks import run_step

    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    log_dir = plan.out / "logs"
    for step, _ in plan.steps:  # a step's log holds this execution's attempts only
        (log_dir / step.log_name).unlink(missing_ok=True)
    started = start_ray(address, cpus)
    clock = time.perf_counter()
    try:
        shared, fresh = ray.remote(run_step), ray.remote(max_calls=1)(run_step)  # reused / one-task workers
        refs, names = {}, {}
        for step, needs in plan.steps:
            task = shared if shares_worker(step) else fresh
            ref = task.options(num_cpus=1, num_gpus=step.gpus, max_retries=plan.retries, name=step.name).remote(step, os.getcwd(), str(log_dir), *(refs[n] for n in needs))
            refs[step.name], names[ref] = ref, step
        echo(f"[grid] {sum(step.kind == 'run' for step, _ in plan.steps)} runs ({len(plan.steps)} steps) on Ray: "
             f"{int(ray.cluster_resources().get('CPU', 0))} CPUs; logs in {log_dir}")
        results, pending = {}, list(names)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            step = names[done[0]]
            try:
                result = ray.get(done[0])
            except Exception as err:  # a bug, or a process that died more than `retries` times
                result = {"name": step.name, "kind": step.kind, "folder": step.folder, "status": "failed",
                          "attempts": None, "seconds": None, "log": str(log_dir / step.log_name),
                          "error": " ".join(str(err).split())[-300:]}
            results[step.name] = result
            echo(_line(result, time.perf_counter() - clock))
    finally:
        if started:
            ray.shutdown()
    return {name: results[name] for name in refs}


def shares_worker(step) -> bool:
    """A classic step on CPU runs in a worker that other such steps reuse (zsner transfer leaves no state behind:
    seeds, threads and log handlers are set per run); anything else gets a process of its own."""
    return step.command[0] == "transfer" and not step.gpus


def _line(result: dict, elapsed: float) -> str:
    attempts = f", {result['attempts']} attempts" if (result.get("attempts") or 1) > 1 else ""
    took = f" in {result['seconds']} s" if result.get("seconds") else ""
    error = f": {result['error']} (log: {result['log']})" if result.get("error") else ""
    return f"[grid {elapsed:.0f} s] {result['kind']} {result['name']} {result['status']}{took}{attempts}{error}"
