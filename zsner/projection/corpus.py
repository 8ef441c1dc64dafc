"""The projected corpus and its statistics: kept and dropped sentences, entities per type, the identical-string
precision estimate, and the files of the output folder: ``projected.conll`` (IOB2, word and tag) = ``train.conll``
+ ``dev.conll``, ``projected.lines`` (each sentence's line in the parallel files), ``review.tsv`` (every pair with
source entities, bracketed on both sides, for hand checks), ``stats.json``, ``summary.txt``, ``config.json``
(and ``timing.json``, seconds per step, written by the pipeline)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..atomic import write_json, write_text
from ..data.conll import Sentence, write_conll
from .examples import identical_span
from .parallel import Pair
from .spans import Projection, sentence_tags, uncased


def assemble(pairs: list[Pair], entities: list[list[tuple[str, int, int]]], projections: list[list[Projection] | None],
             keep_empty: bool = True, cased_only: bool = False) -> tuple[list[Sentence], dict]:
    """Target sentences with projected IOB2 tags (``Sentence.line``: the pair's 1-based line) and the counts.
    ``cased_only``: projected entities without a capitalised target word are written as O (counted per type)."""
    kept, dropped = [], Counter()
    source_types, projected_types, failed, written_o = Counter(), Counter(), Counter(), Counter()
    empty = 0
    for pair, spans, projected in zip(pairs, entities, projections):
        source_types.update(kind for kind, _, _ in spans)
        if not spans:
            if keep_empty:
                kept.append(Sentence(pair.tgt, ["O"] * len(pair.tgt), pair.line + 1))
                empty += 1
            else:
                dropped["no-entity"] += 1
            continue
        failed.update(p.reason for p in projected if not p.ok)
        lower = uncased(projected, pair.tgt) if cased_only else []  # projected (ok) spans only: failures stay
        written = [p for p in projected if p not in lower]
        tags, reason = sentence_tags(written, len(pair.tgt))
        if tags is None:
            dropped[reason] += 1
            continue
        written_o.update(p.kind for p in lower)
        kept.append(Sentence(pair.tgt, tags, pair.line + 1))
        projected_types.update(p.kind for p in written)
    stats = {
        "sentences": {"used": len(pairs), "kept": len(kept), "kept_with_entities": len(kept) - empty,
                      "kept_without_entities": empty, "dropped": sum(dropped.values()),
                      "dropped_by_reason": dict(sorted(dropped.items()))},
        "entities": {"source": dict(sorted(source_types.items())), "projected": dict(sorted(projected_types.items())),
                     "failed_by_reason": dict(sorted(failed.items()))},
    }
    if cased_only:
        stats["entities"]["uncased_written_o"] = dict(sorted(written_o.items()))
    return kept, stats


def identical_precision(pairs: list[Pair], entities: list[list[tuple[str, int, int]]],
                        projections: list[list[Projection] | None], positions) -> dict:
    """Projection precision without target labels, on entities whose words occur exactly once, spelt the same, in
    the target sentence: the share of their projections that land on that very span."""
    identical = projected = correct = 0
    for k in positions:
        for (_, start, end), projection in zip(entities[k], projections[k] or []):
            span = identical_span(pairs[k].src[start:end], pairs[k].tgt)
            if span is None:
                continue
            identical += 1
            if projection.ok:
                projected += 1
                correct += projection.span == span
    return {"entities": identical, "projected": projected, "correct": correct,
            "precision": round(100.0 * correct / projected, 2) if projected else None,
            "projected_share": round(100.0 * projected / identical, 2) if identical else None}


def bracketed(words: list[str], spans) -> str:
    """``[PER Peter Blackburn] met ...``: a sentence with its (non-overlapping) ``(type, start, end)`` spans marked."""
    starts = {start: kind for kind, start, _ in spans}
    ends = {end for _, _, end in spans}
    marked = []
    for index, word in enumerate(words):
        word = f"[{starts[index]} {word}" if index in starts else word
        marked.append(word + "]" if index + 1 in ends else word)
    return " ".join(marked)


def review_table(pairs: list[Pair], entities, projections: list[list[Projection] | None]) -> str:
    """One row per pair with source entities, for hand checks: line, kept or the drop reason, the source and the
    target sentence with their entities bracketed."""
    rows = ["line\tstatus\tsource\ttarget"]
    for pair, spans, projected in zip(pairs, entities, projections):
        if not spans:
            continue
        _, reason = sentence_tags(projected, len(pair.tgt))
        done = [(p.kind, p.tgt_start, p.tgt_end) for p in projected if p.ok]
        rows.append(f"{pair.line + 1}\t{reason or 'kept'}\t{bracketed(pair.src, spans)}\t{bracketed(pair.tgt, done)}")
    return "\n".join(rows) + "\n"


def split_dev(sentences: list[Sentence], share: float, seed: int) -> tuple[list[Sentence], list[Sentence]]:
    """``(train, dev)``: a seeded random ``share`` of the sentences as dev, both in corpus order."""
    count = round(share * len(sentences))
    dev = set(np.random.default_rng(seed).permutation(len(sentences))[:count].tolist())
    return ([s for i, s in enumerate(sentences) if i not in dev], [s for i, s in enumerate(sentences) if i in dev])


def summary_text(stats: dict) -> str:
    sentences, entities = stats["sentences"], stats["entities"]
    reasons = ", ".join(f"{reason} {count}" for reason, count in sentences["dropped_by_reason"].items()) or "none"
    types = lambda counts: ", ".join(f"{kind} {count}" for kind, count in counts.items()) or "none"  # noqa: E731
    lines = [
        f"{stats['src']} -> {stats['tgt']} projection ({stats['aligner']} aligner), {sentences['used']} of "
        f"{stats['pairs_in_files']} pairs used",
        f"sentences kept: {sentences['kept']} ({sentences['kept_with_entities']} with entities, "
        f"{sentences['kept_without_entities']} without); dropped: {sentences['dropped']} ({reasons})",
        f"source entities: {types(entities['source'])}",
        f"projected entities (kept sentences): {types(entities['projected'])}",
        f"entity failures: {types(entities['failed_by_reason'])}",
    ]
    if "uncased_written_o" in entities:
        lines.append(f"projected without a capitalised word, written as O (--cased-only): "
                     f"{types(entities['uncased_written_o'])}")
    for name, row in stats["identical_string_precision"].items():
        lines.append(f"identical-string precision ({name} pairs): {row['precision']}% of {row['projected']} "
                     f"projected ({row['entities']} entities spelt the same on both sides, {row['projected_share']}% "
                     "projected)")
    corpus = stats["corpus"]
    lines.append(f"files: projected.conll {corpus['projected']} sentences = train.conll {corpus['train']} + "
                 f"dev.conll {corpus['dev']}")
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, kept: list[Sentence], stats: dict, review: str, dev_share: float, seed: int) -> None:
    """Every output file but ``config.json`` (written when the run starts), each atomically; ``stats.json`` last
    (its presence marks a finished folder)."""
    train, dev = split_dev(kept, dev_share, seed)
    stats["corpus"] = {"projected": len(kept), "train": len(train), "dev": len(dev)}
    write_conll(out / "projected.conll", kept)
    write_conll(out / "train.conll", train)
    if dev:
        write_conll(out / "dev.conll", dev)
    write_text(out / "projected.lines", "".join(f"{sentence.line}\n" for sentence in kept))
    write_text(out / "review.tsv", review)
    write_text(out / "summary.txt", summary_text(stats))
    write_json(out / "stats.json", stats)
