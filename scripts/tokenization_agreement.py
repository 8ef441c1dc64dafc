"""How well tokenizers and sentence splitters rebuild the CoNLL test sets from raw text, and how fast they are.

Each language's test sentences are detokenized (zsner.tagging.detokenize) into raw text with the gold words'
offsets; every candidate then tokenizes each sentence alone (token agreement: gold spans produced exactly; exact
sentences), and splits documents of ``--group`` consecutive sentences joined by one space (boundary precision /
recall: a predicted sentence start at a gold sentence start). Speed: sentences per second on one thread.

Candidates: zsner's regex (``zsner``), the projection regex before zsner.tagging (``old-regex``), and where they
import: spaCy's blank tokenizer + sentencizer, syntok, segtok, pysbd (sentences only). Run the library ones from
a scratch venv with the repository on PYTHONPATH:

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install spacy syntok segtok pysbd
    PYTHONPATH=. /tmp/tokvenv/bin/python scripts/tokenization_agreement.py
"""
from __future__ import annotations

import argparse
import re
import time
import unicodedata

from zsner.data.conll import read_dataset
from zsner.tagging.detokenize import detokenize, detokenize_document
from zsner.tagging.segment import segment, tokenize

LANGUAGES = ("en", "es", "nl", "de", "fi", "ar")

# zsner/projection/parallel.py's TOKEN before zsner.tagging.segment (BMP punctuation only), verbatim
_PUNCT = "".join(chr(c) for c in range(0x10000) if unicodedata.category(chr(c))[0] in "PS")
_WORD = rf"[^\s{re.escape(_PUNCT)}]"
_ABBREVIATIONS = ("Mr|Mrs|Ms|Dr|Prof|St|Mt|Jr|Sr|Sra|Srta|Inc|Corp|Ltd|Co|Bros|Gen|Gov|Sen|Rep|Lt|Col|Sgt|Capt|Rev|"
                  "Jan|Feb|Aug|Sept|Sep|Oct|Nov|Dec|vs|etc|No|Nr|dhr|mevr|Hr|Fr")
OLD_TOKEN = re.compile(rf"(?:{_ABBREVIATIONS}|[A-ZÀ-Þ])\.(?!{_WORD})|(?:[^\W\d_]\.){{2,}}|\d+(?:[.,:]\d+)+|"
                       rf"{_WORD}+(?:[-‐]{_WORD}+)*|['’]{_WORD}+|\S")


def aligned(text: str, pieces) -> list[tuple[int, int]]:
    """Offsets of ``pieces`` found in order in ``text`` (for libraries that return strings only)."""
    spans, cursor = [], 0
    for piece in pieces:
        piece = piece.strip()
        at = text.find(piece, cursor) if piece else -1
        if at >= 0:
            spans.append((at, at + len(piece)))
            cursor = at + len(piece)
    return spans


def candidates() -> dict:
    """name -> (tokenize(text, lang) -> spans or None, sentence_starts(text, lang) -> offsets or None)."""
    found = {
        "zsner": (tokenize, lambda text, lang: [sentence[0][0] for sentence in segment(text, lang)]),
        "old-regex": (lambda text, lang: [m.span() for m in OLD_TOKEN.finditer(text)], None),
    }
    try:
        import spacy
        pipelines = {}

        def nlp(lang):
            if lang not in pipelines:
                pipelines[lang] = spacy.blank(lang)
                pipelines[lang].add_pipe("sentencizer")
            return pipelines[lang]

        found["spacy-blank"] = (
            lambda text, lang: [(t.idx, t.idx + len(t)) for t in nlp(lang).make_doc(text) if not t.is_space],
            lambda text, lang: [s[0].idx for s in nlp(lang)(text).sents if not s[0].is_space])
    except ImportError:
        pass
    try:
        from syntok import segmenter as syntok_segmenter
        from syntok.tokenizer import Tokenizer
        syntok_tokenizer = Tokenizer()
        found["syntok"] = (
            lambda text, lang: [(t.offset, t.offset + len(t.value)) for t in syntok_tokenizer.tokenize(text)],
            lambda text, lang: [s[0].offset for p in syntok_segmenter.analyze(text) for s in p])
    except ImportError:
        pass
    try:
        from segtok.segmenter import split_multi
        from segtok.tokenizer import web_tokenizer
        found["segtok"] = (lambda text, lang: aligned(text, web_tokenizer(text)),
                           lambda text, lang: [start for start, _ in aligned(text, split_multi(text))])
    except ImportError:
        pass
    try:
        import pysbd
        segmenters = {}

        def sbd(lang):
            if lang not in segmenters:
                known = lang in pysbd.languages.LANGUAGE_CODES
                segmenters[lang] = pysbd.Segmenter(language=lang if known else "en", clean=False, char_span=True)
            return segmenters[lang]

        found["pysbd"] = (None, lambda text, lang: [span.start for span in sbd(lang).segment(text)])
    except ImportError:
        pass
    return found


def measure(lang: str, sentences: list[list[str]], group: int, name: str, tokenizer, splitter) -> dict:
    row = {"lang": lang, "candidate": name}
    if tokenizer:
        rebuilt = [detokenize(words, lang) for words in sentences]
        tokenizer(rebuilt[0][0], lang)  # compile / load outside the timing
        started = time.perf_counter()
        predicted = [tokenizer(text, lang) for text, _ in rebuilt]
        row["tok/s"] = len(rebuilt) / (time.perf_counter() - started)
        hits = [len(set(gold) & set(spans)) for (_, gold), spans in zip(rebuilt, predicted)]
        row["token agreement"] = sum(hits) / sum(len(gold) for _, gold in rebuilt)
        row["exact sentences"] = sum(hit == len(gold) == len(spans) for hit, (_, gold), spans
                                     in zip(hits, rebuilt, predicted)) / len(rebuilt)
    if splitter:
        documents = [detokenize_document(sentences[i:i + group], lang) for i in range(0, len(sentences), group)]
        splitter(documents[0][0], lang)
        started = time.perf_counter()
        predicted = [splitter(text, lang) for text, _ in documents]
        row["seg/s"] = len(sentences) / (time.perf_counter() - started)
        gold = [{offsets[0][0] for offsets in spans[1:] if offsets} for _, spans in documents]
        found = [set(starts) - {min(starts, default=0)} for starts in predicted]
        right = sum(len(g & f) for g, f in zip(gold, found))
        row["boundary P"] = right / max(1, sum(map(len, found)))
        row["boundary R"] = right / max(1, sum(map(len, gold)))
    return row


def segment_microseconds(sentences: list[list[str]], lang: str) -> float:
    """zsner segment() time per sentence on sentences of 15-30 words, detokenized."""
    texts = [detokenize(words, lang)[0] for words in sentences if 15 <= len(words) <= 30]
    segment(texts[0], lang)
    started = time.perf_counter()
    for text in texts:
        segment(text, lang)
    return (time.perf_counter() - started) / max(1, len(texts)) * 1e6


def table(rows: list[dict]) -> str:
    columns = ["lang", "candidate", "token agreement", "exact sentences", "boundary P", "boundary R", "tok/s",
               "seg/s"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(columns) - 2)) + "|"]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            cells.append("–" if value is None else value if isinstance(value, str)
                         else f"{value:,.0f}" if column.endswith("/s") else f"{100 * value:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--langs", default=",".join(LANGUAGES))
    parser.add_argument("--group", type=int, default=10, help="sentences per document for boundary scores")
    parser.add_argument("--limit", type=int, default=0, help="first N test sentences per language (0: all)")
    parser.add_argument("--only", default="", help="comma-separated candidate names (default: all that import)")
    args = parser.parse_args()
    found = candidates()
    chosen = [name for name in found if not args.only or name in args.only.split(",")]
    rows, timings = [], []
    for lang in args.langs.split(","):
        sentences = [sentence.words for sentence in read_dataset(lang, "test")]
        sentences = sentences[: args.limit] if args.limit else sentences
        for name in chosen:
            rows.append(measure(lang, sentences, args.group, name, *found[name]))
        timings.append(f"{lang} {segment_microseconds(sentences, lang):.1f} µs")
    print(table(rows))
    print("\nzsner segment() per 15-30-word sentence: " + ", ".join(timings))


if __name__ == "__main__":
    main()
