"""The training view of a vocabulary (lowercased, deduplicated, truncated, normalised) and the same
normalisation replayed on the full cased vocabulary for export."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..embeddings import WordVectors


@dataclass
class Normalizer:
    """Replayable ``center``/``renorm`` steps; each ``center`` keeps the mean it subtracted at training."""

    steps: list[str]
    means: list[np.ndarray]

    @classmethod
    def fit(cls, matrix: np.ndarray, steps: list[str]) -> tuple["Normalizer", np.ndarray]:
        means, out = [], np.array(matrix, dtype=np.float32, copy=True)
        for step in steps:
            if step == "center":
                means.append(out.mean(0))
            out = _apply(out, step, means[-1] if step == "center" else None)
        return cls(list(steps), means), out

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        out, means = np.array(matrix, dtype=np.float32, copy=True), iter(self.means)
        for step in self.steps:
            out = _apply(out, step, next(means) if step == "center" else None)
        return out


def _apply(matrix: np.ndarray, step: str, mean) -> np.ndarray:
    if step == "center":
        return matrix - mean
    if step == "renorm":
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    raise ValueError(f"unknown normalisation step {step!r}")


@dataclass
class Space:
    """Training words (frequency order), their normalised float32 matrix, and how to normalise more."""

    words: list[str]
    matrix: torch.Tensor
    normalizer: Normalizer

    @property
    def index(self) -> dict[str, int]:
        return {word: row for row, word in enumerate(self.words)}


def training_space(vectors: WordVectors, max_vocab: int, lowercase: bool, steps: list[str]) -> Space:
    """The ``max_vocab`` most frequent distinct words (lowercased: the most frequent casing's vector wins),
    normalised by ``steps``."""
    words = np.array(vectors.words, dtype=object)
    keys = np.array([w.lower() for w in vectors.words] if lowercase else vectors.words, dtype=object).astype(str)
    _, first = np.unique(keys, return_index=True)
    rows = np.sort(first)[:max_vocab]
    normalizer, matrix = Normalizer.fit(vectors.matrix[rows], steps)
    kept = keys[rows] if lowercase else words[rows]
    return Space([str(w) for w in kept], torch.from_numpy(matrix), normalizer)
