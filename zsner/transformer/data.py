"""Corpora of a transformer run: labelled splits (tags converted to the training scheme) and unlabelled text.

Target training text is read as words only: its gold tags are dropped here, so no training code can see them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data.conll import Sentence, read_conll, read_dataset
from ..data.tags import chunks, convert
from ..errors import ZsnerError


def read_split(lang: str, split: str, limit: int = 0, data_dir=None) -> list[Sentence]:
    """A registered dataset's split (``en``, ``wikiann:sw``) as ``read_dataset`` reads it (first ``limit``)."""
    sentences = read_dataset(lang, split, data_dir or None)
    return sentences[:limit] if limit else sentences


def read_train_file(path: str, limit: int = 0) -> list[Sentence]:
    """A labelled UTF-8 CoNLL training file given by path (``--train-file``: a projected target corpus)."""
    sentences = read_conll(path, "utf-8")
    return sentences[:limit] if limit else sentences


def read_unlabelled(lang: str, split: str = "train", limit: int = 0, data_dir=None) -> list[list[str]]:
    """Only the words of a split (for auxiliary tasks and pseudo-labels): its tag column is never parsed."""
    sentences = read_dataset(lang, split, data_dir or None, labelled=False)
    return [list(sentence.words) for sentence in (sentences[:limit] if limit else sentences)]


def entity_types(sentences: list[Sentence]) -> set[str]:
    return {kind for sentence in sentences for kind, _, _ in chunks(sentence.tags)}


@dataclass
class Labelled:
    """Sentences with tag ids in the training scheme; ``sentences`` keep the file's tags for evaluation."""

    lang: str
    sentences: list[Sentence]
    labels: list[list[int]]

    @property
    def words(self) -> list[list[str]]:
        return [sentence.words for sentence in self.sentences]


def label(lang: str, sentences: list[Sentence], tags: list[str], scheme: str) -> Labelled:
    index = {tag: position for position, tag in enumerate(tags)}
    ids = []
    for sentence in sentences:
        converted = convert(sentence.tags, scheme)
        unknown = sorted({tag for tag in converted if tag not in index})
        if unknown:
            raise ZsnerError(f"{lang}: tags {unknown} are not in the source tag set {tags}")
        ids.append([index[tag] for tag in converted])
    return Labelled(lang, sentences, ids)
