"""Evaluation-only bilingual dictionaries en-XX from the line-aligned parallel corpora (issue 30, item 6).

For measuring the word mapping on pairs without a MUSE dictionary (de, nl, fi, ar). Never an input of the
method: ``zsner map`` does not read them, and they are written outside the repository (default
``runs/eval-dicts/``). Word alignment by co-occurrence over aligned lines: lowercased word tokens, both words in
the language's vectors, Dice coefficient ``2 c(e, f) / (c(e) + c(f))`` over lines, a pair kept when each word is
the other's best partner (mutual best Dice), ``c(e, f) >= --min-cooc`` and Dice >= ``--min-dice``.

The same builder run on en-es is scored against MUSE's full en-es dictionary (``--check-muse``), which tells how
far such a dictionary can be trusted. Output: ``src tgt`` per line (MUSE's format, ``--eval-dict FILE``), source
words in the vectors' frequency order, and a ``.json`` beside it with the counts.

    python scripts/eval_dictionaries.py --pairs en-es,en-de,en-nl,en-fi,en-ar --out runs/eval-dicts
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from zsner.atomic import write_json, write_text
from zsner.embeddings import load_vectors
from zsner.resources import embedding_path, find_resource

TOKEN = re.compile(r"\w+(?:[-'’]\w+)*")


def vocabulary(lang: str, data_dir=None) -> dict[str, int]:
    """Lowercased words of the language's vectors -> frequency rank (first occurrence)."""
    ranks: dict[str, int] = {}
    for word in load_vectors(embedding_path(lang, data_dir)).words:
        ranks.setdefault(word.lower(), len(ranks))
    return ranks


def line_matrix(path: Path, vocab: dict[str, int]) -> tuple[sp.csr_matrix, list[str]]:
    """Binary lines x words matrix of the in-vocabulary tokens of each line, and the words of its columns."""
    columns: dict[str, int] = {}
    rows, cols = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            for token in set(TOKEN.findall(line.lower())):
                if token in vocab:
                    rows.append(number)
                    cols.append(columns.setdefault(token, len(columns)))
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                           shape=(number + 1, len(columns)))
    return matrix, list(columns)


def align(src_lines: sp.csr_matrix, tgt_lines: sp.csr_matrix, min_count: int, min_cooc: int,
          min_dice: float) -> list[tuple[int, int, float, int]]:
    """Mutual-best-Dice column pairs (src column, tgt column, Dice, co-occurrences)."""
    n = min(src_lines.shape[0], tgt_lines.shape[0])
    src_lines, tgt_lines = src_lines[:n], tgt_lines[:n]
    src_count = np.asarray(src_lines.sum(0)).ravel()
    tgt_count = np.asarray(tgt_lines.sum(0)).ravel()
    cooc = (src_lines.T @ tgt_lines).tocoo()
    keep = (cooc.data >= min_cooc) & (src_count[cooc.row] >= min_count) & (tgt_count[cooc.col] >= min_count)
    row, col, both = cooc.row[keep], cooc.col[keep], cooc.data[keep]
    dice = 2 * both / (src_count[row] + tgt_count[col])
    dice_matrix = sp.csr_matrix((dice, (row, col)), shape=cooc.shape)
    best_tgt = np.asarray(dice_matrix.argmax(1)).ravel()
    best_src = np.asarray(dice_matrix.argmax(0)).ravel()
    pairs = []
    for r, c, d, b in zip(row, col, dice, both):
        if d >= min_dice and best_tgt[r] == c and best_src[c] == r:
            pairs.append((int(r), int(c), float(d), int(b)))
    return pairs


def muse_check(pairs: list[tuple[str, str]], muse: Path) -> dict:
    """Share of the pairs whose source word MUSE lists that have one of MUSE's translations."""
    gold: dict[str, set] = {}
    for line in open(muse, encoding="utf-8"):
        parts = line.lower().split()
        if len(parts) == 2:
            gold.setdefault(parts[0], set()).add(parts[1])
    covered = [(s, t) for s, t in pairs if s in gold]
    right = sum(t in gold[s] for s, t in covered)
    return {"muse_covered": len(covered), "muse_correct": right,
            "muse_precision": round(100.0 * right / max(len(covered), 1), 2)}


def build(src: str, tgt: str, args) -> dict:
    started = time.perf_counter()
    folder = find_resource(f"parallel/{src}-{tgt}", args.data_dir, what=f"{src}-{tgt} parallel corpus")
    src_vocab, tgt_vocab = vocabulary(src, args.data_dir), vocabulary(tgt, args.data_dir)
    src_lines, src_words = line_matrix(folder / f"{src}.txt", src_vocab)
    tgt_lines, tgt_words = line_matrix(folder / f"{tgt}.txt", tgt_vocab)
    found = align(src_lines, tgt_lines, args.min_count, args.min_cooc, args.min_dice)
    found.sort(key=lambda item: src_vocab[src_words[item[0]]])
    words = [(src_words[r], tgt_words[c]) for r, c, _, _ in found]
    if args.skip_top:
        words = [(s, t) for s, t in words if src_vocab[s] >= args.skip_top]
    if args.max_pairs:
        words = words[:args.max_pairs]
    out = Path(args.out) / f"{src}-{tgt}.txt"
    write_text(out, "".join(f"{s} {t}\n" for s, t in words))
    stats = {"pair": f"{src}-{tgt}", "lines": int(min(src_lines.shape[0], tgt_lines.shape[0])), "pairs": len(words),
             "identical": sum(s == t for s, t in words),
             "source_rank_median": int(np.median([src_vocab[s] for s, _ in words])) if words else None,
             "min_count": args.min_count, "min_cooc": args.min_cooc, "min_dice": args.min_dice,
             "skip_top": args.skip_top, "seconds": round(time.perf_counter() - started, 1)}
    if args.check_muse and (src, tgt) == ("en", "es"):
        stats.update(muse_check(words, find_resource("dictionaries/en-es.txt", args.data_dir)))
    write_json(out.with_suffix(".json"), stats)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="en-es,en-de,en-nl,en-fi,en-ar")
    parser.add_argument("--min-count", type=int, default=5, help="lines a word must occur in")
    parser.add_argument("--min-cooc", type=int, default=3, help="aligned lines a pair must share")
    parser.add_argument("--min-dice", type=float, default=0.3)
    parser.add_argument("--skip-top", type=int, default=100,
                        help="leave out source words among the N most frequent of the vectors (function words)")
    parser.add_argument("--max-pairs", type=int, default=0, help="keep the N pairs of the most frequent words (0: all)")
    parser.add_argument("--check-muse", action="store_true", help="score the en-es dictionary against MUSE's")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/eval-dicts")
    args = parser.parse_args()
    for pair in args.pairs.split(","):
        src, tgt = pair.split("-")
        print(build(src, tgt, args), flush=True)


if __name__ == "__main__":
    main()
