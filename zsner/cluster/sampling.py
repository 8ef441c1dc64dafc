"""The sentences of a clustering run: every language's train and dev splits read once (all of each file, so a
bad line stops the command before anything is written), then seeded random samples per language: at most
``cap`` train sentences for LID fine-tuning and at most ``held_out`` dev sentences to embed and cluster."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.conll import read_dataset
from ..resources import language_code


@dataclass
class Sample:
    """Sentences (word lists) with the index of their language in ``langs``."""

    langs: list[str]  # bare codes, in the order of --langs
    train: list[list[str]]
    train_labels: np.ndarray
    held_out: list[list[str]]
    held_out_labels: np.ndarray

    def counts(self, labels: np.ndarray) -> dict[str, int]:
        return {lang: int((labels == index).sum()) for index, lang in enumerate(self.langs)}


def read_pools(names: list[str], data_dir=None) -> dict[str, dict[str, list[list[str]]]]:
    """``{code: {"train": sentences, "dev": sentences}}`` for the dataset names (``wikiann:sw``, ...)."""
    return {language_code(name): {split: [s.words for s in read_dataset(name, split, data_dir or None)]
                                  for split in ("train", "dev")} for name in names}


def draw(pools: dict, cap: int, held_out: int, seed: int) -> Sample:
    """Per language (in ``pools`` order) a random sample of ``min(cap, train)`` train and ``min(held_out, dev)``
    dev sentences; the same seed and sizes give the same sample."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "train_labels": [], "held_out": [], "held_out_labels": []}
    for index, splits in enumerate(pools.values()):
        for split, key, size in (("train", "train", cap), ("dev", "held_out", held_out)):
            sentences = splits[split]
            chosen = np.sort(rng.choice(len(sentences), size=min(size, len(sentences)), replace=False))
            parts[key] += [sentences[i] for i in chosen]
            parts[key + "_labels"] += [index] * len(chosen)
    return Sample(list(pools), parts["train"], np.array(parts["train_labels"]), parts["held_out"],
                  np.array(parts["held_out_labels"]))
