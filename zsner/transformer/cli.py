"""``zsner transformer``: fine-tune a local pretrained encoder (zero-shot / pseudo-label transfer) into a run folder.

    zsner transformer --model PATH --src en --tgt es --mode zero-shot --freeze-layers 6 --out runs/en-es-xfmr
    zsner transformer --model PATH --src en --tgt es --mode augmented --init RUN/checkpoints/zero-shot.src-dev.pt \\
        --pseudo-loss reverse-focal --out runs/en-es-xfmr-rf
    zsner transformer --model PATH --src en --tgt es --mode augmented --init runs/en-es-projected \\
        --teacher runs/en-es-xfmr,runs/en-es-projected --out runs/en-es-xfmr-ensemble   # a run folder: its src-dev pick
    zsner transformer --model PATH --round-robin en,es,nl,de --out runs/round-robin
    torchrun --standalone --nproc_per_node 4 -m zsner.cli transformer --model PATH ... --out DIR   # DDP, 4 GPUs
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from ..config import add_config_arguments, apply_overrides
from ..errors import ZsnerError
from ..train import distributed
from .config import TransformerConfig, TransformerTrainConfig, split_list


def add_parser(sub):
    parser = sub.add_parser("transformer", help="fine-tune a local Hugging Face encoder for cross-lingual NER",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="run folder to write (required unless --resume)")
    parser.add_argument("--resume", metavar="RUN_DIR", default=None,
                        help="continue a killed run from its checkpoint, with the configuration saved in it")
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --out")
    parser.add_argument("--round-robin", default="", metavar="LANGS",
                        help="comma-separated languages: train on all but one, test on the held-out one, for each")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or log lines on the terminal")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (as for every other command; same as --progress false)")
    add_config_arguments(parser, TransformerConfig)
    add_config_arguments(parser, TransformerTrainConfig)
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from ..extras import require
    from .run import run, run_round_robin

    require("transformer", "zsner transformer")
    if args.resume:
        model_config, config = _resumed_configs(args)
    elif not args.out:
        raise ZsnerError("--out is required (or --resume RUN_DIR)")
    else:
        model_config = apply_overrides(TransformerConfig(), args)
        config = apply_overrides(TransformerTrainConfig(), args)
    main = distributed.is_main()  # under torchrun only the first process reports
    if args.quiet or args.no_progress or not main:
        config = apply_overrides(config, argparse.Namespace(progress=False))
    if not args.quiet and main:
        _log_to_stderr()
    finished = False
    try:
        if args.round_robin:
            summary = run_round_robin(model_config, config, split_list(args.round_robin), args.out, args.overwrite)
        else:
            metrics = run(model_config, config, args.resume or args.out, args.overwrite, resume=bool(args.resume))
        finished = True
    finally:
        distributed.stop(finished)
    if not main:
        return
    if args.round_robin:
        for held_out, scores in summary.items():
            print(f"held out {held_out}: " + ", ".join(f"test F1 ({c}) {f1}" for c, f1 in scores.items()))
        return
    for criterion, chosen in metrics["selection"].items():
        for lang, test in chosen["test"].items():
            from ..evaluation import format_report  # seqeval only where a report is printed

            print(format_report(test, f"{lang} test, selected on {criterion} (step {chosen['step']})"))
            print()
    speed = metrics["speed"]
    print(f"train {speed['train_sentences_per_second']} sent/s ({speed['seconds_per_epoch']} s per source epoch), "
          f"inference {speed['inference_sentences_per_second']} sent/s; run folder {args.out}")


RESUME_SAFE = ("threads", "device", "eval_batch_size", "progress")  # flags that cannot change a run's results


def _resumed_configs(args):
    """The configs saved in the run folder; a flag that would change the run stops the command."""
    from ..config import load_configs, resume_overrides

    if args.round_robin or (args.out and args.out != args.resume):
        raise ZsnerError("--resume continues one run in its own folder: leave out --round-robin and --out")
    given = resume_overrides(args, (TransformerConfig, TransformerTrainConfig), RESUME_SAFE, args.resume)
    saved = load_configs(Path(args.resume) / "config.json", model=TransformerConfig, train=TransformerTrainConfig)
    return saved["model"], replace(saved["train"], **given)


def _log_to_stderr() -> None:
    logger = logging.getLogger("zsner.transformer")
    if not any(getattr(handler, "_zsner_stderr", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._zsner_stderr = True
        logger.addHandler(handler)
