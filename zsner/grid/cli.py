"""``zsner grid``: a grid of runs (seeds x pairs x modes x settings, either backend) as Ray tasks.

    zsner grid configs/grids/en-es-nl-de-shared-augmented.json           # local Ray on this machine's cores
    zsner grid SPEC --address HEAD:6379                                  # an existing Ray cluster
    zsner grid --backend classic --pairs en-es,en-nl --modes shared --seeds 3 --flags "--epochs 10"
    zsner grid SPEC --dry-run                                            # every check, then the runs' commands
    zsner grid configs/grids/moon-en-xx.yaml --settings li,cl --pairs en-es   # part of a grid

Flags override the spec file's fields (--flags adds to its flags). Each run is one Ray task (1 CPU, --gpus per
run where asked) running the zsner command in its own worker process; a process that dies is retried (--retries)
and resumes from its checkpoint. Folders: OUT/SRC-TGT-MODE[-SETTING]/seedS (classic; OUT/SRC-TGT-MODE holds
the seeds' results.json), OUT/SRC-TGT-transformer-MODE[-SETTING]-seedS (transformer); OUT/results.md and
OUT/results.json gather them (`zsner compare` rows plus every step's status, attempts and seconds), OUT/logs/
holds each step's output. Before anything runs (and before --dry-run prints), every run's command is checked as
it would check itself: extras, flags, languages and their files, the model folders and checkpoints it names.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import time

from ..atomic import write_json
from ..config import add_config_arguments, apply_overrides
from ..errors import ZsnerError
from ..extras import require
from .spec import GridSpec, check, read_spec


def add_parser(sub):
    parser = sub.add_parser("grid", help="a grid of runs (seeds x pairs x modes x settings) as Ray tasks",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", metavar="SPEC", help="grid spec, JSON (or YAML with PyYAML)")
    parser.add_argument("--address", default="", metavar="HOST:PORT",
                        help="join this Ray cluster (default: start Ray on this machine)")
    parser.add_argument("--cpus", type=int, default=0, help="local Ray: CPUs to use (default: all of them)")
    parser.add_argument("--overwrite", action="store_true", help="delete the grid's run folders first, then run")
    parser.add_argument("--dry-run", action="store_true", help="check every run, then print each step's zsner command; run nothing")
    parser.add_argument("--settings", dest="only_settings", default="", metavar="NAMES",
                        help="comma-separated: run only these settings of the spec file")
    add_config_arguments(parser, GridSpec, skip=("settings",))
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from .plan import expand
    from .preflight import check_commands

    require("distributed", "zsner grid (Ray)")
    added, args.flags = args.flags, None  # --flags adds to the spec file's flags (later ones win)
    spec = apply_overrides(read_spec(args.spec) if args.spec else GridSpec(), args)
    spec.flags = " ".join(part for part in (spec.flags, added) if part)
    chosen = [name.strip() for name in args.only_settings.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in spec.settings]
    if unknown:
        raise ZsnerError(f"--settings: {unknown[0]!r} is not a setting of the spec "
                         f"({', '.join(spec.settings) or 'it has none'})", args.spec)
    if chosen:
        spec.settings = {name: spec.settings[name] for name in chosen}
    try:
        plan = expand(check(spec))
    except ZsnerError as err:
        raise ZsnerError(str(err), args.spec) if args.spec else err from None
    runs = [step for step, _ in plan.steps if step.kind == "run"]  # what each run checks before it starts
    check_commands([step.command for step in runs], local=not args.address, names=[step.name for step in runs])
    if args.dry_run:
        for step, needs in plan.steps:
            after = f"   # after {', '.join(needs)}" if needs else ""
            print(f"[{step.kind} {step.name}] zsner {' '.join(step.command)}{after}")
        return
    from ..runs import writing

    with writing(plan.out):  # one grid per folder; its tasks write sub-folders, each under a lock of its own
        _run(plan, spec, args)


def _run(plan, spec: GridSpec, args) -> None:
    from .execute import check_address, execute
    from .results import write_results
    from .tasks import unfinished

    check_address(args.address)
    if args.overwrite:
        for folder in plan.results_folders():
            shutil.rmtree(folder, ignore_errors=True)
    plan.out.mkdir(parents=True, exist_ok=True)
    steps = [{"name": step.name, "kind": step.kind, "needs": list(needs), "command": ["zsner", *step.command]}
             for step, needs in plan.steps]
    record = {**dataclasses.asdict(spec), "steps": steps}
    write_json(plan.out / "grid.json", record)
    clock = time.perf_counter()
    results = execute(plan, args.address, args.cpus)
    print(write_results(plan, results, time.perf_counter() - clock, dataclasses.asdict(spec)), end="")
    failed = [result["name"] for result in unfinished(results.values())]
    if failed:
        raise ZsnerError(f"{len(failed)} of {len(results)} steps did not finish ({', '.join(failed[:4])}"
                         f"{', ...' if len(failed) > 4 else ''}); their logs: {plan.out / 'logs'}")
