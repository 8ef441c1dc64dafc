"""Analysis (never training): how good are a source model's pseudo-labels on the target training sentences, as a
function of the sentence-length threshold of Algorithm 1?

    python scripts/pseudo_label_quality.py --model runs/en-es-augmented/seed1/shared --lang es \
        [--thresholds 10,20,30,40,60,100,250] [--json out.json]

The model (a transfer variant's folder or best-*.pt) tags every target training sentence with Viterbi, exactly
as AugmentedTask.pseudo_label does. The gold tags of the target training file are read *here only*, to score
those pseudo-labels: span P/R/F1 of the sentences of length <= l, and per length bin, plus the share of
sentences a threshold l ~ U(min, max) keeps on average.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from zsner.data.batches import EncodedCorpus
from zsner.evaluation import span_metrics
from zsner.train.apply import open_model
from zsner.train.evaluate import predict
from zsner.train.prepare import read_splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--lang", required=True)
    parser.add_argument("--thresholds", default="10,20,30,40,60,100,250")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, vocabs, config, _, prefix = open_model(args.model, args.lang)
    sentences = read_splits(args.lang, data_dir=args.data_dir)["train"]
    corpus = EncodedCorpus(sentences, vocabs.words, vocabs.chars, None, config.max_word_length, prefix=prefix)
    predicted = predict(model, corpus, vocabs.tags.items)
    gold = [s.tags for s in sentences]
    lengths = np.array([len(s.words) for s in sentences])

    def scored(keep: np.ndarray) -> dict:
        return span_metrics([gold[i] for i in keep], [predicted[i] for i in keep])["micro"]

    rows = []
    for threshold in [int(t) for t in args.thresholds.split(",")]:
        keep = np.flatnonzero(lengths <= threshold)
        micro = scored(keep)
        rows.append({"threshold": threshold, "sentences": int(len(keep)), "tokens": int(lengths[keep].sum()),
                     "precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1"]})
    edges = [1, 6, 11, 21, 31, 41, 61, 10**6]
    bins = []
    for low, high in zip(edges[:-1], edges[1:]):
        keep = np.flatnonzero((lengths >= low) & (lengths < high))
        if len(keep):
            bins.append({"lengths": f"{low}-{high - 1}" if high < 10**6 else f">={low}", "sentences": int(len(keep)),
                         "f1": scored(keep)["f1"]})
    low, high = int(lengths.min()), int(lengths.max())
    kept_share = float(np.mean([(lengths <= l).mean() for l in range(low, high + 1)]))
    print(f"{args.lang} train: {len(sentences)} sentences, lengths {low}-{high}; a threshold l ~ U({low}, {high}) "
          f"keeps {100 * kept_share:.1f}% of the sentences on average")
    print("| length <= l | sentences | tokens | P | R | F1 |\n|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['threshold']} | {row['sentences']} | {row['tokens']} | {row['precision']:.2f} | "
              f"{row['recall']:.2f} | {row['f1']:.2f} |")
    print("\n| length bin | sentences | F1 |\n|---|---|---|")
    for row in bins:
        print(f"| {row['lengths']} | {row['sentences']} | {row['f1']:.2f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"thresholds": rows, "bins": bins, "mean_kept_share": kept_share}, handle, indent=1)


if __name__ == "__main__":
    main()
