"""``zsner tag`` (any trained model, raw or tokenized text in, JSONL / CoNLL / HTML out), ``zsner predict`` (its
older spelling: tokenized or CoNLL input, CoNLL output) and ``zsner export`` (a transformer run as a Hugging Face
folder). Every input is read and checked before the model is loaded and before anything is written."""
from __future__ import annotations

import sys

from .inputs import FORMATS as INPUT_FORMATS
from .inputs import MAX_CHARS
from .load import DECODE_HELP, DECODINGS, QUANTIZATIONS, QUANTIZE_HELP, SELECTIONS
from .outputs import FORMATS as OUTPUT_FORMATS


def _model_arguments(parser, positional: bool = True) -> None:
    if positional:
        parser.add_argument("model_path", nargs="?", default=None, metavar="MODEL",
                            help="run folder or model file of any zsner backend (or --model)")
    parser.add_argument("--model", default=None, help="run folder or model file (same as MODEL)")
    parser.add_argument("--select", choices=SELECTIONS, default="src-dev",
                        help="which selected checkpoint of a run (default src-dev: no target labels used)")


def add_parser(sub):
    tag = sub.add_parser("tag", help="tag raw text, lines, tokens, CoNLL or JSONL with any trained model")
    _model_arguments(tag)
    tag.add_argument("--input", default="-", help="input file, or - for standard input (default)")
    tag.add_argument("--input-format", choices=INPUT_FORMATS, default="text",
                     help="text: one document; lines: one per line; tokens: pre-tokenized lines; conll; "
                          'jsonl: {"id", "text"} per line')
    tag.add_argument("--output", default="-", help="output file, or - for standard output (default)")
    tag.add_argument("--output-format", choices=OUTPUT_FORMATS, default="jsonl")
    tag.add_argument("--with-tokens", action="store_true", help="JSONL: add each document's tokens and tags")
    _common(tag)
    tag.set_defaults(func=run_tag)

    predict = sub.add_parser("predict", help="tag tokenized text (one sentence per line) or a CoNLL file "
                                             "(CoNLL output; `zsner tag` does more)")
    _model_arguments(predict, positional=False)
    predict.add_argument("--input", required=True, help="text file, or CoNLL file with --conll")
    predict.add_argument("--conll", action="store_true", help="input is CoNLL (word first, tag last)")
    predict.add_argument("--output", default="-", help="CoNLL output (word [gold] predicted); - for stdout")
    _common(predict)
    predict.set_defaults(func=run_predict)

    export = sub.add_parser("export", help="a transformer run (softmax head) as a Hugging Face folder")
    _model_arguments(export)
    export.add_argument("--format", choices=["hf"], default="hf")
    export.add_argument("--out", required=True, help="folder to write (must not exist, or be an earlier export)")
    export.add_argument("--model-folder", default="", help="the run's base Hugging Face folder, if it moved")
    export.set_defaults(func=run_export)


def _common(parser) -> None:
    parser.add_argument("--lang", default=None, help="language of the text (a transfer model: its target by default)")
    parser.add_argument("--embeddings", default="", help="classic models: vectors of that language in the model's "
                                                         "word space, for words its vocabulary lacks")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="refuse a longer document")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sentences (classic, default 256) or windows (transformer, default 64) per batch")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none", help=QUANTIZE_HELP)
    parser.add_argument("--decode", choices=DECODINGS, default="argmax", help=DECODE_HELP)
    parser.add_argument("--model-folder", default="", help="transformer: the base Hugging Face folder, if it moved")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _model_path(args) -> str:
    from ..errors import ZsnerError

    path = getattr(args, "model_path", None) or args.model
    if not path:
        raise ZsnerError("no model given: name a run folder or model file (zsner tag MODEL or --model MODEL)")
    return path


def tag_file(args, input_format: str, output_format: str, with_tokens: bool) -> None:
    """Model path and input checked, the model loaded, every document prepared, then tagged and written."""
    from tqdm import tqdm

    from ..errors import ZsnerError
    from .inputs import documents, read_input
    from .load import find_model, load
    from .outputs import write

    from ..device import resolve_device

    resolve_device(args.device)  # flags first, then the model, then the input
    for flag in ("threads", "batch_size", "max_chars"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ZsnerError(f"--{flag.replace('_', '-')} must be at least 1")
    model_path = _model_path(args)
    found = find_model(model_path, args.select)  # a wrong model stops before the input is read
    if args.output != "-" and args.output == args.input:
        raise ZsnerError("--output would overwrite --input", args.output)
    text, name = read_input(args.input, args.encoding)
    tagger = load(model_path, lang=args.lang, select=args.select, device=args.device, embeddings=args.embeddings,
                  batch_size=args.batch_size, quantize=args.quantize, model_folder=args.model_folder,
                  threads=args.threads, found=found, decode=args.decode)
    prepared = documents(text, name, input_format, tagger.make_document, args.max_chars, args.encoding)
    stream = tqdm(tagger.tag_documents(prepared), total=len(prepared), desc="tag", unit="doc",
                  disable=args.no_progress, file=sys.stderr, leave=False)
    tagged = list(write(stream, args.output, output_format, with_tokens, title=f"zsner: {model_path}"))
    _report_gold(tagged)


def _report_gold(tagged) -> None:
    """A CoNLL input's gold column, scored (span F1, conlleval's definition) on standard error."""
    if not tagged or tagged[0].gold is None:
        return
    from ..evaluation import span_metrics

    micro = span_metrics([doc.gold for doc in tagged], [doc.tags for doc in tagged])["micro"]
    print(f"scored against the gold column: precision {micro['precision']:.2f} recall {micro['recall']:.2f} "
          f"F1 {micro['f1']:.2f} ({len(tagged)} sentences, {micro['support']} gold entities)", file=sys.stderr)


def run_tag(args):
    tag_file(args, args.input_format, args.output_format, args.with_tokens)


def run_predict(args):
    tag_file(args, "conll" if args.conll else "tokens", "conll", False)


def run_export(args):
    from .export import export_hf
    from .load import find_model
    from ..errors import ZsnerError

    found = find_model(_model_path(args), args.select)
    if found.kind != "transformer":
        raise ZsnerError("only transformer runs export to Hugging Face; a classic model is its own self-contained "
                         ".pt file: load it with zsner.load(PATH)", found.file)
    out = export_hf(found.file, args.out, args.model_folder)
    print(out)
