"""Benchmark: training and decoding throughput (sentences/s) of the full tagger on English CoNLL, and flair's.

    python scripts/bench_train.py [--threads 1 2] [--batches 150] [--shared-lstm] [--flair-python PATH]
Training: the paper's batch size 16 on length-bucketed batches of eng.train (forward, backward, clip, SGD step).
Decoding: all of eng.testa (dev) with Viterbi, eval batch 256. Rates are per wall second and per CPU second of
this process (all threads; steadier than wall time on a loaded machine); each row records the 1-min load.

The peer row: flair 0.15.1's BiLSTM-CRF with the same architecture, fed the same batches and dev sentences
(scripts/bench_flair.py), printed when flair can be imported here or ``--flair-python`` names the interpreter of
flair's own environment. flair pins older ``transformers``, so it gets a separate venv:
    python3 -m venv /work/venvs/flair
    /work/venvs/flair/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    /work/venvs/flair/bin/pip install flair==0.15.1
    python scripts/bench_train.py --flair-python /work/venvs/flair/bin/python
(The CPU wheel first, so that pip does not pull CUDA torch; any torch flair accepts works, the same one as zsner's
keeps the comparison fair.)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from zsner.config import TaggerConfig, TrainConfig
from zsner.data.batches import bucketed_order
from zsner.data.tags import chunks
from zsner.nn.tagger import count_parameters
from zsner.train.evaluate import predict
from zsner.train.model_io import build_tagger
from zsner.train.prepare import prepare_supervised
from zsner.train.trainer import clip_gradients

WARMUP = 10  # batches excluded from the training rate


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def measure(data, tagger_config, threads, order, eval_batch_size):
    """``(train wall, train CPU, decode wall, decode CPU)`` sentences/s and the trainable parameter count."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_tagger(tagger_config, data.vocabs)
    model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    corpus = data.corpora["train"]
    model.train()
    seen = 0
    for position, indices in enumerate(order):
        if position == WARMUP:
            seen, wall, cpu = 0, time.perf_counter(), time.process_time()
        batch = corpus.batch(indices)
        optimizer.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        clip_gradients(trainable, 5.0)
        optimizer.step()
        seen += len(indices)
    rates = [seen / (time.perf_counter() - wall), seen / (time.process_time() - cpu)]
    dev = data.corpora["dev"]
    predict(model, dev, data.vocabs.tags.items, eval_batch_size)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    predict(model, dev, data.vocabs.tags.items, eval_batch_size)
    rates += [len(dev) / (time.perf_counter() - wall), len(dev) / (time.process_time() - cpu)]
    return rates, count_parameters(model)


def write_exchange(folder: Path, data, order, eval_batch_size) -> None:
    """The batches, dev sentences (tokens + entity spans) and word vectors for scripts/bench_flair.py."""
    corpus, dev = data.corpora["train"], data.corpora["dev"]
    used = sorted({int(i) for batch in order for i in batch})
    position = {index: row for row, index in enumerate(used)}

    def rows(sentences):
        return [[list(s.words), [list(span) for span in chunks(list(s.tags))]] for s in sentences]

    types = sorted({t.split("-", 1)[1] for t in data.vocabs.tags.items if "-" in t})
    spec = {"vocab": list(data.vocabs.words.items), "types": types, "eval_batch_size": eval_batch_size,
            "batches": [[position[int(i)] for i in batch] for batch in order],
            "train": rows([corpus.sentences[i] for i in used]), "dev": rows(dev.sentences)}
    (folder / "batches.json").write_text(json.dumps(spec), encoding="utf-8")
    np.save(folder / "embeddings.npy", np.asarray(data.embeddings, dtype=np.float32))


def flair_rows(python: str, data, order, threads, eval_batch_size) -> list[dict]:
    script = Path(__file__).with_name("bench_flair.py")
    with tempfile.TemporaryDirectory() as folder:
        write_exchange(Path(folder), data, order, eval_batch_size)
        result = subprocess.run([python, str(script), folder, "--threads", *map(str, threads), "--warmup", str(WARMUP)],
                                capture_output=True, text=True)
    if result.returncode != 0:
        print(f"flair row failed ({python}): {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return []
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=256)
    parser.add_argument("--shared-lstm", action="store_true")
    parser.add_argument("--no-chars", action="store_true")
    parser.add_argument("--flair-python", help="interpreter of an environment with flair 0.15.1 (default: this one, "
                                               "when it can import flair)")
    args = parser.parse_args()
    tagger = TaggerConfig(shared_lstm=args.shared_lstm, use_chars=not args.no_chars)
    data = prepare_supervised(TrainConfig(lang="en"), tagger)
    order = bucketed_order(data.corpora["train"].lengths, args.batch_size, np.random.default_rng(0))
    order = order[: args.batches + WARMUP]
    print(f"| model | threads | trainable params | train sent/s (batch {args.batch_size}) | "
          f"decode sent/s (batch {args.eval_batch_size}) | train / decode sent per CPU-s | load (1 min) |")
    print("|---|---|---|---|---|---|---|")
    label = "zsner" + (" tied LSTMs" if args.shared_lstm else "") + ("" if tagger.use_chars else " no chars")
    for threads in args.threads:
        (train, train_cpu, decode, decode_cpu), params = measure(data, tagger, threads, order, args.eval_batch_size)
        print(f"| {label} | {threads} | {params:,} | {train:.0f} | {decode:.0f} | {train_cpu:.0f} / {decode_cpu:.0f} "
              f"| {load_average()} |", flush=True)
    python = args.flair_python or (sys.executable if importlib.util.find_spec("flair") else None)
    if python:
        for row in flair_rows(python, data, order, args.threads, args.eval_batch_size):
            print(f"| flair 0.15.1 | {row['threads']} | {row['params']:,} | {row['train']:.0f} | {row['decode']:.0f} "
                  f"| {row['train_cpu']:.0f} / {row['decode_cpu']:.0f} | {row.get('load', '?')} |")


if __name__ == "__main__":
    main()
