"""Pretrained word vectors: load fastText ``.vec``/``.vec.gz``/``.bin``, word2vec binary and gensim ``.kv``.

Vectors may be float16 on disk; they are always returned as float32. ``lookup`` implements the lookup policy
of Lample et al. (2016): the exact word, then its lowercase form, then lowercase with digits replaced by 0.
"""
from __future__ import annotations

import gzip
import mmap
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
    if path.is_dir():
        raise ZsnerError("expected an embedding file, found a folder", path)
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
    if not len(words):
        raise ZsnerError("no vectors found (empty file?)", path)
    if max_vocab:
        words, matrix = words[:max_vocab], matrix[:max_vocab]
    return WordVectors(list(words), matrix, str(path), oov)


def _load_kv(path: Path):
    from gensim.models import KeyedVectors

    try:
        kv = KeyedVectors.load(str(path), mmap="r")
        return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32)
    except Exception as err:  # gensim raises many types for a broken file (or an object of another kind)
        raise ZsnerError(f"cannot read gensim KeyedVectors ({type(err).__name__}: {_first_line(err)})", path) from None


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else "damaged file"


def _is_fasttext_bin(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4)
    return len(head) == 4 and struct.unpack("<i", head)[0] == FASTTEXT_MAGIC


def _check_fasttext_bin(path: Path) -> None:
    """Walk a fastText ``.bin``'s layout (header, dictionary, matrices) before fastText reads it: its own loader
    reads past the end of a cut file without noticing (or never returns), and trusts every size in it."""
    def damaged(what: str, offset: int):
        return ZsnerError(f"damaged fastText model: its {what} does not fit (byte {offset} of {end})", path)

    def unpack(fmt: str, offset: int, what: str):
        if offset + struct.calcsize(fmt) > end:
            raise damaged(what, offset)
        return struct.unpack_from(fmt, data, offset)

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = len(data)
        args = unpack("<12id", 8, "header")  # dim ws epoch minCount neg wordNgrams loss model bucket minn maxn ...
        dim, loss, model, bucket, maxn = args[0], args[6], args[7], args[8], args[10]
        if dim < 1 or loss not in (1, 2, 3, 4) or model not in (1, 2, 3) or bucket < 0 or (maxn > 0 and bucket < 1):
            raise damaged("header", 8)
        size, words, labels, _, pruned = unpack("<iiiqq", 64, "dictionary")
        if min(size, words, labels) < 0 or words + labels != size:
            raise damaged("dictionary", 64)
        offset = 92
        for _ in range(size):  # entries: word bytes, NUL, int64 count, int8 type
            stop = data.find(b"\0", offset)
            if stop < 0 or stop + 10 > end:
                raise damaged("dictionary", offset)
            count, kind = struct.unpack_from("<qb", data, stop + 1)
            if count < 1 or kind not in (0, 1):
                raise damaged("dictionary", stop + 1)
            offset = stop + 10
        offset += 8 * max(pruned, 0)
        expected = {"input matrix": words + bucket if pruned <= 0 else None,
                    "output matrix": labels if model == 3 else words}
        for what, rows_expected in expected.items():
            quantized, rows, columns = unpack("<bqq", offset, what)
            if quantized == 1:
                return  # a quantized model (.ftz layout): fastText checks its own
            if quantized != 0 or columns != dim or rows < 0 or rows_expected not in (None, rows):
                raise damaged(what, offset)
            offset += 17 + rows * columns * 4
            if offset > end:
                raise damaged(what, end)
        if offset != end:
            raise damaged("end", offset)


def _load_fasttext_bin(path: Path):
    import fasttext

    _check_fasttext_bin(path)
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
                if number == 1 and len(parts) == 2 and all(part.isascii() and part.isdigit() for part in parts):
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
