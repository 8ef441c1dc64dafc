"""``zsner run SRC TGT [flags]``: what ``bash run.sh SRC TGT ...`` does (run.sh sets up the environment, then
hands its arguments here), turned into ``zsner transfer`` / ``zsner transformer`` / ``zsner compare`` calls.

    zsner run SRC TGT [--mode mono|word-nochar|word|shared|augmented] [--seeds N] [--schedule cpu|paper]
                      [any `zsner transfer` flag]
    zsner run SRC TGT --backend transformer --model PATH [--mode zero-shot|augmented] [--out DIR] [flags]
    zsner run SRC TGT --backend both --model PATH [--mode MODE] [--seeds N] [flags for both]
                      [--classic FLAGS...] [--transformer FLAGS...]

--schedule cpu (default) trains the classic model for 10 epochs with an evaluation every 300 batches (the
measured budget of docs/results/reproduction.md §4.1), --schedule paper keeps the paper's 30 / 150; explicit --epochs /
--eval-every win. The classic backend leaves runs/SRC-TGT-MODE/ (or --out); with --seeds N and Ray installed
(the `distributed` extra) the seeds train in parallel on this machine's cores (`zsner grid`), else one after
the other. --backend transformer writes runs/SRC-TGT-transformer-MODE/ (or --out). --backend both runs the
classic pipeline, then the transformer (a finished folder is reused unless --overwrite is among its flags), then
`zsner compare` into runs/SRC-TGT-compare.md; its --mode pairs the backends: augmented -> both augmented;
zero-shot -> classic shared + transformer zero-shot; a classic variant -> it + transformer zero-shot; default:
classic augmented + transformer zero-shot. Flags before --classic / --transformer go to both backends, flags
after one of them to that backend only (a --mode there sets that backend's mode); --seeds is the classic
backend's. ZSNER_DRY_RUN=1 prints the transformer/both commands instead of running them. Either way every
backend's command is checked first (extras, flags, languages and their files, the model folders it names).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ZsnerError

BACKENDS = ("classic", "transformer", "both")
SCHEDULES = {"cpu": ["--epochs", "10", "--eval-every", "300"], "paper": []}  # cpu: before the user's flags
CLASSIC_MODES = ("mono", "word-nochar", "word", "shared", "augmented")  # zsner.transfer.variants.MODES
TRANSFORMER_MODES = ("zero-shot", "augmented")  # zsner.transformer.config.MODES
_SHELL_SPECIAL = set(" \t'\"\\$`!&*()[]{}|;<>?^,")  # what printf %q escapes (~ and # only first)
_VALUED = ("--model", "--mode", "--out", "--seeds")  # the options run.sh reads itself (transformer / both)


@dataclass
class Plan:
    """The zsner calls of one ``zsner run``, in order (``None``: the backend has no such step)."""

    backend: str
    transfer: list[str] | None = None
    transformer: list[str] | None = None
    compare: list[str] | None = None
    compare_out: str = ""

    @property
    def transformer_out(self) -> str:
        return self.transformer[self.transformer.index("--out") + 1] if self.transformer else ""


def _pop_option(flags: list[str], name: str, default: str) -> tuple[str, list[str]]:
    """``--name VALUE`` / ``--name=VALUE`` anywhere in ``flags`` (the last wins), and the flags without it."""
    value, rest, i = default, [], 0
    while i < len(flags):
        if flags[i] == name:
            if i + 1 >= len(flags) or not flags[i + 1]:
                raise ZsnerError(f"{name} needs a value")
            value, i = flags[i + 1], i + 2
        elif flags[i].startswith(name + "="):
            value, i = flags[i].split("=", 1)[1], i + 1
        else:
            rest.append(flags[i])
            i += 1
    return value, rest


def plan(src: str, tgt: str, flags: list[str]) -> Plan:
    """The calls ``run.sh SRC TGT FLAGS`` makes; a bad flag is a ``ZsnerError`` (nothing has run)."""
    backend, flags = _pop_option(flags, "--backend", "classic")
    schedule, flags = _pop_option(flags, "--schedule", "cpu")
    if backend not in BACKENDS:
        raise ZsnerError(f"unknown --backend '{backend}' (available: {', '.join(BACKENDS)})")
    if schedule not in SCHEDULES:
        raise ZsnerError(f"unknown --schedule '{schedule}' (available: {', '.join(SCHEDULES)})")
    classic_schedule = SCHEDULES[schedule]
    if backend == "classic":
        return Plan(backend, transfer=["transfer", "--src", src, "--tgt", tgt, *classic_schedule, *flags])
    parts = _sections(src, tgt, backend, flags)
    transformer_out = parts["out"] or f"runs/{src}-{tgt}-transformer-{parts['transformer_mode']}"
    transformer = ["transformer", "--model", parts["model"], "--src", src, "--tgt", tgt,
                   "--mode", parts["transformer_mode"], *parts["common"], *parts["transformer"],
                   "--out", transformer_out]
    if backend == "transformer":
        return Plan(backend, transformer=transformer)
    classic_out = f"runs/{src}-{tgt}-{parts['classic_mode']}"
    seeds = ["--seeds", parts["seeds"]] if parts["seeds"] else []
    transfer = ["transfer", "--src", src, "--tgt", tgt, "--mode", parts["classic_mode"], *seeds, *classic_schedule,
                *parts["common"], *parts["classic"], "--out", classic_out]
    compare_out = f"runs/{src}-{tgt}-compare.md"
    return Plan(backend, transfer, transformer, ["compare", classic_out, transformer_out, "--out", compare_out],
                compare_out)


def _sections(src: str, tgt: str, backend: str, flags: list[str]) -> dict:
    """--backend transformer|both: run.sh's own options, and the flags of each section (common, classic,
    transformer)."""
    found = {"model": "", "out": "", "seeds": "", "classic_mode": "augmented", "transformer_mode": "zero-shot",
             "common": [], "classic": [], "transformer": []}
    section, i = "common", 0
    while i < len(flags):
        option, value = flags[i], ""
        if option in _VALUED:
            if i + 1 >= len(flags):
                raise ZsnerError(f"{option} needs a value")
            value, i = flags[i + 1], i + 2
        elif option.split("=", 1)[0] in _VALUED and "=" in option:
            option, value = option.split("=", 1)
            i += 1
        elif option in ("--classic", "--transformer"):
            if backend != "both":
                raise ZsnerError(f"{option} sections are for --backend both")
            section, i = option[2:], i + 1
            continue
        else:
            found[section].append(option)
            i += 1
            continue
        _option(found, option, value, backend, section, src, tgt)
    if not found["model"]:
        raise ZsnerError(f"--backend {backend} needs --model PATH (a local Hugging Face model folder)")
    if not Path(found["model"]).is_dir():
        raise ZsnerError(f"--model '{found['model']}' is not a folder (a local Hugging Face model folder is expected)")
    return found


def _option(found: dict, option: str, value: str, backend: str, section: str, src: str, tgt: str) -> None:
    if option == "--model":
        found["model"] = value
    elif option == "--out":
        if backend != "transformer":
            raise ZsnerError(f"--out is not used with --backend both (folders: runs/{src}-{tgt}-*)")
        found["out"] = value
    elif option == "--seeds":
        if backend != "both" or section == "transformer":
            raise ZsnerError("--seeds is the classic backend's; zsner transformer runs one seed (--seed N)")
        found["seeds"] = value
    elif backend == "transformer" or section == "transformer":
        if value not in TRANSFORMER_MODES:
            raise ZsnerError(f"transformer --mode must be zero-shot or augmented, not '{value}'")
        found["transformer_mode"] = value
    elif section == "classic":
        if value not in CLASSIC_MODES:
            raise ZsnerError(f"classic --mode must be one of {', '.join(CLASSIC_MODES)}, not '{value}'")
        found["classic_mode"] = value
    elif value == "augmented":  # both, common section: pair the backends
        found["classic_mode"], found["transformer_mode"] = "augmented", "augmented"
    elif value == "zero-shot":
        found["classic_mode"], found["transformer_mode"] = "shared", "zero-shot"
    elif value in CLASSIC_MODES:
        found["classic_mode"], found["transformer_mode"] = value, "zero-shot"
    else:
        raise ZsnerError(f"--mode must be one of zero-shot, {', '.join(CLASSIC_MODES)}, not '{value}'")


def shell_words(command: list[str]) -> str:
    """``python3 -m zsner.cli COMMAND`` quoted like bash's ``printf %q`` (what run.sh's dry run printed)."""
    def quote(word: str) -> str:
        escaped = "".join("\\" + c if c in _SHELL_SPECIAL or (i == 0 and c in "~#") else c for i, c in enumerate(word))
        return escaped or "''"

    return " ".join(quote(word) for word in ["python3", "-m", "zsner.cli", *command])


def _call(command: list[str]) -> None:
    """One zsner command in this process; its failure (message already printed) ends this one with its code."""
    from .cli import main

    code = main(command)
    if code:
        raise SystemExit(code)


def _transfer(command: list[str]) -> None:
    """The classic step: its seeds in parallel on Ray when there are several and Ray is installed."""
    from .grid.seeds import parallel_seeds

    if not parallel_seeds(command):
        _call(command)


def execute(plan_: Plan, prog: str, dry: bool) -> None:
    """Run (or, ``dry``, print) the planned calls; the classic backend alone has no dry run."""
    step = (lambda command: print(shell_words(command))) if dry else _call
    if plan_.backend == "classic":
        return _transfer(plan_.transfer)
    if plan_.backend == "transformer":
        return step(plan_.transformer)
    print(shell_words(plan_.transfer)) if dry else _transfer(plan_.transfer)
    flags = plan_.transformer
    if Path(plan_.transformer_out, "metrics.json").is_file() and "--overwrite" not in flags:
        print(f"[{prog}] reusing the finished transformer run in {plan_.transformer_out} "
              "(add --transformer --overwrite to redo it)", file=sys.stderr)
    else:
        step(plan_.transformer)
    step(plan_.compare)
    if not dry:
        print(f"[{prog}] table written to {plan_.compare_out}", file=sys.stderr)


def _arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--called-as", default="", help=argparse.SUPPRESS)  # run.sh: its errors read "run.sh: ..."
    parser.add_argument("src", metavar="SRC")
    parser.add_argument("tgt", metavar="TGT")
    parser.add_argument("flags", nargs=argparse.REMAINDER, metavar="FLAGS",
                        help="run.sh's flags (above) and any flag of the backend's zsner command")
    parser.set_defaults(func=run_command)
    return parser


def add_parser(sub):
    _arguments(sub.add_parser("run", help="what `bash run.sh SRC TGT ...` runs: transfer / transformer / both, "
                              "then the table", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter))


def run_command(args) -> None:
    from .grid.preflight import check_commands

    try:
        calls = plan(args.src, args.tgt, list(args.flags))
    except ZsnerError as err:
        if not args.called_as:
            raise
        print(f"{args.called_as}: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    for command in (calls.transfer, calls.transformer):  # every backend's command checked (extras, languages,
        try:                                             # files, models) before the first one starts
            check_commands([command] if command else [])
        except ZsnerError as err:  # the line that command would print, as when it fails itself
            print(f"zsner {command[0]}: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
    execute(calls, args.called_as or "zsner run", os.environ.get("ZSNER_DRY_RUN") == "1")


def main(argv=None) -> int:
    """``python -m zsner.runner`` = ``zsner run`` without building every other command's parser first (run.sh's
    argument errors answer before torch is imported)."""
    args = _arguments(argparse.ArgumentParser(prog="zsner run", description=__doc__,
                                              formatter_class=argparse.RawDescriptionHelpFormatter)).parse_args(argv)
    try:
        run_command(args)
    except ZsnerError as err:
        print(f"zsner run: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
