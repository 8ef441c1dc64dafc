"""A grid as Ray-ready steps: each run, the word spaces its classic runs read, and each classic folder's gathering.

Steps (``kind``):
- ``prepare``: the cross-lingual word space (the cached mapping) of a classic pair, learned once before its seeds
  start (concurrent runs would each learn it); pairs prepare in parallel, steps that could share a cache entry
  one after the other;
- ``run``: one seed of one pair x mode x setting (``zsner transfer --seed S --seeds 1`` into the folder that holds
  every seed, or ``zsner transformer --seed S --out FOLDER``); a Cross-Augmented seed's base (Cross-Shared) is a
  run of its own before it (``--base-only true``), so that bases and augmentations of different seeds pack onto
  the CPUs;
- ``gather``: a classic folder's own command with all its seeds, once they are trained: every seed folder is
  finished, so it only gathers (transfer/gather.py: no data, vectors or model read) and writes results.json /
  results.md / figures as one sequential call does.

A ``prepare`` step also builds the prepared data of its pair (transfer/prepared.py), which every run and gather of
that pair then loads instead of reading and encoding the corpora again.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TrainConfig, apply_overrides
from ..errors import ZsnerError
from ..runner import CLASSIC_MODES, TRANSFORMER_MODES
from .spec import BACKEND_COMMANDS, GridSpec, flag_words

RUN_FLAGS = ["--no-progress", "--threads", "1"]  # one thread per task (a task is one CPU)
CLASSIC_FLAGS = ["--eval-overlap", "off"]  # ... and no evaluation thread beside it


@dataclass(frozen=True)
class Step:
    kind: str  # prepare | run | gather
    name: str  # unique in the grid, e.g. en-es-shared/seed1
    command: tuple  # the zsner command (argv without the program)
    folder: str  # what it writes
    gpus: float = 0.0

    @property
    def log_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name) + ".log"


@dataclass
class GridPlan:
    out: Path  # logs/ and the gathered results go here
    steps: list = field(default_factory=list)  # (Step, names of the steps it needs), needed steps first
    retries: int = 2
    chains: dict = field(default_factory=dict)  # preparation chain -> its last step's name

    def names(self) -> list[str]:
        return [step.name for step, _ in self.steps]

    def add(self, step: Step, needs=()) -> None:
        if step.name in self.names():
            raise ZsnerError(f"two runs are named {step.name} (a pair, mode or setting given twice?)")
        self.steps.append((step, tuple(needs)))

    def results_folders(self) -> list[str]:
        """The folders `zsner compare` reads: classic folders (gathered) and transformer runs."""
        return [step.folder for step, _ in self.steps
                if step.kind == "gather" or (step.kind == "run" and step.command[0] == "transformer")]


def parse_command(command):
    """The zsner parser's namespace for ``command``; its error as a ``ZsnerError`` (argparse's last line)."""
    from ..cli import build_parser

    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args([str(word) for word in command])
    except SystemExit:
        lines = errors.getvalue().strip().splitlines() or ["bad flags"]
        raise ZsnerError(f"zsner {command[0]}: {lines[-1].removeprefix('zsner: error: ')}") from None


def transfer_configs(args):
    from ..transfer.config import TransferConfig

    return apply_overrides(TransferConfig(), args), apply_overrides(TrainConfig(), args)


def preparation_key(args) -> tuple | None:
    """What the word space of a ``zsner transfer`` namespace depends on, and which other preparations it must not
    run beside (same pair; encoder vectors: any, their per-language cache is shared); None: it needs none."""
    config, _ = transfer_configs(args)
    if config.base_variant == "mono" or config.mapping_dir:
        return None
    chain = (config.src, config.tgt) if config.vectors == "fasttext" else ("encoder",)
    return chain, (config.vectors, config.mapping_direction, config.cache_dir, args.data_dir, config.encoder,
                   config.encoder_layer, config.encoder_contexts, config.mapping_config)


def add_transfer(plan: GridPlan, command: list[str], label: str, gpus: float = 0.0,
                 extra=(*RUN_FLAGS, *CLASSIC_FLAGS), prepare: bool = True) -> Step:
    """``zsner transfer`` COMMAND (all its seeds) as one run step per seed, after its word space's preparation
    (unless ``prepare`` is false: done already), and their gather step (returned); ``extra`` flags go to every
    step."""
    args = parse_command(command)
    config, train = transfer_configs(args)
    out = args.out or f"runs/{config.src}-{config.tgt}-{config.mode}"
    command = _without(command, ("--out", "--seed", "--seeds"), ("--overwrite",))
    key = preparation_key(args) if prepare else None
    needs = [] if key is None else [_preparation(plan, key, [*command, *extra])]
    seeds = range(train.seed, train.seed + config.seeds)
    drawn = lambda seed: "true" if config.figures and seed == train.seed else "false"  # noqa: E731
    # the first seed's run computes the figures' data (its model is the one they show): the gather only draws
    one = lambda seed: (*command, "--out", out, "--seed", str(seed), "--seeds", "1", "--figures", drawn(seed))  # noqa: E731
    bases = {}
    if config.mode == "augmented":  # each seed's base first, as a task of its own (all before any augmentation)
        for seed in seeds:
            bases[seed] = Step("run", f"{label}/seed{seed}/{config.base_variant}",
                               (*one(seed), "--base-only", "true", *extra),
                               f"{out}/seed{seed}/{config.base_variant}", gpus)
            plan.add(bases[seed], needs)
    for seed in seeds:
        step = Step("run", f"{label}/seed{seed}", (*one(seed), *extra), f"{out}/seed{seed}", gpus)
        plan.add(step, [bases[seed].name] if seed in bases else needs)
    gather = Step("gather", label, (*command, "--out", out, "--seed", str(train.seed), "--seeds", str(config.seeds),
                                    *extra), out)
    plan.add(gather, [f"{label}/seed{seed}" for seed in seeds])
    return gather


def _without(command: list[str], valued: tuple, bare: tuple) -> list[str]:
    """``command`` without the options ``valued`` (``--name VALUE`` / ``--name=VALUE``) and ``bare``."""
    kept, skip = [], False
    for word in command:
        if skip:
            skip = False
        elif word in valued:
            skip = True
        elif word not in bare and word.split("=", 1)[0] not in valued:
            kept.append(word)
    return kept


def _preparation(plan: GridPlan, key: tuple, command: list[str]) -> str:
    """The name of the preparation step of ``key``, added once; after the last one of its chain."""
    chain, identity = key
    name = f"prepare/{'-'.join(chain)}-{hashlib.sha1(repr(identity).encode()).hexdigest()[:8]}"
    if name not in plan.names():  # runs of one pair and word space share it
        before = plan.chains.get(chain)
        plan.add(Step("prepare", name, tuple(command), ""), [before] if before else [])
        plan.chains[chain] = name
    return name


def expand(spec: GridSpec) -> GridPlan:
    """Every run of ``spec`` as steps; each command is parsed here, so a bad flag stops before anything runs."""
    plan = GridPlan(spec.folder, retries=spec.retries)
    modes = CLASSIC_MODES if spec.backend == "classic" else TRANSFORMER_MODES
    for mode in spec.mode_list():
        if mode not in modes:
            raise ZsnerError(f"modes: {spec.backend} mode must be one of {', '.join(modes)}, not {mode!r}")
    common = flag_words(spec.flags)
    for setting, setting_flags in spec.setting_list():
        for src, tgt in spec.pair_list():
            for mode in spec.mode_list():
                pair = f"{src}-{tgt}".replace(",", "+")
                label = f"{pair}-{mode}" + (f"-{setting}" if setting else "")
                command = [BACKEND_COMMANDS[spec.backend], "--src", src, "--tgt", tgt, "--mode", mode, *common,
                           *setting_flags]
                if spec.backend == "classic":
                    add_transfer(plan, [*command, "--out", str(spec.folder / label), "--seed", str(spec.first_seed),
                                        "--seeds", str(spec.seeds)], label, spec.gpus)
                    continue
                for seed in range(spec.first_seed, spec.first_seed + spec.seeds):
                    folder = spec.folder / f"{pair}-transformer-{mode}" \
                        f"{'-' + setting if setting else ''}-seed{seed}"
                    run = (*command, "--seed", str(seed), "--out", str(folder), *RUN_FLAGS)
                    parse_command(run)
                    plan.add(Step("run", f"{label}/seed{seed}", run, str(folder), spec.gpus))
    return plan
