"""Line-aligned parallel text: reading with validation, tokenisation into CoNLL-style words, and the pairs used.

``<dir>/<src>.txt`` and ``<dir>/<tgt>.txt`` pair line i with line i (UTF-8, one sentence a line, not tokenised);
an optional ``meta.tsv`` gives each line's ``subset<TAB>origin``. Both files must have the same number of lines,
no empty line and only valid UTF-8: anything else stops with one line naming the file and the line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ZsnerError
from ..resources import find_resource
from ..tagging.segment import tokenize as split_words

def tokenize(text: str, lang: str = "") -> list[str]:
    """CoNLL-style words of a raw sentence (zsner.tagging.segment's tokenizer, with ``lang``'s conventions)."""
    return [text[start:end] for start, end in split_words(text, lang)]


@dataclass
class Pair:
    """One translation pair: its 0-based line in the files and the words of each side."""

    line: int
    src: list[str]
    tgt: list[str]


def parallel_folder(path: str, src: str, tgt: str, data_dir=None) -> Path:
    folder = Path(path) if path else find_resource(f"parallel/{src}-{tgt}", data_dir, what="parallel corpus folder")
    if not folder.is_dir():
        raise ZsnerError("no such parallel corpus folder", folder)
    return folder


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file (a BOM and CR line ends tolerated); undecodable bytes name their line."""
    if not path.is_file():
        raise ZsnerError("no such file", path)
    raw = path.read_bytes()
    raw = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ZsnerError(f"bytes that are not valid utf-8 (byte 0x{raw[err.start]:02x})", path, line) from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_parallel(folder: Path, src: str, tgt: str) -> tuple[list[str], list[str]]:
    """Both sides, checked: equal line counts, no empty sentence on either side."""
    paths = (folder / f"{src}.txt", folder / f"{tgt}.txt")
    sides = [read_lines(path) for path in paths]
    if len(sides[0]) != len(sides[1]):
        longer = 0 if len(sides[0]) > len(sides[1]) else 1
        shorter = len(sides[1 - longer])
        raise ZsnerError(f"{len(sides[longer])} lines, but {paths[1 - longer].name} has {shorter}: line "
                         f"{shorter + 1} has no translation", paths[longer], shorter + 1)
    if not sides[0]:
        raise ZsnerError("no sentences (empty file)", paths[0])
    for number, pair in enumerate(zip(*sides), start=1):
        for side, text in enumerate(pair):
            if not text.strip():
                raise ZsnerError(f"empty sentence (its translation in {paths[1 - side].name} is not empty)"
                                 if pair[1 - side].strip() else "empty sentence on both sides", paths[side], number)
    return sides[0], sides[1]


def allowed_lines(folder: Path, count: int, exclude: str) -> list[bool] | None:
    """Lines whose ``meta.tsv`` subset starts with none of the ``exclude`` prefixes (None: no filter)."""
    prefixes = tuple(item.strip() for item in exclude.split(",") if item.strip())
    if not prefixes:
        return None
    path = folder / "meta.tsv"
    rows = read_lines(path)
    if len(rows) != count:
        raise ZsnerError(f"{len(rows)} rows, but the parallel files have {count} lines", path)
    return [not row.split("\t", 1)[0].startswith(prefixes) for row in rows]


def choose_lines(count: int, fraction: float, max_pairs: int, seed: int,
                 allowed: list[bool] | None = None) -> list[int]:
    """A seeded random share of the lines, in file order; with the same seed a smaller share is a subset of a
    larger one (so corpus-size curves compare nested corpora)."""
    order = [int(i) for i in np.random.default_rng(seed).permutation(count) if allowed is None or allowed[i]]
    chosen = order[: math.ceil(fraction * len(order))]
    return sorted(chosen[:max_pairs] if max_pairs else chosen)


def load_pairs(folder: Path, src: str, tgt: str, fraction: float = 1.0, max_pairs: int = 0, seed: int = 1,
               exclude: str = "") -> tuple[list[Pair], int]:
    """``(pairs used, lines in the files)``; every line of both files is validated, whatever share is used."""
    source, target = read_parallel(folder, src, tgt)
    lines = choose_lines(len(source), fraction, max_pairs, seed, allowed_lines(folder, len(source), exclude))
    return [Pair(i, tokenize(source[i], src), tokenize(target[i], tgt)) for i in lines], len(source)
