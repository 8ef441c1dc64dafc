"""`zsner vectors`: static cross-lingual word vectors read out of a local multilingual encoder.

    zsner vectors --model PATH --lang es --layer 6 --out runs/vectors/es.e5-l6.vec
    zsner vectors --model PATH --lang es --layer auto --reference en --out runs/vectors/es.e5.vec
    zsner vectors --model PATH --lang es --contexts es:train sentences.es.txt --out es.ctx.vec

Every input (model, words, context text) is read before anything is computed or written; finished chunks of words
go to a resumable cache (``--cache-dir``), and the vectors file is written atomically at the end, with a
``.json`` beside it that records how it was made.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ZsnerError


def add_parser(sub):
    parser = sub.add_parser("vectors", help="static word vectors read out of a multilingual encoder",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="local Hugging Face encoder folder")
    parser.add_argument("--lang", required=True, help="language of the words (registered NER language)")
    parser.add_argument("--out", required=True, help="vectors file to write: .vec, .vec.gz or .kv")
    parser.add_argument("--words", default=None, help="word list, one per line (default: the language's vectors "
                                                      "vocabulary + every word type of its NER files, lowercased)")
    parser.add_argument("--layer", default="6", help="encoder layer (0 = embedding output) or 'auto' (default 6)")
    parser.add_argument("--reference", default="en", help="with --layer auto: the other language (default en)")
    parser.add_argument("--auto-words", type=int, default=5000,
                        help="with --layer auto: most frequent words per language compared (default 5000)")
    parser.add_argument("--contexts", nargs="+", default=[], metavar="SOURCE",
                        help="unlabelled text to average contextual states over: LANG:SPLIT (an NER split, "
                             "words only) or a UTF-8 file with one sentence per line")
    parser.add_argument("--max-contexts", type=int, default=10, help="occurrences averaged per word (default 10)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    parser.add_argument("--cache-dir", default="runs/cache/vectors")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from ..runs import writing

    with writing(args.out):  # one writer per output file (a lock beside it, as for run folders)
        summary = make_vectors(args)
    print(f"{summary['out']}: {summary['words']} words, layer {summary['layer']}, dim {summary['dim']} "
          f"({summary['seconds']} s)")


def make_vectors(args) -> dict:
    """The whole command: read every input, choose the layer, extract, write. Returns the record it writes."""
    import torch

    from ..device import resolve_device
    from ..extras import require
    from ..resources import dataset
    from .build import OUTPUT_SUFFIXES, build_vectors, choose_layer, language_words, load_encoder, write_vectors
    from .words import read_contexts, read_word_list

    out = Path(args.out)
    if not out.name.endswith(OUTPUT_SUFFIXES):
        raise ZsnerError(f"--out must end with one of {', '.join(OUTPUT_SUFFIXES)}", out)
    if args.max_contexts < 1 or args.auto_words < 10 or args.batch_size < 1:
        raise ZsnerError("--max-contexts and --batch-size must be >= 1, --auto-words >= 10")
    require("transformer", "zsner vectors")
    torch.set_num_threads(max(1, args.threads))
    dataset(args.lang)
    if args.layer == "auto":  # the reference language too, before the encoder is loaded
        if args.reference == args.lang:
            raise ZsnerError(f"--layer auto compares two languages: --reference must differ from --lang {args.lang}")
        dataset(args.reference)
    encoder = load_encoder(args.model, resolve_device(args.device))
    layer = _parse_layer(args.layer, encoder.layers)
    words = read_word_list(args.words) if args.words else language_words(args.lang, args.data_dir)
    contexts = [sentence for source in args.contexts for sentence in read_contexts(source, args.data_dir)]
    reference = None
    if layer is None:
        reference = language_words(args.reference, args.data_dir)[:args.auto_words]
    bars = not args.no_progress
    auto = None
    if layer is None:
        layer, rows = choose_layer(encoder, words[:args.auto_words], reference, args.batch_size, bars)
        auto = {"reference": args.reference, "words": args.auto_words, "scores": rows}
    matrix, record = build_vectors(encoder, args.model, words, layer, contexts, args.cache_dir, args.max_contexts,
                                   args.batch_size, bars)
    record.update(lang=args.lang, context_sources=args.contexts, **({"auto": auto} if auto else {}))
    write_vectors(out, words, matrix, record)
    return {**record, "out": str(out)}


def _parse_layer(value: str, layers: int) -> int | None:
    if value == "auto":
        return None
    if not value.isdigit() or int(value) > layers:
        raise ZsnerError(f"--layer must be 'auto' or a layer number 0..{layers}, not {value!r}")
    return int(value)
