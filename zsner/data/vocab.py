"""Vocabularies: words (with pretrained rows), characters, and tags.

The word vocabulary follows Lample et al. (2016): every training word, plus each dev/test word that has a
pretrained vector; lookup of a token is exact, then lowercase, then lowercase with digits as 0. Characters are
indexed by token *form*, independent of the word vocabulary, so unknown words still get a character encoding.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..embeddings import WordVectors, lookup_candidates

PAD, UNK = "<pad>", "<unk>"


@dataclass
class Vocabulary:
    """A string <-> id table. Word and character tables start ``<pad>`` = 0, ``<unk>`` = 1, and unknown items
    get ``<unk>``; a table without ``<unk>`` (tags) has no fallback: an unknown item is a ``KeyError``."""

    items: list[str] = field(default_factory=lambda: [PAD, UNK])
    index: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.index = {item: position for position, item in enumerate(self.items)}

    def add(self, item: str) -> int:
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)
        return self.index[item]

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.index

    def get(self, item: str) -> int:
        found = self.index.get(item)
        if found is None:
            found = self.index.get(UNK)
            if found is None:
                raise KeyError(item)
        return found


def word_id(vocab: Vocabulary, word: str, prefix: str = "") -> int:
    """Id of ``word`` by the exact -> lowercase -> digits-to-0 policy; ``<unk>`` (1) if none matches.

    ``prefix`` names a language inside a joint (multilingual) vocabulary, whose entries are ``prefix + word``.
    """
    for candidate in lookup_candidates(word):
        if prefix + candidate in vocab.index:
            return vocab.index[prefix + candidate]
    return 1


def build_word_vocab(train_words: Iterable[str], other_words: Iterable[str], vectors: WordVectors | None,
                     vocab: Vocabulary | None = None, prefix: str = "") -> Vocabulary:
    """Training words (most frequent first), then other (dev/test) words that have a pretrained vector.
    Passing ``vocab`` and ``prefix`` adds one language's words to a joint vocabulary."""
    vocab = vocab if vocab is not None else Vocabulary()
    for word, _ in Counter(train_words).most_common():
        vocab.add(prefix + word)
    if vectors is not None:
        for word in other_words:
            if word_id(vocab, word, prefix) == 1 and vectors.lookup(word) is not None:
                vocab.add(prefix + word)
    return vocab


def random_rows(size: int, dim: int, seed: int) -> np.ndarray:
    """The draw behind every row without a pretrained vector: uniform(-sqrt(3/dim), sqrt(3/dim)) (unit variance
    scale of Lample et al.); row 0 (padding) is zero."""
    scale = np.sqrt(3.0 / dim)
    matrix = np.random.default_rng(seed).uniform(-scale, scale, size=(size, dim)).astype(np.float32)
    matrix[0] = 0.0
    return matrix


def embedding_matrix(vocab: Vocabulary, vectors: WordVectors | None, dim: int, seed: int = 0,
                     prefix: str = "", matrix: np.ndarray | None = None, pretrained: np.ndarray | None = None):
    """``(matrix [V, dim] float32, pretrained_rows)``: pretrained rows where the lookup finds one, else
    ``random_rows``. With ``prefix``, only that language's entries are filled in (into ``matrix`` when given);
    ``pretrained`` (a bool array over the vocabulary), when given, is set where a vector was found."""
    if matrix is None:
        matrix = random_rows(len(vocab), dim, seed)
    found = 0
    if vectors is not None:
        if vectors.dim != dim:
            raise ValueError(f"word vectors have dimension {vectors.dim}, the model expects {dim}")
        for position, entry in enumerate(vocab.items[2:], start=2):
            if not entry.startswith(prefix):
                continue
            vector = vectors.vector(entry[len(prefix):])
            if vector is not None:
                matrix[position] = vector
                found += 1
                if pretrained is not None:
                    pretrained[position] = True
    return matrix, found


def char_vocab(words: Iterable[str], min_count: int = 1) -> Vocabulary:
    counts = Counter(char for word in words for char in word)
    vocab = Vocabulary()
    for char, count in counts.most_common():
        if count >= min_count:
            vocab.add(char)
    return vocab
