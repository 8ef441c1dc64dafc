"""``zsner project``: entity projection through parallel text into a CoNLL corpus of the target language.

    zsner project --src en --tgt es --parallel PARALLEL_DIR --tagger runs/en-es-xfmr \\
        --aligner similarity --out runs/en-es-projected-sim
    zsner project --src en --tgt es --tagger runs/en-es-xfmr --aligner entity --fraction 0.25 --out DIR

The output folder holds projected.conll (every kept sentence, IOB2) = train.conll + dev.conll (a held-out share
for zero-resource model selection), stats.json, summary.txt, config.json and timing.json (seconds). A killed run
resumes when the same command runs again: finished chunks of --chunk-size pairs (DIR/chunks/) are reused. Train on
it with
``zsner transformer --train-file DIR/projected.conll --init RUN/checkpoints/zero-shot.src-dev.pt ...`` or
``zsner train --lang es --train-file DIR/train.conll --dev-file DIR/dev.conll``.
"""
from __future__ import annotations

import argparse
import logging
import sys

from ..config import add_config_arguments, apply_overrides
from ..errors import ZsnerError
from .config import ProjectionConfig


def add_parser(sub):
    parser = sub.add_parser("project", help="project source entities onto target text through parallel sentences",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="output folder (required)")
    parser.add_argument("--overwrite", action="store_true", help="replace a projection with another configuration")
    parser.add_argument("--data-dir", default=None, help="data root searched first (for the default --parallel)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines on the terminal")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (same as --progress false)")
    add_config_arguments(parser, ProjectionConfig)
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from ..runs import writing
    from ..extras import require
    from .pipeline import project

    if not args.out:
        raise ZsnerError("--out is required")
    require("transformer", "zsner project (its aligner is a Hugging Face encoder)")
    config = apply_overrides(ProjectionConfig(), args)
    if args.quiet or args.no_progress:
        config = apply_overrides(config, argparse.Namespace(progress=False))
    logger = logging.getLogger("zsner.projection")
    handler = None if args.quiet else logging.StreamHandler(sys.stderr)  # this command's lines, on its stderr
    if handler is not None:
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        with writing(args.out):  # one writer per run folder
            stats = project(config, args.out, args.overwrite, args.data_dir)
    finally:
        if handler is not None:
            logger.removeHandler(handler)
    sentences, precision = stats["sentences"], stats["identical_string_precision"]["all"]
    print(f"{args.out}: kept {sentences['kept']} of {sentences['used']} sentences "
          f"(dropped {sentences['dropped']}: {sentences['dropped_by_reason']}); projected entities "
          f"{stats['entities']['projected']}; identical-string precision {precision['precision']}%")
