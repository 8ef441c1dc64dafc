"""`zsner transfer`: argument parsing for the zero-resource transfer pipeline."""
from __future__ import annotations

from ..config import TaggerConfig, TrainConfig, add_config_arguments, apply_overrides


def add_parser(sub):
    from .config import AugmentConfig, TransferConfig

    transfer = sub.add_parser("transfer", help="zero-resource transfer SRC -> TGT: mapping, training, selection, report")
    transfer.add_argument("--out", default=None, help="run folder (default runs/SRC-TGT-MODE)")
    transfer.add_argument("--data-dir", default=None, help="data root searched first")
    transfer.add_argument("--no-progress", action="store_true")
    transfer.add_argument("--overwrite", action="store_true",
                          help="recompute the requested seeds even if their folders hold runs of another config")
    add_config_arguments(transfer, TransferConfig)
    add_config_arguments(transfer, TrainConfig, skip=("lang", "embeddings", "docstart"))
    add_config_arguments(transfer, TaggerConfig)
    add_config_arguments(transfer, AugmentConfig)
    transfer.set_defaults(func=run_transfer_command)


def run_transfer_command(args):
    import logging
    import sys

    from .config import AugmentConfig, TransferConfig
    from .pipeline import run_transfer

    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("[zsner] %(message)s"))
    stages = logging.getLogger("zsner.stage")
    stages.addHandler(console)
    try:  # the handler goes with the command (a grid worker runs several commands in one process)
        result = run_transfer(apply_overrides(TransferConfig(), args), apply_overrides(TrainConfig(), args),
                              apply_overrides(TaggerConfig(), args), apply_overrides(AugmentConfig(), args),
                              args.out, args.data_dir, bars=not args.no_progress, overwrite=args.overwrite)
    finally:
        stages.removeHandler(console)
    print(result["table"])
    if result["timings"]:
        print("stage times (s): " + ", ".join(f"{stage} {seconds}" for stage, seconds in result["timings"].items()))
    print(f"results in {result['out']}")
