"""Pretrained word vectors: load fastText ``.vec``/``.vec.gz``/``.bin``, word2vec binary and gensim ``.kv``.

Vectors may be float16 on disk; they are always returned as float32. ``lookup`` implements the lookup policy
of Lample et al. (2016): the exact word, then its lowercase form, then lowercase with digits replaced by 0.
"""
from __future__ import annotations

import gzip
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import ZsnerError

FASTTEXT_MAGIC = 793712314
_DIGITS = re.compile(r"\d")


@dataclass
class WordVectors:
    """Words in file order (most frequent first for every supported format) and a float32 matrix [V, d]."""

    words: list[str]
    matrix: np.ndarray
    source: str = ""
    oov: Callable[[str], np.ndarray] | None = None  # subword model for out-of-vocabulary words (fastText .bin)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.words):
            raise ZsnerError(f"{len(self.words)} words but a matrix of shape {tuple(self.matrix.shape)}", self.source)
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(self.matrix).all(axis=1))
        if bad.size:
            raise ZsnerError(f"non-finite (NaN/inf) vector for word {self.words[bad[0]]!r} "
                             f"({bad.size} such vectors)", self.source)
        self.index = {}
        for position, word in enumerate(self.words):
            self.index.setdefault(word, position)

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def lookup(self, word: str) -> int | None:
        """Row of ``word`` by the exact -> lowercase -> digits-to-0 policy, or None."""
        for candidate in lookup_candidates(word):
            if candidate in self.index:
                return self.index[candidate]
        return None

    def vector(self, word: str) -> np.ndarray | None:
        row = self.lookup(word)
        if row is not None:
            return self.matrix[row]
        return self.oov(word).astype(np.float32) if self.oov is not None else None

    def coverage(self, tokens: Iterable[str]) -> float:
        """Percentage of tokens that have a pretrained vector under the lookup policy."""
        tokens = list(tokens)
        if not tokens:
            return 0.0
        return 100.0 * sum(self.lookup(token) is not None for token in tokens) / len(tokens)


def lookup_candidates(word: str) -> list[str]:
    lower = word.lower()
    return [word, lower, _DIGITS.sub("0", lower)]


def load_vectors(path, max_vocab: int | None = None) -> WordVectors:
    """Load vectors from any supported file; ``max_vocab`` keeps the first (most frequent) words, like MUSE."""
    path = Path(path)
    if not path.exists():
        raise ZsnerError("no such embedding file", path)
    name = path.name
    if name.endswith(".kv"):
        words, matrix = _load_kv(path)
        oov = None
    elif name.endswith(".bin") and _is_fasttext_bin(path):
        words, matrix, oov = _load_fasttext_bin(path)
    elif name.endswith(".bin"):
        words, matrix, oov = (*_load_word2vec_bin(path), None)
    else:
        words, matrix, oov = (*_load_text(path), None)
    if max_vocab:
        words, matrix = words[:max_vocab], matrix[:max_vocab]
    return WordVectors(list(words), matrix, str(path), oov)


def _load_kv(path: Path):
    from gensim.models import KeyedVectors

    try:
        kv = KeyedVectors.load(str(path), mmap="r")
    except Exception as err:  # gensim raises many types for a broken file
        raise ZsnerError(f"cannot read gensim KeyedVectors: {err}", path) from None
    return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32)


def _is_fasttext_bin(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4)
    return len(head) == 4 and struct.unpack("<i", head)[0] == FASTTEXT_MAGIC


def _load_fasttext_bin(path: Path):
    import fasttext

    try:
        model = fasttext.load_model(str(path))
    except Exception as err:
        raise ZsnerError(f"cannot read fastText model: {err}", path) from None
    words = model.get_words(on_unicode_error="replace")
    matrix = np.stack([model.get_word_vector(word) for word in words]) if words else np.zeros((0, model.get_dimension()))
    return words, matrix, model.get_word_vector


def _load_word2vec_bin(path: Path):
    from gensim.models import KeyedVectors

    try:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    except Exception as err:
        raise ZsnerError(f"cannot read word2vec binary: {err}", path) from None
    return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32)


def _load_text(path: Path):
    """fastText/word2vec text format: optional ``count dim`` header, then ``word v1 ... vd`` per line."""
    opener = gzip.open if path.name.endswith(".gz") else open
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    with opener(path, "rt", encoding="utf-8", errors="strict", newline="\n") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n\r").rstrip(" ").split(" ")
                if number == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    dim = int(parts[1])
                    continue
                if len(parts) < 2:
                    if not line.strip():
                        continue
                    raise ZsnerError("a vector line needs a word and numbers", path, number)
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 != dim:
                    raise ZsnerError(f"dimension mismatch: {len(parts) - 1} values, expected {dim}", path, number)
                try:
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
                except ValueError:
                    raise ZsnerError("a vector value is not a number", path, number) from None
                words.append(parts[0])
        except UnicodeDecodeError:
            raise ZsnerError("vector file is not UTF-8", path) from None
        except gzip.BadGzipFile:
            raise ZsnerError("not a gzip file (a .gz name needs gzip-compressed text)", path) from None
        except (EOFError, zlib.error) as err:
            raise ZsnerError(f"damaged gzip file ({err or 'it ends early'})", path) from None
    if not rows:
        raise ZsnerError("no vectors found (empty file?)", path)
    return words, np.stack(rows)


def save_vec(path, words: list[str], matrix: np.ndarray) -> None:
    """Write fastText ``.vec`` text (``count dim`` header), atomically; ``.gz`` suffix compresses."""
    from .atomic import atomic_open

    path = Path(path)
    matrix = np.asarray(matrix, dtype=np.float32)
    with atomic_open(path, "wb") as raw:
        handle = gzip.GzipFile(fileobj=raw, mode="wb") if path.name.endswith(".gz") else raw
        handle.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        for word, row in zip(words, matrix):
            handle.write((word + " " + " ".join(f"{value:.5f}" for value in row) + "\n").encode("utf-8"))
        if handle is not raw:
            handle.close()
