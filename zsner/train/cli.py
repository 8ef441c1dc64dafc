"""`zsner train`, `zsner evaluate`: argument parsing for the classic tagger (`zsner predict` is in tagging/)."""
from __future__ import annotations

import json

from ..config import TaggerConfig, TrainConfig, add_config_arguments, apply_overrides, resume_overrides


def add_parser(sub):
    train = sub.add_parser("train", help="train the char+word BiLSTM-CRF on a labelled language")
    train.add_argument("--out", default=None, help="run folder (default runs/train-LANG-seedN)")
    train.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a killed run from its checkpoint")
    train.add_argument("--data-dir", default=None, help="data root searched first")
    train.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    add_config_arguments(train, TrainConfig)
    add_config_arguments(train, TaggerConfig)
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser("evaluate", help="score a trained model on a language's dev and test sets")
    evaluate.add_argument("--model", required=True, help="run folder or model file (of zsner train or transfer)")
    evaluate.add_argument("--lang", required=True)
    evaluate.add_argument("--embeddings", default="", help="vectors for --lang (default: the search path's; "
                                                           "for cross-lingual use, vectors in the model's space)")
    evaluate.add_argument("--out", default=None, help="folder for predictions and metrics (default: the model's)")
    evaluate.add_argument("--data-dir", default=None)
    evaluate.add_argument("--threads", type=int, default=1)
    evaluate.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args):
    from .loop import train_supervised

    if args.resume:
        safe = _resume_overrides(args)
        metrics = train_supervised(TrainConfig(), TaggerConfig(), args.resume, args.data_dir, resume=True,
                                   progress_bars=not args.no_progress, overrides=safe)
        out = args.resume
    else:
        train = apply_overrides(TrainConfig(), args)
        tagger = apply_overrides(TaggerConfig(), args)
        out = args.out or f"runs/train-{train.lang}-seed{train.seed}"
        metrics = train_supervised(train, tagger, out, args.data_dir, progress_bars=not args.no_progress)
    print(f"{out}: dev F1 {metrics['dev']['micro']['f1']:.2f}  test F1 {metrics['test']['micro']['f1']:.2f}")


# flags that cannot change a resumed run's results
RESUME_SAFE = ("threads", "device", "eval_batch_size", "eval_overlap")


def _resume_overrides(args) -> dict:
    return resume_overrides(args, (TrainConfig, TaggerConfig), RESUME_SAFE, args.resume, ["out"] if args.out else [])


def run_evaluate(args):
    from .apply import evaluate_language

    results = evaluate_language(args.model, args.lang, args.embeddings, args.out, args.data_dir, args.threads,
                                args.device, progress=not args.no_progress)
    print(json.dumps({split: results[split]["micro"] for split in ("dev", "test")}))
