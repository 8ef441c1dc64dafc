"""Read and write CoNLL-style NER files (2-5 columns: word first, NER tag last).

Handles latin-1 and UTF-8, LF and CRLF, whitespace-only separator lines, and two ``-DOCSTART-`` conventions:
``drop-line`` removes the DOCSTART line only; ``paper`` drops the whole block (up to the next blank line) that
contains it, which reproduces the Dutch sentence counts of Bari et al. (15519/2821/5076).

WikiAnn files (``sw:token<TAB>TAG``) are read with ``prefix="sw:"``, stripped from every token (a token without it
is a bad line), and ``repair=True``: chunks that start with ``I-X`` (ja/zh, where ``#`` between the words of an
entity is tagged ``O``) become ``B-X``; each sentence counts its repaired tags in ``extra["repaired"]``.
``read_dataset`` reads a registered dataset's split with all of its settings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_open
from ..errors import ZsnerError
from ..resources import dataset, dataset_path
from .tags import convert

DOCSTART_CONVENTIONS = ("drop-line", "paper")
TAG_PATTERN = re.compile(r"^(O|[BIES]-\S+)$")


@dataclass
class Sentence:
    """One sentence: words and their NER tags (as written in the file, or converted by ``zsner.data.tags``)."""

    words: list[str]
    tags: list[str]
    line: int = 0  # 1-based line of the first word in its file (0 if not from a file)
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except LookupError:
        raise ZsnerError(f"unknown encoding {encoding!r}", path) from None
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ZsnerError(f"bytes that are not valid {encoding} (byte 0x{raw[err.start]:02x}); "
                         f"is the encoding right?", path, line) from None


def read_dataset(lang: str, split: str, data_dir=None, labelled: bool = True, docstart: str = "",
                 encoding: str = "") -> list[Sentence]:
    """A registered dataset's split (``en``, ``wikiann:sw``, ...) read with its encoding, DOCSTART convention,
    token prefix and repair; ``docstart`` / ``encoding`` override the registry's."""
    spec = dataset(lang)
    return read_conll(dataset_path(lang, split, data_dir), encoding or spec.encodings[split],
                      docstart or spec.docstart, labelled, spec.token_prefix, spec.repair)


def read_conll(path, encoding: str = "utf-8", docstart: str = "drop-line", labelled: bool = True, prefix: str = "",
               repair: bool = False) -> list[Sentence]:
    """Parse a CoNLL NER file into sentences; any malformed line raises ``ZsnerError`` naming file and line.

    ``labelled=False`` reads words only: the tag column is never looked at (every tag is ``O``), so unlabelled
    target text can be read from a CoNLL file without its labels reaching the program. ``prefix`` and ``repair``:
    see the module docstring.
    """
    if docstart not in DOCSTART_CONVENTIONS:
        raise ZsnerError(f"unknown DOCSTART convention '{docstart}' (use {' or '.join(DOCSTART_CONVENTIONS)})")
    path = Path(path)
    if not path.is_file():
        raise ZsnerError("no such file", path)
    text = _decode(path, path.read_bytes(), encoding)

    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    first_line = 0
    block_has_docstart = False
    n_columns = None

    def close_block():
        nonlocal words, tags, block_has_docstart
        if words and not (docstart == "paper" and block_has_docstart):
            sentences.append(_repaired(Sentence(words, tags, first_line)) if repair and labelled
                             else Sentence(words, tags, first_line))
        words, tags, block_has_docstart = [], [], False

    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            close_block()
            continue
        columns = line.split()
        if prefix:
            if not columns[0].startswith(prefix) or columns[0] == prefix:
                raise ZsnerError(f"expected a token starting with {prefix!r}: {line.strip()!r}", path, number)
            columns[0] = columns[0][len(prefix):]
        if columns[0] == "-DOCSTART-":
            if docstart == "drop-line":
                close_block()  # a document boundary is always a sentence boundary
            block_has_docstart = True
            continue
        if not labelled:
            if not words:
                first_line = number
            words.append(columns[0])
            tags.append("O")
            continue
        if len(columns) < 2 or len(columns) > 5:
            raise ZsnerError(f"expected 2 to 5 columns (word ... tag), found {len(columns)}: {line.strip()!r}",
                             path, number)
        if n_columns is None:
            n_columns = len(columns)
        elif len(columns) != n_columns:
            raise ZsnerError(f"ragged columns: {len(columns)} here, {n_columns} earlier in the file", path, number)
        tag = columns[-1]
        if not TAG_PATTERN.match(tag):
            raise ZsnerError(f"invalid NER tag {tag!r} (expected O or B-/I-/E-/S-TYPE)", path, number)
        if not words:
            first_line = number
        words.append(columns[0])
        tags.append(tag)
    close_block()
    if not sentences:
        raise ZsnerError("no sentences found (empty file?)", path)
    return sentences


def _repaired(sentence: Sentence) -> Sentence:
    """The sentence with IOB2 violations rewritten (``O I-X`` -> ``O B-X``), their count in ``extra``."""
    fixed = convert(sentence.tags, "iob2")
    sentence.extra["repaired"] = sum(old != new for old, new in zip(sentence.tags, fixed))
    sentence.tags = fixed
    return sentence


def write_conll(path, sentences: list[Sentence], predictions: list[list[str]] | None = None) -> None:
    """Write ``word gold [predicted]`` lines, a blank line between sentences (conlleval-readable), atomically."""
    if predictions is not None and len(predictions) != len(sentences):
        raise ValueError("one prediction list per sentence expected")
    with atomic_open(path) as out:
        for index, sentence in enumerate(sentences):
            predicted = predictions[index] if predictions is not None else None
            for position, (word, gold) in enumerate(zip(sentence.words, sentence.tags)):
                row = [word, gold] + ([predicted[position]] if predicted is not None else [])
                out.write(" ".join(row) + "\n")
            out.write("\n")
