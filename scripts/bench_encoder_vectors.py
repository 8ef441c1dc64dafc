"""Benchmark: word translation with static vectors read out of a multilingual encoder, per layer, without mapping.

For each layer: CSLS and NN P@1 of the identity on the MUSE test dictionary (evaluation only), the unsupervised
criterion that `zsner vectors --layer auto` maximises, and optionally the same for vectors averaged over
contexts (unlabelled NER training text + one side of the parallel corpus). Prints a Markdown table and writes JSON.

    python scripts/bench_encoder_vectors.py --model ~/.cache/zsner/models/multilingual-e5-small --src en --tgt es \
        --max-vocab 30000 [--contexts] --out runs/bench/encoder-vectors-en-es.json
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from zsner.atomic import write_json
from zsner.embeddings import load_vectors
from zsner.encoder_vectors.build import load_encoder as _encoder
from zsner.encoder_vectors.extract import in_context, isolated, unit_length
from zsner.encoder_vectors.layer import layer_scores
from zsner.encoder_vectors.words import read_contexts, unique_lower
from zsner.mapping.retrieval import load_dictionary
from zsner.resources import dictionary_path, embedding_path, find_resource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="es")
    parser.add_argument("--max-vocab", type=int, default=30000)
    parser.add_argument("--contexts", action="store_true", help="also vectors averaged over unlabelled contexts")
    parser.add_argument("--max-contexts", type=int, default=10)
    parser.add_argument("--max-sentences", type=int, default=0, help="cap the context sentences per source")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoder = _encoder(args.model, "cpu")
    layers = list(range(encoder.layers + 1))
    words = {lang: unique_lower(load_vectors(embedding_path(lang, args.data_dir)).words)[:args.max_vocab]
             for lang in (args.src, args.tgt)}
    index = {lang: {word: row for row, word in enumerate(words[lang])} for lang in words}
    pairs, coverage = load_dictionary(dictionary_path(args.src, args.tgt, data_dir=args.data_dir),
                                      index[args.src], index[args.tgt])
    report = {"model": args.model, "src": args.src, "tgt": args.tgt, "vocab": {k: len(v) for k, v in words.items()},
              "dictionary": coverage, "threads": args.threads}
    states, clock = {}, time.perf_counter()
    for lang in words:
        states[lang] = isolated(words[lang], encoder, layers, progress=True)
    report["isolated_seconds"] = round(time.perf_counter() - clock, 1)
    report["isolated"] = layer_scores(states[args.src], states[args.tgt], pairs)
    if args.contexts:
        clock = time.perf_counter()
        for lang in words:
            parallel = find_resource(f"parallel/en-{args.tgt}/{lang}.txt", args.data_dir, "parallel text")
            sentences = []
            for source in (f"{lang}:train", str(parallel)):
                found = read_contexts(source, args.data_dir)
                sentences += found[:args.max_sentences] if args.max_sentences else found
            mean, seen = in_context(words[lang], sentences, encoder, layers, args.max_contexts, progress=True)
            states[lang] = np.where(seen[None, :, None] > 0, unit_length(mean), unit_length(states[lang]))
            report[f"context_words_seen_{lang}"] = int((seen > 0).sum())
        report["context_seconds"] = round(time.perf_counter() - clock, 1)
        report["contexts"] = layer_scores(states[args.src], states[args.tgt], pairs)
    print(f"| layer | {' | '.join(str(row['layer']) for row in report['isolated'])} |")
    print("|---" * (len(layers) + 1) + "|")
    for kind in ("isolated", "contexts"):
        for metric in ("P@1 csls", "P@1 nn", "criterion"):
            if kind in report:
                print(f"| {kind} {metric} | {' | '.join(str(row[metric]) for row in report[kind])} |")
    if args.out:
        write_json(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k not in ("isolated", "contexts")}))


if __name__ == "__main__":
    main()
