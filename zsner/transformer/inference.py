"""Encoded corpora (sentences -> pieces -> windows) and prediction of word tags for whole sentences."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..data.tags import convert
from ..device import autocast, model_device, to_device
from .align import PieceTokenizer, Window, batches_in_order, collate, make_windows, merge, window_labels


@dataclass
class Corpus:
    """Sentences as pieces and windows; ``labels`` are word tag ids (None for unlabelled text)."""

    words: list[list[str]]
    pieces: list[list[list[int]]]
    windows: list[Window]
    langs: list[str]  # language of each sentence
    tokens: PieceTokenizer
    labels: list[list[int]] | None = None  # per sentence
    window_labels: list[list[int]] | None = None  # per window (cut slices re-written as valid sequences)

    def __len__(self) -> int:
        return len(self.words)

    def set_labels(self, labels: list[list[int]], tags: list[str], scheme: str) -> "Corpus":
        self.labels = labels
        self.window_labels = window_labels(self.windows, labels, tags, scheme)
        return self

    def batch(self, indices, device="cpu"):
        windows = [self.windows[index] for index in indices]
        labels = [self.window_labels[index] for index in indices] if self.window_labels is not None else None
        return to_device(collate(windows, self.pieces, self.tokens, labels), device)

    def window_langs(self, indices) -> list[str]:
        return [self.langs[self.windows[index].sentence] for index in indices]


def encode(words: list[list[str]], tokens: PieceTokenizer, window: int, overlap: int, langs) -> Corpus:
    """An unlabelled corpus from word lists; ``langs`` is one code for all sentences or one per sentence."""
    pieces = [tokens.word_pieces(sentence) for sentence in words]
    per_sentence = [langs] * len(words) if isinstance(langs, str) else list(langs)
    return Corpus(list(words), pieces, make_windows(pieces, window, overlap), per_sentence, tokens)


def predict_ids(model, corpus: Corpus, batch_size: int = 64, device=None, amp: bool = False,
                progress: bool = False, desc: str = "predict") -> list[list[int]]:
    """Tag ids for every word of every sentence (windows merged back to words); batches go to ``device``
    (default: the model's), under mixed precision on CUDA when ``amp`` (the CRF head stays in fp32)."""
    return _per_word(model, model.predict, corpus, batch_size, device, amp, progress, desc)


def predict_distributions(model, corpus: Corpus, batch_size: int = 64, device=None, amp: bool = False) -> list:
    """Per sentence, each word's ``(best tag id, tag distribution)`` (see ``TransformerTagger.
    predict_distributions``), windows merged back to words as in ``predict_ids``."""
    return _per_word(model, model.predict_distributions, corpus, batch_size, device, amp)


def predict_probabilities(model, corpus: Corpus, batch_size: int = 64, device=None, amp: bool = False,
                          progress: bool = False, desc: str = "predict") -> list[np.ndarray]:
    """Per sentence, a ``[words, tags]`` float32 array of each word's tag distribution over ``model.tags``
    (``TransformerTagger.word_probabilities``), windows merged back to words as in ``predict_ids``."""
    merged = _per_word(model, model.word_probabilities, corpus, batch_size, device, amp, progress, desc)
    return [np.array(rows, dtype=np.float32).reshape(len(rows), len(model.tags)) for rows in merged]


def _per_word(model, predict, corpus: Corpus, batch_size: int, device, amp: bool, progress: bool = False,
              desc: str = "predict") -> list:
    """``predict(batch)`` (one list of per-word items per window) over length-sorted batches of the corpus's
    windows, merged back into one item per word of each sentence."""
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    per_window: list = [None] * len(corpus.windows)
    order = batches_in_order(corpus.windows, corpus.pieces, batch_size)
    with torch.no_grad(), autocast(device, amp):
        for indices in tqdm(order, desc=desc, disable=not progress, leave=False):
            for index, items in zip(indices, predict(corpus.batch(indices, device))):
                per_window[index] = items
    model.train(was_training)
    return merge(corpus.windows, per_window, [len(sentence) for sentence in corpus.words])


def predict_tags(model, corpus: Corpus, **options) -> list[list[str]]:
    """IOB2 tag names per word (CRF or softmax output repaired into a valid sequence)."""
    return [convert([model.tags[i] for i in ids], "iob2") for ids in predict_ids(model, corpus, **options)]


def evaluate(model, corpus: Corpus, gold: list[list[str]], **options) -> tuple[dict, list[list[str]], float]:
    """``(span metrics, predicted tags, seconds)`` on a labelled corpus."""
    started = time.perf_counter()
    predicted = predict_tags(model, corpus, **options)
    seconds = time.perf_counter() - started
    from ..evaluation import span_metrics  # seqeval, scikit-learn: only where something is scored

    return span_metrics(gold, predicted), predicted, seconds
