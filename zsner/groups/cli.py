"""``zsner groups``: one transformer model per language group, per grouping; Table 3 and Table 4.

    zsner groups --model PATH --grouping per-language,family,cluster:runs/clusters/groups.json,all \\
        --max-train 1000 --seeds 1,2 --freeze-layers 6 --out runs/groups
    zsner groups ... --ray                      # the runs as Ray tasks on this machine's cores (one each)
    zsner groups ... --address HEAD:6379 --gpus 1   # ... on an existing Ray cluster, a GPU per run
"""
from __future__ import annotations

import argparse

from ..config import add_config_arguments, apply_overrides
from ..errors import ZsnerError
from ..extras import require
from ..transformer.config import TransformerConfig, TransformerTrainConfig
from .config import GroupsConfig

SET_BY_GROUPS = ("src", "tgt", "seed", "mode", "init", "train_limit", "eval_limit", "train_file")


def add_parser(sub):
    parser = sub.add_parser("groups", help="train one transformer per language group; Table 3 / Table 4 layout",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write (group runs go to OUT/runs/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--ray", action="store_true", help="run the group runs as Ray tasks on this machine")
    parser.add_argument("--address", default="", metavar="HOST:PORT", help="... on this Ray cluster (implies --ray)")
    parser.add_argument("--cpus", type=int, default=0, help="local Ray: CPUs to use (default: all of them)")
    parser.add_argument("--gpus", type=float, default=0.0, help="Ray: GPUs per run (default 0)")
    add_config_arguments(parser, GroupsConfig)
    add_config_arguments(parser, TransformerConfig)
    add_config_arguments(parser, TransformerTrainConfig, skip=SET_BY_GROUPS)
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from .run import run

    config = apply_overrides(GroupsConfig(), args)
    model = apply_overrides(TransformerConfig(), args)
    train = apply_overrides(TransformerTrainConfig(), args)
    if args.no_progress:
        train = apply_overrides(train, argparse.Namespace(progress=False))
    if args.cpus < 0 or args.gpus < 0:
        raise ZsnerError("--cpus and --gpus must be >= 0")
    if not model.model:
        raise ZsnerError("--model PATH (a local Hugging Face encoder folder) is required")
    require("transformer", "zsner groups")
    if args.ray or args.address:
        require("distributed", "--ray" if args.ray else "--address")
    summary = run(config, model, train, args.out, args.ray, args.address, args.cpus, args.gpus)
    print(f"{len(summary['runs'])} runs; tables in {args.out}/tables.md")
