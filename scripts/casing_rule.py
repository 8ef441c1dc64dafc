"""Analysis (never training or selection): how much of a target-test score is lost to the annotation convention
that named entities are capitalised? Re-scores saved predictions after dropping every predicted entity without
a capitalised word (Spanish CoNLL-2002 leaves lowercase demonyms such as "español" untagged, where English
CoNLL-2003 tags "Spanish" as MISC, and an English-trained model carries that over).

    python scripts/casing_rule.py runs/en-xx-transformer-frz3/predictions/zero-shot.src-dev.es.test.conll [...]

Input: prediction files as the run folders write them (word, gold tag, predicted tag). The rule is target-language
knowledge (it helps where the guidelines leave lowercase words out, hurts where they tag them: German CoNLL tags
"deutschen" as MISC; it erases everything in a script without case). It is reported beside the clean figures,
never instead of them. ``zsner project --cased-only`` applies the same rule to projected training data.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zsner.data.tags import chunks, convert, from_chunks
from zsner.errors import ZsnerError
from zsner.evaluation import span_metrics
from zsner.projection.spans import cased


def read_predictions(path: Path) -> list[tuple[list[str], list[str], list[str]]]:
    """Sentences of (words, gold tags, predicted tags) from a three-column file; blank lines end sentences."""
    sentences, words, gold, predicted = [], [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        columns = line.split()
        if not columns:
            if words:
                sentences.append((words, gold, predicted))
                words, gold, predicted = [], [], []
            continue
        if len(columns) != 3:
            raise ZsnerError(f"expected 3 columns (word gold predicted), found {len(columns)}", path, number)
        words.append(columns[0])
        gold.append(columns[1])
        predicted.append(columns[2])
    if words:
        sentences.append((words, gold, predicted))
    return sentences


def cased_entities_only(words: list[str], tags: list[str]) -> list[str]:
    """IOB2 ``tags`` without the entities none of whose words starts with an uppercase letter."""
    kept = [(kind, start, end) for kind, start, end in chunks(convert(tags, "iob2"))
            if cased(words[start:end])]
    return from_chunks(kept, len(words), "iob2")


def rescore(path: Path) -> dict:
    sentences = read_predictions(path)
    gold = [g for _, g, _ in sentences]
    predicted = [p for _, _, p in sentences]
    filtered = [cased_entities_only(w, p) for w, _, p in sentences]
    dropped = sum(len(chunks(convert(p, "iob2"))) - len(chunks(f)) for p, f in zip(predicted, filtered))
    return {"file": str(path), "as_predicted": span_metrics(gold, predicted),
            "cased_only": span_metrics(gold, filtered), "entities_dropped": dropped}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", default=None, help="also write the rows there")
    args = parser.parse_args(argv)
    try:
        rows = [rescore(path) for path in args.files]
    except (ZsnerError, OSError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("| predictions | F1 as predicted | F1, cased entities only | MISC F1 (before → after) | entities dropped |")
    print("|---|---|---|---|---|")
    for row in rows:
        before, after = row["as_predicted"], row["cased_only"]
        misc = [m["per_type"].get("MISC", {}).get("f1", "–") for m in (before, after)]
        print(f"| {row['file']} | {before['micro']['f1']} | {after['micro']['f1']} | {misc[0]} → {misc[1]} "
              f"| {row['entities_dropped']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
