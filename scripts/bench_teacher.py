"""Teachers' pseudo-labels (zsner/teachers.py): computed once, then read from the cache; one teacher's own decoding
against the ensemble rule's constrained IOB2 Viterbi on the same teacher listed twice; scored against the gold tags
of the target file (``--split train``: the labels Algorithm 1 never sees; here only to measure the pseudo-labels).

    OMP_NUM_THREADS=1 python scripts/bench_teacher.py --teacher runs/en-es-e5-softmax-1epoch --lang es --limit 2000

Prints a Markdown table: setting, wall seconds, whether the model ran, F1 of the pseudo-labels, entities.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zsner.data.conll import read_dataset  # noqa: E402
from zsner.data.tags import chunks  # noqa: E402
from zsner.evaluation import span_metrics  # noqa: E402
from zsner.teachers import teacher_checkpoints, teacher_labels  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", required=True, help="a transformer run folder or checkpoint")
    parser.add_argument("--lang", default="es")
    parser.add_argument("--split", default="train", help="train (what Algorithm 1 labels) | dev | test")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences (0: all)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    sentences = read_dataset(args.lang, args.split, args.data_dir)
    sentences = sentences[:args.limit] if args.limit else sentences
    words, gold = [s.words for s in sentences], [s.tags for s in sentences]
    one = teacher_checkpoints(args.teacher)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for setting, checkpoints in [("one teacher, computed", one), ("one teacher, cached", one),
                                     ("the same teacher twice (ensemble rule), computed", one * 2),
                                     ("the same teacher twice (ensemble rule), cached", one * 2)]:
            started = time.perf_counter()
            tags, record = teacher_labels(checkpoints, words, args.lang, cache, progress=False)
            wall = time.perf_counter() - started
            f1 = span_metrics(gold, tags)["micro"]["f1"]
            entities = sum(len(chunks(row)) for row in tags)
            rows.append((setting, wall, not all(record["cached"]), f1, entities))
            print(f"  {setting}: {wall:.1f} s, F1 {f1:.2f}", file=sys.stderr)
    print(f"{len(words)} {args.lang} {args.split} sentences; teacher {one[0]}\n")
    print("| setting | wall s | model ran | F1 vs gold | entities |\n|---|---:|---|---:|---:|")
    for setting, wall, ran, f1, entities in rows:
        print(f"| {setting} | {wall:.2f} | {'yes' if ran else 'no'} | {f1:.2f} | {entities:,} |")
    print(f"\nload after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
