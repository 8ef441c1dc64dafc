"""The one object model of tagged text, shared by both backends, the CLI, the Python API and the server.

A ``Document`` holds the original text untouched; its tokens and entities carry character offsets into it, so
``doc.text[span.start:span.end] == span.text`` always holds (spaCy's ``start_char`` / ``end_char``, flair's
``start_position`` / ``end_position``). ``to_dict`` gives the JSONL object of ``zsner tag``: plain JSON types only.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Token:
    start: int
    end: int
    text: str
    tag: str = "O"  # IOB2 once tagged

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "tag": self.tag}


@dataclass(slots=True)
class Span:
    """An entity: characters ``[start, end)`` of the document, its type and its probability under the model
    (classic CRF: the exact posterior of the span; transformer: see ``zsner.tagging.transformer``)."""

    start: int
    end: int
    label: str
    text: str
    score: float

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "label": self.label, "text": self.text,
                "score": round(float(self.score), 4)}


@dataclass(slots=True)
class Document:
    """Original text, its tokens grouped into sentences (``sentences``: ``(first, end)`` token index ranges) and,
    once tagged, its entities. ``gold`` holds a CoNLL input's IOB2 tags per token, when it had them."""

    text: str
    tokens: list[Token]
    sentences: list[tuple[int, int]]
    id: object = None
    entities: list[Span] = field(default_factory=list)
    gold: list[str] | None = None

    @classmethod
    def from_offsets(cls, text: str, sentences: list[list[tuple[int, int]]], id=None, gold=None) -> "Document":
        tokens, ranges = [], []
        for offsets in sentences:
            ranges.append((len(tokens), len(tokens) + len(offsets)))
            tokens.extend(Token(start, end, text[start:end]) for start, end in offsets)
        return cls(text, tokens, ranges, id, gold=gold)

    def sentence_words(self) -> list[list[str]]:
        return [[token.text for token in self.tokens[first:end]] for first, end in self.sentences]

    def sentence_spans(self) -> list[tuple[int, int]]:
        """Character offsets ``(start, end)`` of each sentence."""
        return [(self.tokens[first].start, self.tokens[end - 1].end) for first, end in self.sentences]

    @property
    def tags(self) -> list[str]:
        return [token.tag for token in self.tokens]

    def to_dict(self, with_tokens: bool = False) -> dict:
        result = {"id": self.id, "text": self.text, "entities": [span.to_dict() for span in self.entities]}
        if with_tokens:
            result["tokens"] = [token.to_dict() for token in self.tokens]
        return result
