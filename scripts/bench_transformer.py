"""Benchmark: training and inference speed of the transformer backend per number of frozen layers, and the
extrapolated time of a full zero-shot run.

    python scripts/bench_transformer.py --model ~/.cache/zsner/models/multilingual-e5-small \\
        [--freeze -1,6,9] [--sentences 200] [--threads 1] [--epochs 3] [--out bench.json]

For each freeze setting it times one pass of AdamW steps (batch 32, window 64 / overlap 8, the run's code path)
over a seeded random sample of source training sentences, and inference on a sample of target test sentences.
The full-run estimate scales the sample time by the corpus' sub-token count (time is close to linear in pieces at
these lengths): epochs x (epoch + one dev evaluation of source + target dev) + the final target test evaluation
of both selection criteria (target dev scores are reused from the selection step).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from zsner.data.tags import tag_set  # noqa: E402
from zsner.transformer.config import TransformerConfig  # noqa: E402
from zsner.transformer.data import entity_types, label, read_split  # noqa: E402
from zsner.transformer.inference import encode, predict_ids  # noqa: E402
from zsner.nn.tagger import count_parameters  # noqa: E402
from zsner.transformer.model import build  # noqa: E402
from zsner.transformer.train import make_optimizer, window_batches  # noqa: E402


def pieces_of(corpus) -> int:
    return sum(len(word) for sentence in corpus.pieces for word in sentence)


def bench(args, freeze: int, data: dict) -> dict:
    config = TransformerConfig(model=args.model, freeze_layers=freeze, window=args.window, overlap=args.overlap)
    model, tokens = build(config, data["tags"], [], cloze=False)
    source = encode(data["train_words"], tokens, config.window, config.overlap, args.src)
    source.set_labels(data["train_labels"], data["tags"], config.scheme)
    target = encode(data["test_words"], tokens, config.window, config.overlap, args.tgt)
    optimizer = make_optimizer(model, 5e-5, 0.01)
    model.train()
    step_seconds = []
    batches = window_batches(source, args.batch_size, np.random.default_rng(0))
    for number, batch_ids in enumerate(batches):
        started = time.perf_counter()
        batch = source.batch(batch_ids)
        loss = model.ner_loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if number or len(batches) == 1:  # the first step pays one-off allocation costs
            step_seconds.append(time.perf_counter() - started)
    train_seconds = statistics.mean(step_seconds) * len(batches)
    started = time.perf_counter()
    predict_ids(model, target, batch_size=args.eval_batch_size)
    infer_seconds = time.perf_counter() - started
    train_rate = len(source) / train_seconds
    infer_rate = len(target) / infer_seconds
    # extrapolation by sub-token counts
    epoch = train_seconds * data["full_train_pieces"] / pieces_of(source)
    infer_per_piece = infer_seconds / pieces_of(target)
    dev_eval = infer_per_piece * (data["full_src_dev_pieces"] + data["full_tgt_dev_pieces"])
    final_eval = 2 * infer_per_piece * data["full_tgt_test_pieces"]  # target test, two distinct checkpoints
    total = args.epochs * (epoch + dev_eval) + final_eval
    return {"freeze_layers": freeze, "trainable_parameters": count_parameters(model, trainable_only=True),
            "total_parameters": count_parameters(model, trainable_only=False), "sample_sentences": len(source),
            "steps": len(batches), "seconds_per_step": round(statistics.mean(step_seconds), 3),
            "train_sentences_per_second": round(train_rate, 2), "inference_sentences_per_second": round(infer_rate, 2),
            "extrapolated_seconds_per_epoch": round(epoch), "extrapolated_dev_evaluation_seconds": round(dev_eval),
            "extrapolated_full_run_minutes": round(total / 60, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="es")
    parser.add_argument("--freeze", default="-1,6,9")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--eval-sentences", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = read_split(args.src, "train")
    tags = tag_set(entity_types(train), "iob2")
    sample = random.Random(0).sample(train, args.sentences)
    test = read_split(args.tgt, "test")
    test_sample = random.Random(1).sample(test, args.eval_sentences)
    labelled = label(args.src, sample, tags, "iob2")
    # sub-token counts of the full corpora, for the extrapolation
    _, tokens = build(TransformerConfig(model=args.model), tags, [], cloze=False)

    def count(sentences):
        return sum(len(w) for s in sentences for w in tokens.word_pieces(s.words))

    data = {"tags": tags, "train_words": labelled.words, "train_labels": labelled.labels,
            "test_words": [s.words for s in test_sample], "full_train_pieces": count(train),
            "full_src_dev_pieces": count(read_split(args.src, "dev")),
            "full_tgt_dev_pieces": count(read_split(args.tgt, "dev")), "full_tgt_test_pieces": count(test)}
    results = {"model": args.model, "threads": args.threads, "src": args.src, "tgt": args.tgt,
               "batch_size": args.batch_size, "window": args.window, "overlap": args.overlap, "epochs": args.epochs,
               "load_average_before": os.getloadavg(), "corpus_pieces": {k: v for k, v in data.items()
                                                                         if k.startswith("full_")},
               "runs": []}
    for freeze in [int(value) for value in args.freeze.split(",")]:
        row = bench(args, freeze, data)
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
    results["load_average_after"] = os.getloadavg()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
