"""The one tagging path: documents -> sentences (cut into pieces of at most ``max_words`` words) -> batches of a
backend -> tags on the tokens and entities with character offsets. The CLI (``zsner tag``), the Python API
(``zsner.load``) and the server all call ``Tagger.tag_documents``.

Documents stream: sentences are gathered across documents until ``batch_size`` of them are waiting, tagged
together, and each document is yielded, in input order, as soon as all of its sentences are tagged, so memory
stays bounded by the batch and the longest document, however long the input.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from .document import Document, Span
from .segment import segment

MAX_WORDS = 200  # a sentence longer than this is tagged in consecutive pieces (no truncation)


class Tagger:
    """``tagger(text)`` tags one raw string; ``tagger.pipe(texts)`` streams many. ``info`` describes the model."""

    def __init__(self, backend, info: dict, batch_size: int = 256, max_words: int = MAX_WORDS):
        self.backend = backend
        self.info = dict(info)
        self.lang = backend.lang
        self.batch_size = batch_size
        self.max_words = max_words

    def make_document(self, text: str, id=None) -> Document:
        """Raw text split into sentences and CoNLL-style tokens (offsets into ``text``)."""
        return Document.from_offsets(text, segment(text, self.lang), id)

    def __call__(self, text: str) -> Document:
        return next(self.tag_documents([self.make_document(text)]))

    def pipe(self, texts: Iterable, batch_size: int | None = None) -> Iterator[Document]:
        """Tag raw strings (or prepared ``Document`` objects) in batches; yields documents in input order."""
        documents = (item if isinstance(item, Document) else self.make_document(item) for item in texts)
        return self.tag_documents(documents, batch_size)

    def tag_documents(self, documents: Iterable[Document], batch_size: int | None = None) -> Iterator[Document]:
        limit = batch_size or self.batch_size
        waiting: list[Document] = []
        pieces: list[tuple[Document, int, int]] = []  # (document, first token, end token)
        for document in documents:
            waiting.append(document)
            pieces.extend(self._pieces(document))
            if len(pieces) >= limit:
                for begin in range(0, len(pieces), limit):  # a long document: still ``limit`` pieces a call
                    self._tag(pieces[begin:begin + limit])
                pieces = []
                yield from waiting
                waiting = []
        self._tag(pieces)
        yield from waiting

    def _pieces(self, document: Document):
        for first, end in document.sentences:
            for start in range(first, end, self.max_words):
                yield document, start, min(start + self.max_words, end)

    def _tag(self, pieces: list[tuple[Document, int, int]]) -> None:
        if not pieces:
            return
        words = [[token.text for token in document.tokens[first:end]] for document, first, end in pieces]
        for (document, first, end), (tags, entities) in zip(pieces, self.backend.tag(words)):
            tokens = document.tokens
            for token, tag in zip(tokens[first:end], tags):
                token.tag = tag
            for start, stop, label, score in entities:
                begin, finish = tokens[first + start].start, tokens[first + stop - 1].end
                document.entities.append(Span(begin, finish, label, document.text[begin:finish], score))
