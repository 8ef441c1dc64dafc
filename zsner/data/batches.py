"""Encoded corpora and batches: ids per sentence, length-bucketed batch order, padding and masks.

Each token carries two ids: its word-vocabulary id (embedding row) and its *form* id, an index into a table of
distinct token strings whose characters are encoded once per corpus, so a batch runs the character LSTM once per
distinct word it contains.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ZsnerError
from .conll import Sentence
from .tags import convert
from .vocab import Vocabulary, word_id


@dataclass
class Batch:
    words: torch.Tensor  # [B, L] word-vocabulary ids (0 = padding)
    forms: torch.Tensor  # [U] distinct form ids in this batch
    form_positions: torch.Tensor  # [B, L] index into ``forms`` (0 at padding)
    chars: torch.Tensor  # [U, C] character ids of each distinct form
    char_lengths: torch.Tensor  # [U]
    tags: torch.Tensor  # [B, L] tag ids (0 at padding)
    mask: torch.Tensor  # [B, L] bool
    indices: np.ndarray  # [B] sentence positions in the corpus

    def to(self, device) -> "Batch":
        moved = {name: value.to(device) if isinstance(value, torch.Tensor) else value
                 for name, value in self.__dict__.items()}
        return Batch(**moved)


class EncodedCorpus:
    """Sentences turned into id arrays once; ``batch(indices)`` pads a subset. Gold tags are optional: an
    unlabelled corpus (``tags=None``) gets all-zero tag ids and must never be used for a supervised loss.
    ``prefix`` selects one language's entries in a joint word vocabulary."""

    def __init__(self, sentences: list[Sentence], words: Vocabulary, chars: Vocabulary,
                 tags: Vocabulary | None, max_word_length: int = 30, scheme: str = "iobes", prefix: str = ""):
        self.sentences = sentences
        self.lengths = np.array([len(sentence) for sentence in sentences], dtype=np.int64)
        self.word_ids = [np.array([word_id(words, w, prefix) for w in s.words], dtype=np.int64) for s in sentences]
        forms: dict[str, int] = {}
        self.form_ids = [np.array([forms.setdefault(w, len(forms)) for w in s.words], dtype=np.int64)
                         for s in sentences]
        self.form_chars, self.form_lengths = _encode_chars(list(forms), chars, max_word_length)
        if tags is not None:
            try:
                self.tag_ids = [np.array([tags.get(t) for t in convert(s.tags, scheme)], dtype=np.int64)
                                for s in sentences]
            except KeyError as err:
                raise ZsnerError(f"tag {err.args[0]!r} is not in the model's tag set ({', '.join(tags.items)}): "
                                 "the data has an entity type the source language lacks") from None
        else:
            self.tag_ids = [np.zeros(len(s), dtype=np.int64) for s in sentences]

    def __len__(self) -> int:
        return len(self.sentences)

    def to_arrays(self) -> tuple[dict, dict]:
        """(flat numpy arrays, string tables) from which ``from_arrays`` rebuilds this corpus exactly: sentences
        (words, tags as read, line) and every id array."""
        forms: dict[str, int] = {}
        for sentence in self.sentences:
            for word in sentence.words:
                forms.setdefault(word, len(forms))
        tags: dict[str, int] = {}
        flat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
        arrays = {"lengths": self.lengths, "word_ids": flat(self.word_ids), "form_ids": flat(self.form_ids),
                  "tag_ids": flat(self.tag_ids), "form_chars": self.form_chars, "form_lengths": self.form_lengths,
                  "lines": np.array([s.line for s in self.sentences], dtype=np.int64),
                  "gold": np.array([tags.setdefault(t, len(tags)) for s in self.sentences for t in s.tags],
                                   dtype=np.int64)}
        return arrays, {"forms": list(forms), "tags": list(tags)}

    @classmethod
    def from_arrays(cls, arrays: dict, strings: dict) -> "EncodedCorpus":
        """The corpus ``to_arrays`` described, without re-encoding anything."""
        corpus = cls.__new__(cls)
        lengths = np.asarray(arrays["lengths"], dtype=np.int64)
        cuts = np.cumsum(lengths)[:-1]
        split = lambda name: np.split(np.asarray(arrays[name], dtype=np.int64), cuts) if len(lengths) else []  # noqa: E731
        corpus.lengths, corpus.word_ids, corpus.form_ids, corpus.tag_ids = lengths, split("word_ids"), \
            split("form_ids"), split("tag_ids")
        corpus.form_chars, corpus.form_lengths = arrays["form_chars"], arrays["form_lengths"]
        forms, tags = strings["forms"], strings["tags"]
        words = [forms[i] for i in arrays["form_ids"].tolist()]
        gold = [tags[i] for i in arrays["gold"].tolist()]
        starts = [0, *np.cumsum(lengths).tolist()]
        corpus.sentences = [Sentence(words[a:b], gold[a:b], line) for a, b, line
                            in zip(starts[:-1], starts[1:], arrays["lines"].tolist())]
        return corpus

    def batch(self, indices) -> Batch:
        indices = np.asarray(indices)
        lengths = self.lengths[indices]
        size, longest = len(indices), int(lengths.max())
        words = np.zeros((size, longest), dtype=np.int64)
        forms = np.zeros((size, longest), dtype=np.int64)
        tags = np.zeros((size, longest), dtype=np.int64)
        for row, index in enumerate(indices):
            n = lengths[row]
            words[row, :n] = self.word_ids[index]
            forms[row, :n] = self.form_ids[index]
            tags[row, :n] = self.tag_ids[index]
        mask = np.arange(longest)[None, :] < lengths[:, None]
        unique, positions = np.unique(np.where(mask, forms, forms[0, 0]), return_inverse=True)
        chars = self.form_chars[unique]
        char_lengths = self.form_lengths[unique]
        chars = chars[:, : int(char_lengths.max())]
        return Batch(torch.from_numpy(words), torch.from_numpy(unique),
                     torch.from_numpy(positions.reshape(size, longest)), torch.from_numpy(chars),
                     torch.from_numpy(char_lengths), torch.from_numpy(tags), torch.from_numpy(mask), indices)


def _encode_chars(forms: list[str], chars: Vocabulary, max_length: int):
    """Character ids ``[F, max_length]`` and lengths ``[F]``; longer words keep their head and tail."""
    table = np.zeros((max(len(forms), 1), max_length), dtype=np.int64)
    lengths = np.ones(max(len(forms), 1), dtype=np.int64)
    half = max_length // 2
    for row, form in enumerate(forms):
        if len(form) > max_length:
            form = form[:half] + form[len(form) - (max_length - half):]
        table[row, : len(form)] = [chars.get(char) for char in form]
        lengths[row] = max(len(form), 1)
    return table, lengths


def bucketed_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar-length sentences: shuffle, sort within pools of ``pool`` batches by length,
    cut into batches, shuffle the batch order. Padding stays small while every epoch sees a new order."""
    order = rng.permutation(len(lengths))
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = order[start:start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def cycle(next_pass, count: int) -> list:
    """The first ``count`` batches of repeated passes; ``next_pass()`` gives one pass (the same list again, or a
    fresh shuffle)."""
    batches: list = []
    while len(batches) < count:
        one_pass = next_pass()
        if not one_pass:
            raise ValueError("cannot cycle through an empty pass of batches")
        batches.extend(one_pass)
    return batches[:count]


def sequential_order(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: sentences sorted by length (less padding), every sentence exactly once."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
