"""``zsner tag`` inputs: a file (or standard input) read, checked whole and turned into ``Document`` objects before
anything is tagged or written.

Formats: ``text`` (the whole input is one document, split into sentences), ``lines`` (one document per non-blank
line), ``tokens`` (one pre-tokenized sentence per non-blank line, words separated by spaces), ``conll`` (word
first, tag last; one document per sentence, words joined by single spaces; the tags are kept as gold) and
``jsonl`` (one ``{"id": ..., "text": ...}`` object per non-blank line). Refused, in one line naming the file and
line: undecodable bytes, control characters other than tab / line feed / carriage return (binary data), no text
at all, a document over ``max_chars`` characters, and malformed JSON lines.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..errors import ZsnerError
from .document import Document

FORMATS = ("text", "lines", "tokens", "conll", "jsonl")
MAX_CHARS = 1_000_000  # per document
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # control characters, lone surrogates


def read_input(source: str, encoding: str = "utf-8") -> tuple[str, str]:
    """``(text, name)`` of a file path or ``-`` (standard input), decoded and free of control characters."""
    name = "<stdin>" if source == "-" else source
    if source == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if path.is_dir():
            raise ZsnerError("expected a file, found a folder", path)
        if not path.is_file():
            raise ZsnerError("no such input file", path)
        raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise ZsnerError(f"unknown encoding {encoding!r}", name) from None
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ZsnerError(f"not valid {encoding} at byte {err.start} (0x{raw[err.start]:02x}); is --encoding right?",
                         name, line) from None
    text = text[1:] if text.startswith("\ufeff") else text
    _check_characters(text, name, locate=True)
    return text, name


def documents(text: str, name: str, fmt: str, make_document, max_chars: int = MAX_CHARS,
              conll_encoding: str = "utf-8") -> list[Document]:
    """The documents of a decoded input; ``make_document(text, id)`` segments raw text (the tagger's)."""
    if fmt not in FORMATS:
        raise ZsnerError(f"unknown --input-format {fmt!r}: use {', '.join(FORMATS)}")
    if fmt == "text":
        _check_size(text, max_chars, name, 1)
        return [make_document(text, Path(name).stem if name != "<stdin>" else None)]
    if fmt == "conll":
        return _conll(name, conll_encoding)
    result = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        _check_size(line, max_chars, name, number)
        if fmt == "lines":
            result.append(make_document(line, number))
        elif fmt == "tokens":
            offsets = [(m.start(), m.end()) for m in re.finditer(r"\S+", line)]
            result.append(Document.from_offsets(line, [offsets], number))
        else:
            identifier, body = _json_line(line, name, number)
            _check_characters(body, name, number)  # JSON escapes ("\u001b", "\ud800") decode to anything
            _check_size(body, max_chars, name, number)
            result.append(make_document(body, identifier))
    return result


def check_text(text: str, name: str, max_chars: int = MAX_CHARS) -> None:
    """One document's text as ``zsner tag`` accepts it (the server's check of each text): no control character,
    no lone surrogate (a JSON ``\\ud800`` escape: not Unicode), not blank, at most ``max_chars`` characters."""
    _check_characters(text, name)
    _check_size(text, max_chars, name, None)


def _check_characters(text: str, name: str, line: int | None = None, locate: bool = False) -> None:
    """No control character other than tab / line feed / carriage return, no lone surrogate (not Unicode), not
    blank; ``locate``: name the line of ``text`` where the bad character is."""
    bad = _UNREADABLE.search(text)
    if bad:
        kind = "lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "control character"
        line = text.count("\n", 0, bad.start()) + 1 if locate else line
        raise ZsnerError(f"{kind} U+{ord(bad.group()):04X} (binary data?)", name, line)
    if not text.strip():
        raise ZsnerError("no text (empty or whitespace only)", name, line)


def _check_size(text: str, max_chars: int, name: str, line: int | None) -> None:
    if len(text) > max_chars:
        raise ZsnerError(f"a document of {len(text):,} characters, over --max-chars {max_chars:,} (split it, or "
                         "raise --max-chars)", name, line)


def _json_line(line: str, name: str, number: int):
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise ZsnerError(f"not a JSON object: {err.msg}", name, number) from None
    except (ValueError, RecursionError) as err:  # over 4300 digits; nesting deeper than Python's stack
        raise ZsnerError(f"not a JSON object that can be read ({type(err).__name__})", name, number) from None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise ZsnerError('expected a JSON object with a string "text" (and an optional "id")', name, number)
    if not value["text"].strip():
        raise ZsnerError('empty "text"', name, number)
    identifier = value.get("id", number)
    if not isinstance(identifier, (str, int, float, type(None))) or isinstance(identifier, bool):
        raise ZsnerError('"id" must be a string or a number', name, number)
    return identifier, value["text"]


def _conll(name: str, encoding: str) -> list[Document]:
    from ..data.conll import read_conll

    if name == "<stdin>":
        raise ZsnerError("--input-format conll reads a file, not standard input")
    result = []
    for sentence in read_conll(name, encoding):
        offsets, position = [], 0
        for word in sentence.words:
            offsets.append((position, position + len(word)))
            position += len(word) + 1
        result.append(Document.from_offsets(" ".join(sentence.words), [offsets], sentence.line,
                                            gold=list(sentence.tags)))
    return result
