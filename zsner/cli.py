"""Command-line front: ``zsner data|train|evaluate|tag|map ...``.

Each subcommand is a small function that parses nothing itself: it turns arguments into configs and calls the
library. User errors (``ZsnerError``) become one line on stderr and exit code 2, with no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .errors import ZsnerError


def _add_data(sub):
    parser = sub.add_parser("data", help="validate a dataset (language code) or one CoNLL file and print statistics")
    parser.add_argument("target",
                        help="language code (en, es, nl, de, fi, ar, wikiann:<code>) or a path to a CoNLL file")
    parser.add_argument("--docstart", choices=["drop-line", "paper"], default=None,
                        help="DOCSTART convention (default: the dataset's, drop-line for files)")
    parser.add_argument("--encoding", default=None, help="file encoding (default: the dataset's, utf-8 for files)")
    parser.add_argument("--data-dir", default=None, help="data root searched first")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run_data)


def _run_data(args):
    from .data.stats import dataset_stats, file_stats, format_stats

    if args.target in _languages():
        stats = dataset_stats(args.target, docstart=args.docstart, data_dir=args.data_dir, encoding=args.encoding)
    else:
        stats = file_stats(args.target, encoding=args.encoding or "utf-8", docstart=args.docstart or "drop-line")
    print(json.dumps(stats, ensure_ascii=False) if args.json else format_stats(stats))


def _languages():
    from .resources import DATASETS

    return DATASETS


# Each subcommand's module, imported only when that subcommand (or the full help) is asked for: building the parser
# must not import every feature (seqeval, scikit-learn, transformers...), so that `zsner tag` starts fast.
# A test checks that this table names exactly the subcommands that the modules define.
COMMANDS = {
    "data": None,  # defined here
    "train": "zsner.train.cli", "evaluate": "zsner.train.cli",
    "transfer": "zsner.transfer.cli", "map": "zsner.mapping.cli", "transformer": "zsner.transformer.cli",
    "vectors": "zsner.encoder_vectors.cli", "compare": "zsner.compare", "curves": "zsner.curves",
    "run": "zsner.runner", "grid": "zsner.grid.cli", "project": "zsner.projection.cli",
    "cluster": "zsner.cluster.cli", "groups": "zsner.groups.cli",
    "tag": "zsner.tagging.cli", "predict": "zsner.tagging.cli", "export": "zsner.tagging.cli",
    "serve": "zsner.serve.cli",
}


def _adders(command: str | None):
    """The ``add_parser(sub)`` functions to call: the one module that defines ``command``, or all of them."""
    import importlib

    if command in COMMANDS:
        modules = [COMMANDS[command]] if COMMANDS[command] else []
    else:
        modules = list(dict.fromkeys(name for name in COMMANDS.values() if name))
    return [_add_data] + [importlib.import_module(name).add_parser for name in modules]


def _command(argv) -> str | None:
    """The subcommand named on the command line (its first word), or None (help, no command, an unknown word)."""
    words = sys.argv[1:] if argv is None else list(argv)
    return words[0] if words and words[0] in COMMANDS else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``command``, only that subcommand's module is imported and added."""
    parser = argparse.ArgumentParser(prog="zsner", description="zero-resource cross-lingual NER")
    sub = parser.add_subparsers(dest="command", required=True)
    for adder in _adders(command):
        adder(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except ZsnerError as err:
        print(f"zsner {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"zsner {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
