"""``zsner cluster``: which WikiAnn languages belong together (LID fine-tuning, [CLS] embeddings, Ward, majority).

    zsner cluster --model PATH --langs ar,da,de,en,es,fr,he,hi,it,ja,ko,ru,sw,yo,zh --k 4 --out runs/clusters
    zsner cluster --model PATH --seeds 1,2 --caps 200,400 --out runs/clusters-stability

A killed run resumes when the same command runs again: the settings it finished are not computed again.
"""
from __future__ import annotations

import argparse

from ..config import add_config_arguments, apply_overrides
from ..errors import ZsnerError
from ..extras import require
from .config import ClusterConfig


def add_parser(sub):
    parser = sub.add_parser("cluster", help="group WikiAnn languages by clustering LID-tuned sentence embeddings",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--overwrite", action="store_true", help="recompute a folder holding another configuration")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_arguments(parser, ClusterConfig)
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from ..runs import writing
    from .pipeline import run

    config = apply_overrides(ClusterConfig(), args)
    if args.no_progress:
        config = apply_overrides(config, argparse.Namespace(progress=False))
    if not config.model:
        raise ZsnerError("--model PATH (a local Hugging Face encoder folder) is required")
    require("transformer", "zsner cluster")
    with writing(args.out):  # one writer per run folder
        report = run(config, args.out, args.overwrite)
    for name, setting in report["settings"].items():
        print(f"{name}: LID accuracy {setting['lid_accuracy']}")
    print(f"mean ARI across settings: {report['mean_ari']}; results in {args.out}")
