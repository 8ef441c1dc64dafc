"""What a Ray task runs: one grid step, in-process, in a Ray worker (classic CPU steps share workers; any other
step has a process of its own: see execute.py).

Each attempt decides from the run folder what to do, which is what makes a retry resume: a classic run's own
command reuses finished seed folders and resumes a seed from its checkpoint (zsner/runs.py checks the config);
a transformer run is reused when finished, continued with ``--resume`` when it has a checkpoint, and restarted
(``--overwrite``, same configuration) when it died before its first one. Output goes to ``OUT/logs/STEP.log``
(appended: one header per attempt).

Test hook: with ``ZSNER_GRID_KILL_DIR`` set, a run whose ``<dir>/<log name>.kill`` file exists kills its own
process (SIGKILL) once its first ``checkpoint.pt`` appears, renaming the file to ``.killed`` first.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from pathlib import Path

from ..errors import ZsnerError
from ..timings import mark_start
from .plan import Step, parse_command

KILL_DIR = "ZSNER_GRID_KILL_DIR"
FINISHED = ("done", "reused")


def unfinished(results) -> list[dict]:
    """The step results (``run_step``'s dicts) whose step did not finish: failed or skipped."""
    return [result for result in results if result["status"] not in FINISHED]


def run_step(step: Step, cwd: str, log_dir: str, *needed: dict) -> dict:
    """Run ``step`` (after the steps whose results are ``needed``); a dict with status done | reused | failed |
    skipped, attempts, seconds and cpu_seconds (of the last attempt, wall and this process's CPU) and, when it
    failed or was skipped, the error line."""
    os.chdir(cwd)
    mark_start()  # the command's start-up is timed from here (see zsner/timings.py)
    clock, cpu = time.perf_counter(), time.process_time()
    log = Path(log_dir) / step.log_name
    log.parent.mkdir(parents=True, exist_ok=True)
    attempt = (log.read_text(encoding="utf-8").count("=== attempt ") if log.exists() else 0) + 1
    result = {"name": step.name, "kind": step.kind, "folder": step.folder, "attempts": attempt, "log": str(log)}
    blocked = [need["name"] for need in unfinished(needed)]
    if blocked:
        return {**result, "status": "skipped", "seconds": 0.0, "error": f"needs {', '.join(blocked)}, which failed"}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"=== attempt {attempt}: zsner {' '.join(step.command)}\n")
        handle.flush()
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            try:
                status = _prepare(step.command) if step.kind == "prepare" else _run(step)
            except Exception:  # a bug: its traceback into the log; not retried (only a dead process is)
                traceback.print_exc()
                status = "failed"
    result.update(status=status, seconds=round(time.perf_counter() - clock, 1),
                  cpu_seconds=round(time.process_time() - cpu, 1))
    if status == "failed":
        lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
        result["error"] = lines[-1] if lines else "failed"
    return result


def prepare_word_space(command, progress: bool = False) -> Path:
    """What every run of ``zsner transfer`` COMMAND's pair shares, computed once into its caches: the word space
    (the cached mapping) and the prepared data of its base variant (vocabularies, matrix, encoded corpora).
    Returns the word space's folder."""
    from ..config import TaggerConfig, apply_overrides
    from ..transfer.config import space_tagger, variant_tagger
    from ..transfer.inputs import resolve_inputs
    from ..transfer.prepared import prepared_data
    from ..transfer.spaces import word_space
    from .plan import transfer_configs

    args = parse_command(command)
    config, train = transfer_configs(args)
    inputs = resolve_inputs(config.src, config.tgt, train, args.data_dir, (True, True), config.mapping_config)
    space = word_space(config.vectors, inputs, config.mapping_direction, config.cache_dir, config.encoder,
                       config.encoder_layer, args.data_dir, progress, config.encoder_contexts)
    tagger = variant_tagger(config.base_variant, space_tagger(config, apply_overrides(TaggerConfig(), args)))
    prepared_data(inputs, config.base_variant, train, tagger, space, config.target_emb, config.cache_dir)
    return space


def _prepare(command) -> str:
    try:
        print(f"word space: {prepare_word_space(command)}")
    except ZsnerError as err:
        print(f"zsner {command[0]}: error: {err}")
        return "failed"
    return "done"


def _run(step: Step) -> str:
    from ..cli import main

    try:
        command = attempt_command(step.command, step.folder)
    except ZsnerError as err:
        print(f"zsner {step.command[0]}: error: {err}")
        return "failed"
    if command is None:
        print(f"reusing the finished run in {step.folder}")
        return "reused"
    if command != tuple(step.command):
        print(f"this attempt: zsner {' '.join(command)}")
    _kill_hook(step)
    try:
        code = main(list(command))
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return "done" if code == 0 else "failed"


def attempt_command(command, folder) -> tuple | None:
    """The command of this attempt: a classic run's own (it reuses and resumes by itself); for a transformer run
    None (finished: reuse), ``--resume`` (checkpoint), the command with ``--overwrite`` (same configuration, died
    before its first checkpoint) or the command (fresh). Another configuration in the folder: ``ZsnerError``."""
    if command[0] != "transformer":
        return tuple(command)
    from ..config import apply_overrides, to_dict
    from ..runs import claim
    from ..train.model_io import CHECKPOINT_FILE
    from ..transformer.config import TransformerConfig, TransformerTrainConfig

    args = parse_command(command)
    wanted = {"model": to_dict(apply_overrides(TransformerConfig(), args)),
              "train": to_dict(apply_overrides(TransformerTrainConfig(), args))}
    state = claim(folder, wanted)
    if state == "reuse":
        return None
    if state == "resume" and (Path(folder) / CHECKPOINT_FILE).is_file():
        return ("transformer", "--resume", str(folder), "--no-progress", "--threads", str(wanted["train"]["threads"]))
    return (*command, "--overwrite") if state == "resume" else tuple(command)


def _kill_hook(step: Step) -> None:
    if not os.environ.get(KILL_DIR):
        return
    order = Path(os.environ[KILL_DIR]) / (step.log_name + ".kill")
    if not order.exists():
        return

    def watch():
        while not any(Path(step.folder).rglob("checkpoint.pt")):
            time.sleep(0.05)
        order.rename(order.with_suffix(".killed"))
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
