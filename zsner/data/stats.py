"""Dataset statistics for ``zsner data``: sentences, tokens, entities per type, scheme, longest sentence."""
from __future__ import annotations

from collections import Counter

from ..resources import SPLITS, dataset, dataset_path
from .conll import read_conll, read_dataset
from .tags import chunks, detect_scheme


def sentence_stats(sentences, encoding: str, docstart: str) -> dict:
    entities = Counter(kind for sentence in sentences for kind, _, _ in chunks(sentence.tags))
    longest = max(sentences, key=len)
    scheme = detect_scheme(sentence.tags for sentence in sentences)
    return {
        "sentences": len(sentences),
        "tokens": sum(len(sentence) for sentence in sentences),
        "entities": dict(sorted(entities.items())),
        "scheme": scheme["scheme"],
        # chunks starting with I- read as B- (CoNLL), plus tags repaired on reading (WikiAnn ja/zh)
        "stray_I_starts_repaired": scheme["stray_starts"] + sum(s.extra.get("repaired", 0) for s in sentences),
        "encoding": encoding,
        "docstart": docstart,
        "longest_sentence": len(longest),
        "longest_sentence_line": longest.line,
    }


def file_stats(path, encoding: str = "utf-8", docstart: str = "drop-line", sentences=None) -> dict:
    """Statistics of one file (``sentences``: already read from it)."""
    sentences = sentences if sentences is not None else read_conll(path, encoding, docstart)
    return {"file": str(path), **sentence_stats(sentences, encoding, docstart)}


def dataset_stats(lang: str, docstart: str | None = None, data_dir=None, encoding: str | None = None) -> dict:
    """Statistics per split; every split is read before anything is returned (no partial output).
    ``encoding`` overrides the registry's per-split encodings."""
    spec = dataset(lang)
    docstart = docstart or spec.docstart
    return {split: file_stats(dataset_path(lang, split, data_dir), encoding or spec.encodings[split], docstart,
                              read_dataset(lang, split, data_dir, docstart=docstart, encoding=encoding or ""))
            for split in SPLITS}


def format_stats(stats: dict) -> str:
    """Human-readable table: one row per split (or a single row for a file)."""
    rows = stats.items() if "sentences" not in stats else [(stats.get("file", "file"), stats)]
    lines = [f"{'split':<10} {'sentences':>9} {'tokens':>8} {'scheme':>6} {'enc':>8} {'longest':>7}  entities"]
    for name, row in rows:
        entities = " ".join(f"{kind}={count}" for kind, count in row["entities"].items())
        if row["stray_I_starts_repaired"]:
            entities += f"  ({row['stray_I_starts_repaired']} chunks starting with I- repaired)"
        lines.append(f"{name:<10} {row['sentences']:>9} {row['tokens']:>8} {row['scheme']:>6} "
                     f"{row['encoding']:>8} {row['longest_sentence']:>7}  {entities}")
    return "\n".join(lines)
