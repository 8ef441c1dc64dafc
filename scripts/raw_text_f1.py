"""Benchmark: F1 of a model on raw text (detokenized test sets, zsner's own segmentation) against the same model on
the gold tokenization, both scored by character offsets.

Each test set is detokenized (zsner.tagging.detokenize) into documents: one per CoNLL sentence (``lines``) and one per
``--group`` consecutive sentences joined by a space (``docs``: the sentence splitter is exercised). The gold row tags
Documents built from the gold words and sentences of the same text; the raw rows give the tagger the text alone. A
predicted entity is correct iff (document, start, end, label) equals a gold one (micro P/R/F1, per type).

    python scripts/raw_text_f1.py --model runs/en-es-augmented/seed1/augmented --langs es
    python scripts/raw_text_f1.py --model runs/en-es-e5-softmax-1epoch --langs es,nl --docstart nl=drop-line

``--diagnose N`` prints the N most frequent gold words that the tokenizer does not produce (inside entities) and
N sentence boundaries the splitter missed or added. ``--errors N`` prints the gold-tokens row's error account
(zsner.span_errors: per type, correct / wrong type / wrong boundary / both / missed / spurious, the F1 with the type
made perfect) and its N most frequent strings of each outcome, then the same predictions re-scored under the
casing convention (analysis only, never a system: target-language knowledge, as scripts/casing_rule.py): entities
without a capitalised word dropped, and also lowercase words trimmed from the entities' edges.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import os
import time

import torch

import zsner
from zsner.data.conll import read_dataset
from zsner.data.tags import chunks
from zsner.errors import ZsnerError
from zsner.projection.spans import cased
from zsner.span_errors import markdown as error_account, prf
from zsner.tagging.detokenize import detokenize_document
from zsner.tagging.document import Document

TYPES = ("PER", "LOC", "ORG", "MISC")


def gold_documents(sentences, lang: str, group: int):
    """``[(text, per-sentence word offsets, gold spans {(start, end, label)})]`` of groups of ``group`` sentences."""
    result = []
    for begin in range(0, len(sentences), group):
        part = sentences[begin:begin + group]
        text, offsets = detokenize_document([s.words for s in part], lang)
        spans = {(words[start][0], words[end - 1][1], kind)
                 for sentence, words in zip(part, offsets) for kind, start, end in chunks(sentence.tags)}
        result.append((text, offsets, spans))
    return result


def predicted_spans(documents) -> list[set]:
    return [{(span.start, span.end, span.label) for span in doc.entities} for doc in documents]


def score(gold: list[set], predicted: list[set]) -> dict:
    """Micro and per-type precision / recall / F1 (percent) of exact (document, start, end, label) matches."""
    counts = collections.defaultdict(lambda: [0, 0, 0])  # label -> [correct, predicted, gold]
    for gold_spans, found in zip(gold, predicted):
        for label_set, index in ((found & gold_spans, 0), (found, 1), (gold_spans, 2)):
            for _, _, label in label_set:
                counts[label][index] += 1
                counts["all"][index] += 1
    return {label: {**prf(right, found, expected), "support": expected}
            for label, (right, found, expected) in counts.items()}


def tag_raw(tagger, docs) -> list[set]:
    return predicted_spans(tagger.pipe(text for text, _, _ in docs))


def tag_gold_tokens(tagger, docs) -> list[set]:
    prepared = (Document.from_offsets(text, offsets) for text, offsets, _ in docs)
    return predicted_spans(tagger.tag_documents(prepared))


def diagnose(docs, lang: str, limit: int) -> str:
    """Gold entity words the tokenizer does not produce, and sentence starts missed / added by the splitter."""
    from zsner.tagging.segment import segment

    words, missed, added = collections.Counter(), [], []
    for text, offsets, spans in docs:
        predicted = segment(text, lang)
        tokens = {token for sentence in predicted for token in sentence}
        inside = [(start, end) for start, end, _ in spans]
        for sentence in offsets:
            for start, end in sentence:
                if (start, end) not in tokens and any(a <= start and end <= b for a, b in inside):
                    words[text[start:end]] += 1
        gold_starts = {sentence[0][0] for sentence in offsets if sentence}
        found_starts = {sentence[0][0] for sentence in predicted}
        missed += [text[max(0, s - 40):s + 30] for s in sorted(gold_starts - found_starts)]
        added += [text[max(0, s - 40):s + 30] for s in sorted(found_starts - gold_starts)]
    lines = [f"entity words not produced by the tokenizer: {sum(words.values())} ({len(words)} distinct)"]
    lines += [f"    {count:4d} {word!r}" for word, count in words.most_common(limit)]
    lines += [f"sentence starts missed: {len(missed)}"] + [f"    ...{s!r}" for s in missed[:limit]]
    lines += [f"sentence starts added: {len(added)}"] + [f"    ...{s!r}" for s in added[:limit]]
    return "\n".join(lines)


def casing_variants(docs, predicted: list[set]) -> dict:
    """``predicted`` with uncased entities dropped, and also with lowercase edge words trimmed (gold-token spans)."""
    dropped, trimmed = [], []
    for (text, offsets, _), spans in zip(docs, predicted):
        words = [word for sentence in offsets for word in sentence]

        def lowercase(word) -> bool:
            first = text[word[0]:word[1]][:1]
            return first.isalpha() and not first.isupper()

        kept, cut = set(), set()
        for start, end, label in spans:
            inside = [word for word in words if start <= word[0] and word[1] <= end]
            if not cased([text[a:b] for a, b in inside]):  # scripts/casing_rule.py's rule
                continue
            kept.add((start, end, label))
            while lowercase(inside[-1]):
                inside.pop()
            while lowercase(inside[0]):
                inside.pop(0)
            cut.add((inside[0][0], inside[-1][1], label))
        dropped.append(kept)
        trimmed.append(cut)
    return {"uncased entities dropped": dropped, "and lowercase edge words trimmed": trimmed}


def row(model: str, lang: str, setting: str, result: dict, seconds: float, sentences: int, base: float | None) -> str:
    micro = result.get("all", {"p": 0, "r": 0, "f1": 0})
    types = " | ".join(f"{result[t]['f1']:.2f}" if t in result else "–" for t in TYPES)
    gap = "–" if base is None else f"{micro['f1'] - base:+.2f}"
    return (f"| {model} | {lang} | {setting} | {micro['p']:.2f} | {micro['r']:.2f} | **{micro['f1']:.2f}** | {gap} | "
            f"{types} | {sentences / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="run folder (repeatable)")
    parser.add_argument("--langs", default="es")
    parser.add_argument("--group", type=int, default=10, help="sentences per document in the docs rows")
    parser.add_argument("--docstart", action="append", default=[], help="LANG=CONVENTION (default: the registry's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--decode", default="argmax", help="transformer models: argmax | viterbi (zsner tag --decode)")
    parser.add_argument("--quantize", default="none",
                        help="transformer models: none | int8 | bf16 (zsner tag --quantize)")
    parser.add_argument("--limit", type=int, default=0, help="first N test sentences (0: all)")
    parser.add_argument("--diagnose", type=int, default=0, help="print N examples of each disagreement")
    parser.add_argument("--errors", type=int, default=-1,
                        help="print the gold-tokens row's error account with N examples per outcome (-1: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    docstart = dict(item.split("=", 1) for item in args.docstart)
    print(f"`python scripts/raw_text_f1.py {' '.join(os.sys.argv[1:])}`  \n{datetime.datetime.now():%Y-%m-%d %H:%M}, "
          f"threads {args.threads}, load before {os.getloadavg()[0]:.2f}\n")
    lines = ["| model | lang | input | P | R | F1 | gap | " + " | ".join(TYPES) + " | sent/s |",
             "|---|---|---|---:|---:|---:|---:|" + "---:|" * (len(TYPES) + 1)]
    notes = []
    for model in args.model:
        for lang in args.langs.split(","):
            sentences = read_dataset(lang, "test", docstart=docstart.get(lang, ""))
            sentences = sentences[: args.limit] if args.limit else sentences
            try:
                tagger = zsner.load(model, lang=lang, device="cpu", decode=args.decode, quantize=args.quantize)
            except ZsnerError as err:
                notes.append(f"{model} on {lang}: {err}")
                continue
            name = model.rstrip("/").split("/runs/")[-1]
            base = None
            for setting, group, tag in (("gold tokens", 1, tag_gold_tokens), ("raw lines", 1, tag_raw),
                                        (f"raw docs of {args.group}", args.group, tag_raw)):
                docs = gold_documents(sentences, lang, group)
                started = time.perf_counter()
                predicted = tag(tagger, docs)
                seconds = time.perf_counter() - started
                gold = [spans for _, _, spans in docs]
                result = score(gold, predicted)
                lines.append(row(name, f"{lang} ({len(sentences)})", setting, result, seconds, len(sentences), base))
                if base is None and args.errors >= 0:
                    notes.append(f"{name} {lang}, gold tokens, error account:\n\n" + error_account(
                        gold, predicted, [text for text, _, _ in docs], args.errors))
                    for variant, spans in casing_variants(docs, predicted).items():
                        notes.append(f"{name} {lang}, gold tokens, {variant} (casing convention, analysis "
                                     f"only):\n\n" + error_account(gold, spans))
                base = result["all"]["f1"] if base is None else base
                if args.diagnose and group > 1:
                    notes.append(f"{name} {lang}:\n" + diagnose(docs, lang, args.diagnose))
    print("\n".join(lines))
    print(f"\nload after {os.getloadavg()[0]:.2f}; gap: raw F1 minus gold-tokens F1 (same text, same scoring)")
    for note in notes:
        print("\n" + note)


if __name__ == "__main__":
    main()
