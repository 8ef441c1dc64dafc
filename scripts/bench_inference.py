"""Benchmark: inference speed of a classic model (e.g. the Cross-Augmented student) against a transformer run (e.g.
its teacher) on the same target test sentences, same threads, measured alternately so both see the same load.

    python scripts/bench_inference.py --student runs/en-es-augmented-encoder-teacher/seed1/augmented/best-src-dev.pt \\
        --teacher runs/en-xx-transformer-frz3 --lang es --repeats 3

Prints sentences/s of each (best of the repeats, model loading excluded), the ratio, and both test F1s.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from zsner.data.batches import EncodedCorpus
from zsner.evaluation import span_metrics
from zsner.train.prepare import read_splits
from zsner.train.apply import open_model
from zsner.train.evaluate import evaluate
from zsner.teachers import teacher_checkpoints
from zsner.transformer.inference import encode, predict_tags
from zsner.transformer.run import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", required=True, help="classic model file or run folder")
    parser.add_argument("--teacher", required=True, help="transformer run folder or checkpoint")
    parser.add_argument("--lang", default="es")
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--student-batch", type=int, default=256)
    parser.add_argument("--teacher-batch", type=int, default=64)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = read_splits(args.lang, data_dir=args.data_dir)[args.split]
    gold = [s.tags for s in sentences]
    student, vocabs, config, _, prefix = open_model(args.student, args.lang)
    corpus = EncodedCorpus(sentences, vocabs.words, vocabs.chars, vocabs.tags, config.max_word_length, prefix=prefix)
    teacher, tokens, archive = load_checkpoint(teacher_checkpoints(args.teacher)[0])
    window, overlap = int(archive["model_config"]["window"]), int(archive["model_config"]["overlap"])
    speeds, scores = {"student": [], "teacher": []}, {}
    for _ in range(args.repeats):
        clock = time.perf_counter()
        metrics, _ = evaluate(student, corpus, vocabs.tags.items, args.student_batch, "cpu")
        speeds["student"].append(len(sentences) / (time.perf_counter() - clock))
        scores["student"] = metrics["micro"]["f1"]
        clock = time.perf_counter()
        words = encode([s.words for s in sentences], tokens, window, overlap, args.lang)
        predicted = predict_tags(teacher, words, batch_size=args.teacher_batch, device="cpu", progress=False)
        speeds["teacher"].append(len(sentences) / (time.perf_counter() - clock))
        scores["teacher"] = span_metrics(gold, predicted)["micro"]["f1"]
    best = {name: max(values) for name, values in speeds.items()}
    print(f"bench_inference {args.lang} {args.split}: {len(sentences)} sentences, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}")
    for name in ("student", "teacher"):
        print(f"{name}: {best[name]:.1f} sent/s (runs {', '.join(f'{v:.1f}' for v in speeds[name])}), "
              f"test F1 {scores[name]:.2f}")
    print(f"student / teacher speed: {best['student'] / best['teacher']:.1f}x")


if __name__ == "__main__":
    main()
