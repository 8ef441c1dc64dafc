"""``zsner tag`` outputs: JSONL (one document object per line), CoNLL columns, or one self-contained HTML page.
A file is written atomically (nothing appears unless all of it was written); ``-`` streams to standard output."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager, nullcontext
from typing import Iterable, Iterator

from ..atomic import atomic_open
from .document import Document
from .html import render_page

FORMATS = ("jsonl", "conll", "html")


def jsonl_line(document: Document, with_tokens: bool = False) -> str:
    return json.dumps(document.to_dict(with_tokens), ensure_ascii=False) + "\n"


def conll_block(document: Document) -> str:
    """``word [gold] predicted`` per token (gold when the input had it), a blank line after each sentence."""
    lines = []
    for first, end in document.sentences:
        for position in range(first, end):
            token = document.tokens[position]
            gold = [document.gold[position]] if document.gold is not None else []
            lines.append(" ".join([token.text.replace(" ", "_"), *gold, token.tag]))
        lines.append("")
    return "\n".join(lines) + "\n"


@contextmanager
def _open(output: str):
    if output == "-":
        with nullcontext(sys.stdout) as handle:
            yield handle
    else:
        with atomic_open(output) as handle:
            yield handle


def write(documents: Iterable[Document], output: str, fmt: str, with_tokens: bool = False,
          title: str = "zsner") -> Iterator[Document]:
    """Write ``documents`` in ``fmt`` to ``output``, yielding each one once written (for scoring or counting)."""
    with _open(output) as handle:
        if fmt == "html":
            kept = []
            for document in documents:
                kept.append(document)
                yield document
            handle.write(render_page(kept, title))
            return
        for document in documents:
            handle.write(jsonl_line(document, with_tokens) if fmt == "jsonl" else conll_block(document))
            yield document
