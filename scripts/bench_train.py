"""Benchmark: training and decoding throughput (sentences/s) of the full tagger on English CoNLL.

    python scripts/bench_train.py [--threads 1 2] [--batches 200] [--shared-lstm]
Training: the paper's batch size 16 on length-bucketed batches of eng.train (forward, backward, clip, SGD step).
Decoding: all of eng.testa (dev) with Viterbi, eval batch 256.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from zsner.config import TaggerConfig, TrainConfig
from zsner.data.batches import bucketed_order
from zsner.nn.tagger import count_parameters
from zsner.train.evaluate import predict
from zsner.train.loop import clip_gradients
from zsner.train.model_io import build_tagger
from zsner.train.prepare import prepare_supervised


def measure(data, tagger_config, threads, batches, batch_size, eval_batch_size):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_tagger(tagger_config, data.vocabs)
    model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    corpus = data.corpora["train"]
    order = bucketed_order(corpus.lengths, batch_size, np.random.default_rng(0))[: batches + 10]
    model.train()
    seen, start = 0, None
    for position, indices in enumerate(order):
        if position == 10:  # warm-up batches excluded
            seen, start = 0, time.perf_counter()
        batch = corpus.batch(indices)
        optimizer.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        clip_gradients(trainable, 5.0)
        optimizer.step()
        seen += len(indices)
    train_rate = seen / (time.perf_counter() - start)
    dev = data.corpora["dev"]
    predict(model, dev, data.vocabs.tags.items, eval_batch_size)  # warm-up
    start = time.perf_counter()
    predict(model, dev, data.vocabs.tags.items, eval_batch_size)
    decode_rate = len(dev) / (time.perf_counter() - start)
    return train_rate, decode_rate, count_parameters(model)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=256)
    parser.add_argument("--shared-lstm", action="store_true")
    parser.add_argument("--no-chars", action="store_true")
    args = parser.parse_args()
    tagger = TaggerConfig(shared_lstm=args.shared_lstm, use_chars=not args.no_chars)
    data = prepare_supervised(TrainConfig(lang="en"), tagger)
    print("| threads | shared LSTM | chars | trainable params | train sent/s (batch %d) | decode sent/s (batch %d) |"
          % (args.batch_size, args.eval_batch_size))
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        train_rate, decode_rate, params = measure(data, tagger, threads, args.batches, args.batch_size,
                                                  args.eval_batch_size)
        print(f"| {threads} | {args.shared_lstm} | {not args.no_chars} | {params} | {train_rate:.0f} | {decode_rate:.0f} |")


if __name__ == "__main__":
    main()
