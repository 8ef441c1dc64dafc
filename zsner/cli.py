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


def _feature_commands():
    """Subcommands whose argument parsing lives beside their feature (each module's ``add_parser(sub)``)."""
    from . import compare, curves, runner
    from .cluster import cli as cluster_cli
    from .encoder_vectors import cli as vectors_cli
    from .grid import cli as grid_cli
    from .groups import cli as groups_cli
    from .mapping import cli as mapping_cli
    from .tagging import cli as tagging_cli
    from .projection import cli as projection_cli
    from .serve import cli as serve_cli
    from .train import cli as train_cli
    from .transfer import cli as transfer_cli
    from .transformer import cli as transformer_cli

    return [train_cli.add_parser, transfer_cli.add_parser, mapping_cli.add_parser, transformer_cli.add_parser,
            vectors_cli.add_parser, compare.add_parser, curves.add_parser, runner.add_parser, grid_cli.add_parser,
            projection_cli.add_parser, cluster_cli.add_parser, groups_cli.add_parser, tagging_cli.add_parser,
            serve_cli.add_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zsner", description="zero-resource cross-lingual NER")
    sub = parser.add_subparsers(dest="command", required=True)
    for adder in [_add_data, *_feature_commands()]:
        adder(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
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
