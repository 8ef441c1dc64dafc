"""``zsner run --seeds N`` (run.sh) on Ray: a transfer's seeds in parallel on this machine's cores.

The command is checked and its word space prepared here first (bad input stops here, as in `zsner transfer`, before
Ray starts), the seeds run as grid steps, then the transfer's own command gathers them in this process: every seed
folder is reused, and the table, results.json and figures come out as from one sequential call."""
from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

from ..errors import ZsnerError
from .plan import GridPlan, add_transfer, parse_command, preparation_key


def parallel_seeds(command: list[str]) -> bool:
    """Run ``zsner transfer`` COMMAND's seeds on Ray and gather them; False (nothing done) when Ray is not
    installed, there is one seed, or the flags do not parse (the caller then runs the command as it is)."""
    if importlib.util.find_spec("ray") is None:
        return False
    try:
        args = parse_command(command)
    except ZsnerError:
        return False
    if args.command != "transfer" or (args.seeds or 1) < 2:
        return False
    from ..cli import main
    from .execute import execute
    from .tasks import unfinished
    from .plan import transfer_configs
    from .tasks import prepare_word_space

    from .preflight import check_commands

    try:
        check_commands([command])  # languages, files, models: before the word space is learned or Ray starts
        if preparation_key(args) is not None:
            space = prepare_word_space(command, progress=not args.no_progress)
            print(f"[grid] word space: {space}", file=sys.stderr)
    except ZsnerError as err:
        print(f"zsner transfer: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    config, train = transfer_configs(args)
    out = args.out or f"runs/{config.src}-{config.tgt}-{config.mode}"
    if args.overwrite:  # what `zsner transfer --overwrite` does to the requested seeds, before they restart
        for seed in range(train.seed, train.seed + config.seeds):
            shutil.rmtree(f"{out}/seed{seed}", ignore_errors=True)
    plan = GridPlan(Path(out))
    add_transfer(plan, command, "seeds", prepare=False)
    plan.steps = [(step, needs) for step, needs in plan.steps if step.kind == "run"]
    clock = time.perf_counter()
    results = execute(plan)
    failed = unfinished(results.values())
    if failed:
        print(f"zsner run: {len(failed)} of {len(results)} seeds failed; see {plan.out / 'logs'}", file=sys.stderr)
        raise SystemExit(2)
    print(f"[grid] {len(results)} runs (seeds and their bases) in {time.perf_counter() - clock:.0f} s; gathering",
          file=sys.stderr)
    code = main([word for word in command if word != "--overwrite"])
    if code:
        raise SystemExit(code)
    return True
