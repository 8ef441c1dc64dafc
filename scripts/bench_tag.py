"""Benchmark: raw text to entities with ``zsner.load(...).pipe``, against the Hugging Face pipeline on the same
exported model, the classic backend end to end with a time breakdown, and the start-up of ``zsner tag``.

    python scripts/bench_tag.py transformer --run runs/en-es-e5-softmax-1epoch --threads 1 2
    python scripts/bench_tag.py classic --model runs/train-en-1epoch --lang en --split dev \\
        --model runs/en-es-augmented/seed1/augmented --lang es --split test
    python scripts/bench_tag.py startup --model runs/en-es-augmented/seed1/augmented --model runs/en-es-e5-softmax-1epoch
    python scripts/bench_tag.py student --run runs/en-es-e5-frz3-fp32 --model runs/en-nl-student-ctx --lang nl \
        --clock cpu

Texts: the CoNLL sentences detokenized (zsner.tagging.detokenize), one text each. F1: predicted entities against the
gold spans by character offsets, exact (start, end, label) (scripts/raw_text_f1.py). Speed: sentences per second,
model loading excluded, best of ``--repeats``. Each part prints a Markdown table with its command, date and load.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import zsner
from raw_text_f1 import gold_documents, predicted_spans, score
from zsner.data.conll import read_dataset
from zsner.transformer import bf16


def header(name: str) -> str:
    return (f"### {name}\n\n`python scripts/bench_tag.py {' '.join(sys.argv[1:])}`  \n"
            f"{datetime.datetime.now():%Y-%m-%d %H:%M}, load before {os.getloadavg()[0]:.2f}, "
            f"torch {torch.__version__}, CPU\n")


# zsner's CPU precisions, and the pipeline's dtypes, measured side by side: bfloat16 only on a CPU that has it
QUANTIZE = ("none", "int8", "bf16") if bf16.supported() else ("none", "int8")
HF_DTYPES = (torch.float32, torch.bfloat16) if bf16.supported() else (torch.float32,)
CLOCK = time.perf_counter  # --clock cpu: time.process_time, the CPU seconds of this process (stable under load)


def best_time(function, repeats: int):
    """``(best seconds, last result)`` of ``repeats`` calls, on ``CLOCK``."""
    times, result = [], None
    for _ in range(repeats):
        started = CLOCK()
        result = function()
        times.append(CLOCK() - started)
    return min(times), result


def texts_and_gold(lang: str, split: str, limit: int = 0):
    sentences = read_dataset(lang, split)
    sentences = sentences[:limit] if limit else sentences
    docs = gold_documents(sentences, lang, 1)
    return [text for text, _, _ in docs], [spans for _, _, spans in docs]


def hf_spans(outputs) -> list[set]:
    return [{(e["start"], e["end"], e["entity_group"]) for e in entities} for entities in outputs]


# --- transformer: zsner vs the Hugging Face pipeline ------------------------------------------------------------

def transformer(args) -> None:
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from zsner.tagging.export import export_hf
    from zsner.tagging.load import find_model

    hf_logging.set_verbosity_error()
    print(header(f"Transformer on the CPU: zsner vs transformers.pipeline ({args.run})"))
    sentences = read_dataset(args.lang, "test")[: args.limit or None]
    docs = gold_documents(sentences, args.lang, 1)
    texts, gold = [text for text, _, _ in docs], [spans for _, _, spans in docs]
    spaced = [" ".join(sentence.words) for sentence in sentences]  # the text the export agrees with zsner on
    spaced_gold = [set(_respaced(words[0], spans)) for _, words, spans in docs]
    checkpoint = find_model(args.run).file
    export = Path(args.export or f"/tmp/bench-export-{Path(args.run).name}")
    export_hf(checkpoint, export)
    rows, seen = [], {}

    def record(system, threads, setting, seconds, spans, golden=gold, count=len(texts)):
        f1 = score(golden, spans)["all"]["f1"]
        rows.append((system, threads, setting, count / seconds, f1))
        print(f"  {system} {threads}t {setting}: {count / seconds:.1f} sent/s F1 {f1:.2f}", file=sys.stderr)
        return count / seconds

    for threads in args.threads:
        torch.set_num_threads(threads)
        for quantize in QUANTIZE:
            tagger = zsner.load(args.run, lang=args.lang, device="cpu", quantize=quantize)
            attention = tagger.backend.model.encoder.config._attn_implementation
            seen["attention"] = attention
            for windows in (args.zsner_batches if quantize == "none" else [64]):
                tagger.backend.batch_size = windows
                seconds, docs = best_time(lambda: list(tagger.pipe(texts)), args.repeats)
                name = "zsner" if quantize == "none" else f"zsner {quantize}"
                seen[(name, threads, windows)] = record(name, threads, f"{windows} windows/batch, {attention}",
                                                        seconds, predicted_spans(docs))
            if quantize == "none" and threads == args.threads[0]:
                tagger.backend.batch_size = 64
                for pieces in args.tagger_batches:  # sentences gathered per backend call: the sorting scope
                    seconds, docs = best_time(lambda: list(tagger.pipe(texts, batch_size=pieces)), args.repeats)
                    record("zsner", threads, f"64 windows, {pieces} sentences per call", seconds,
                           predicted_spans(docs))
                seconds, docs = best_time(lambda: list(_unsorted(tagger, texts)), args.repeats)
                record("zsner", threads, "64 windows, unsorted (input order)", seconds, predicted_spans(docs))
        for dtype in HF_DTYPES:
            hf = pipeline("token-classification", model=str(export), aggregation_strategy="first", device=-1,
                          torch_dtype=dtype)
            seen["hf attention"] = hf.model.config._attn_implementation
            name = "HF pipeline" if dtype == torch.float32 else "HF pipeline, torch_dtype=bfloat16"
            for batch in args.hf_batches:
                seconds, outputs = best_time(lambda: hf(texts, batch_size=batch), args.repeats)
                record(name, threads, f"batch_size={batch}", seconds, hf_spans(outputs))
            batch = args.hf_batches[-1]
            seconds, outputs = best_time(lambda: hf(spaced, batch_size=batch), args.repeats)
            record(name, threads, f"batch_size={batch}, gold words joined by spaces", seconds,
                   hf_spans(outputs), spaced_gold)
    print(f"attention: zsner encoder {seen['attention']}, HF model {seen['hf attention']}; {len(texts)} "
          f"{args.lang} test sentences; export {export}\n")
    print("| system | threads | setting | sent/s | F1 (char offsets) |\n|---|---:|---|---:|---:|")
    for system, threads, setting, rate, f1 in rows:
        print(f"| {system} | {threads} | {setting} | {rate:,.1f} | {f1:.2f} |")
    print(f"\nload after {os.getloadavg()[0]:.2f}\n")


def _unsorted(tagger, texts):
    """``tagger.pipe`` with the backend's window batches in input order instead of sorted by length."""
    from zsner.transformer import inference

    original = inference.batches_in_order
    inference.batches_in_order = lambda windows, pieces, size: [list(range(len(windows)))[i:i + size]
                                                                for i in range(0, len(windows), size)]
    try:
        yield from tagger.pipe(texts)
    finally:
        inference.batches_in_order = original


def _respaced(words, spans):
    """Gold spans moved into the text whose words are joined by single spaces."""
    start_at, end_at, position = {}, {}, 0
    for start, end in words:
        start_at[start], end_at[end] = position, position + end - start
        position += end - start + 1
    return [(start_at[start], end_at[end], label) for start, end, label in spans]


# --- classic: raw text end to end, and where the time goes -----------------------------------------------------

def classic(args) -> None:
    torch.set_num_threads(1)
    print(header(f"Classic BiLSTM-CRF, raw text to spans, 1 thread ({args.clock} seconds)"))
    rows, profiles = [], []
    for model, lang, split in zip(args.model, args.lang, args.split):
        tagger = zsner.load(model, lang=lang, device="cpu")
        texts, gold = texts_and_gold(lang, split, args.limit)
        list(tagger.pipe(texts[:256]))  # warm-up
        seconds, docs = best_time(lambda: list(tagger.pipe(texts)), args.repeats)
        f1 = score(gold, predicted_spans(docs))["all"]["f1"]
        parts = breakdown(tagger, texts, args.repeats)
        rows.append((model, f"{lang} {split} ({len(texts)})", len(texts) / seconds, f1, parts, seconds))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            list(tagger.pipe(texts))
            profiler.disable()
            stats = pstats.Stats(profiler)
            profiles.append((model, stats))
    print("| model | text | sent/s end to end | F1 (char offsets) | segment | Documents | encode | network | "
          "Viterbi | span posteriors | rest (tags, chunks, Spans) |\n|---|---|---:|---:|" + "---:|" * 7)
    for model, text, rate, f1, parts, seconds in rows:
        cells = " | ".join(f"{1000 * parts[key]:.0f} ms ({100 * parts[key] / seconds:.0f}%)" for key in
                           ("segment", "documents", "encode", "network", "viterbi", "posteriors"))
        rest = seconds - sum(parts[key] for key in ("segment", "documents", "encode", "network", "viterbi",
                                                    "posteriors"))
        print(f"| {model} | {text} | **{rate:,.0f}** | {f1:.2f} | {cells} | {1000 * rest:.0f} ms |")
    print(f"\nParts: best of {args.repeats} each, measured apart from the end-to-end run (rest = end to end minus "
          f"the parts). load after {os.getloadavg()[0]:.2f}\n")
    for model, stats in profiles:
        print(f"cProfile of one pipe over {model} (top 15 by internal time):\n```")
        stats.sort_stats("tottime").print_stats(15)
        print("```")


def breakdown(tagger, texts, repeats: int) -> dict:
    """Seconds of each stage of ``tagger.pipe(texts)``, stage by stage on the same batches."""
    from zsner.data.batches import EncodedCorpus, sequential_order
    from zsner.data.conll import Sentence
    from zsner.tagging.document import Document
    from zsner.tagging.segment import segment

    backend, lang = tagger.backend, tagger.lang
    parts = {}
    parts["segment"], offsets = best_time(lambda: [segment(text, lang) for text in texts], repeats)
    parts["documents"], docs = best_time(lambda: [Document.from_offsets(t, o) for t, o in zip(texts, offsets)],
                                         repeats)
    words = [words for doc in docs for words in doc.sentence_words()]
    calls = [words[i:i + tagger.batch_size] for i in range(0, len(words), tagger.batch_size)]
    corpora = [EncodedCorpus([Sentence(w, []) for w in call], backend.vocabs.words, backend.vocabs.chars, None,
                             backend.config.max_word_length, prefix=backend.prefix) for call in calls]
    parts["encode"] = best_time(lambda: [EncodedCorpus([Sentence(w, []) for w in call], backend.vocabs.words,
                                                       backend.vocabs.chars, None, backend.config.max_word_length,
                                                       prefix=backend.prefix) for call in calls], repeats)[0]
    batches = [corpus.batch(indices) for corpus in corpora for indices in sequential_order(corpus.lengths,
                                                                                        backend.batch_size)]
    parts["encode"] += best_time(lambda: [corpus.batch(indices) for corpus in corpora
                                          for indices in sequential_order(corpus.lengths, backend.batch_size)],
                                 repeats)[0]
    with torch.no_grad():
        parts["network"], heads = best_time(lambda: [backend.model.tagging_head(b) for b in batches], repeats)
        parts["viterbi"], paths = best_time(lambda: [crf.decode(e, b.mask) for (e, crf), b in zip(heads, batches)],
                                            repeats)
        segments = []
        for path, batch in zip(paths, batches):
            _, spans = backend.chunker(path.numpy(), batch.mask.sum(1).numpy())
            segments.append(torch.tensor([(row, start, end - 1) for row, start, end, _ in spans],
                                         dtype=torch.long).view(-1, 3))
        parts["posteriors"] = best_time(lambda: [crf.segment_probabilities(e, b.mask, p, s) for (e, crf), b, p, s
                                                 in zip(heads, batches, paths, segments)], repeats)[0]
    return parts


# --- student against teacher: the same raw test text, one thread ---------------------------------------------

def student(args) -> None:
    """Each ``--model`` (a classic student, with its ``--lang``) against the ``--run`` teacher in every CPU
    precision this machine has, both decoding as their labels were made (the teacher by constrained Viterbi)."""
    torch.set_num_threads(1)
    print(header(f"Student against teacher, raw test lines, 1 thread ({args.clock} seconds)"))
    print("| lang | system | setting | sent/s | F1 (char offsets) | student speed-up |\n|---|---|---|---:|---:|---:|")
    for model, lang in zip(args.model, args.lang):
        texts, gold = texts_and_gold(lang, "test", args.limit)
        rates = {}
        teachers = [(f"teacher {q}", args.run, {"quantize": q, "decode": "viterbi"}) for q in QUANTIZE]
        for name, path, options in [("student", model, {})] + teachers:
            tagger = zsner.load(path, lang=lang, device="cpu", **options)
            list(tagger.pipe(texts[:64]))  # warm-up
            seconds, docs = best_time(lambda: list(tagger.pipe(texts)), args.repeats)
            rates[name] = len(texts) / seconds
            f1 = score(gold, predicted_spans(docs))["all"]["f1"]
            ratio = "" if name == "student" else f"{rates['student'] / rates[name]:.1f}×"
            print(f"| {lang} ({len(texts)}) | {name} | {path} | {rates[name]:,.1f} | {f1:.2f} | {ratio} |", flush=True)
    print(f"\nbest of {args.repeats}; load after {os.getloadavg()[0]:.2f}\n")


# --- start-up of `zsner tag` ----------------------------------------------------------------------------------

SENTENCE = {"es": "El Gobierno de España aprobó ayer en Madrid el plan de la Unión Europea.",
            "en": "John Smith of the United Nations visited Paris on Monday."}


def startup(args) -> None:
    print(header("Start-up: `zsner tag MODEL` on one sentence, whole process"))
    python = sys.executable
    environment = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    print("| model | median wall s | runs (s) | heaviest imports (cumulative, ms) |\n|---|---:|---|---|")
    for model in args.model:
        sentence = SENTENCE.get(args.lang[0] if args.lang else "es", SENTENCE["es"])
        command = [python, "-m", "zsner.cli", "tag", model, "--no-progress", "--device", "cpu"]
        walls = []
        for _ in range(args.runs):
            started = time.perf_counter()
            done = subprocess.run(command, input=sentence, capture_output=True, text=True, env=environment)
            walls.append(time.perf_counter() - started)
            if done.returncode:
                raise SystemExit(done.stderr)
        trace = subprocess.run([python, "-X", "importtime", *command[1:]], input=sentence, capture_output=True,
                               text=True, env=environment).stderr
        heavy = heaviest_imports(trace, args.top)
        print(f"| {model} | **{statistics.median(walls):.2f}** | {', '.join(f'{w:.2f}' for w in walls)} | "
              f"{heavy} |")
    print(f"\nload after {os.getloadavg()[0]:.2f}\n")


def heaviest_imports(trace: str, top: int) -> str:
    """Top-level packages by cumulative import time (``-X importtime``), with the zsner modules that pulled them."""
    packages = {}
    for line in trace.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if not cumulative.isdigit():
            continue
        indent = len(name) - len(name.lstrip())
        name = name.strip()
        if indent <= 2 or name.split(".")[0] != "zsner":
            root = name.split(".")[0]
            if indent <= 2 or root not in packages:
                packages[root] = max(packages.get(root, 0), int(cumulative))
    ranked = sorted(packages.items(), key=lambda item: -item[1])[:top]
    return ", ".join(f"{name} {micro / 1000:.0f}" for name, micro in ranked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["transformer", "classic", "startup", "student"])
    parser.add_argument("--run", help="transformer run folder (student: the teacher)")
    parser.add_argument("--model", action="append", default=[], help="classic / startup: model (repeatable)")
    parser.add_argument("--lang", action="append", default=[], help="classic: language per --model")
    parser.add_argument("--split", action="append", default=[], help="classic: split per --model (dev = testa)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--zsner-batches", type=int, nargs="+", default=[64])
    parser.add_argument("--tagger-batches", type=int, nargs="+", default=[])
    parser.add_argument("--hf-batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--export", default="")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences (0: all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5, help="startup: processes per model")
    parser.add_argument("--top", type=int, default=8, help="startup: imports listed")
    parser.add_argument("--profile", action="store_true", help="classic: print a cProfile of one pipe")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall seconds, or this process's CPU seconds (1 thread; stable when the machine is busy)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.part == "transformer":
        args.lang = args.lang[0] if args.lang else "es"
        transformer(args)
    elif args.part == "classic":
        classic(args)
    elif args.part == "student":
        student(args)
    else:
        startup(args)


if __name__ == "__main__":
    main()
