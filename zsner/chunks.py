"""A resumable store of finished chunks of a long computation (`zsner vectors`' words, `zsner project`'s pairs,
`zsner cluster`'s settings): one file per chunk (``.npy`` without pickle, or ``.json``), each written atomically,
in a folder whose ``key.json`` records everything that determines the chunks. A folder with another key is emptied
first, so a chunk is only ever reused for the same inputs, model and configuration; a killed run loses at most the
chunk it was computing.

Test hook: ``ZSNER_CHUNK_SLEEP=SECONDS`` sleeps that long before each chunk is stored, so that a test can kill a
run in the middle of a chunk (unset: no pause).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import atomic_open, write_json
from .errors import ZsnerError


def digest(obj) -> str:
    """A short stable hash of JSON-able ``obj`` (dict key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def file_digest(path, what: str = "file") -> bytes:
    """SHA-256 of a file's content; a missing file is a ``ZsnerError`` ("no such WHAT")."""
    path = Path(path)
    if not path.is_file():
        raise ZsnerError(f"no such {what}", path)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.digest()


def add_vectors_file(sha, path) -> None:
    """Feed a vectors file's content into ``sha``, with its sidecars (gensim's ``.kv`` keeps ``.npy`` files beside
    it): each part's name suffix, then its digest."""
    path = Path(path)
    for part in [path, *sorted(path.parent.glob(path.name + ".*"))]:
        sha.update(part.name[len(path.name):].encode() + b"\0")
        sha.update(file_digest(part, "embedding file"))


def file_key(path) -> list | None:
    """What identifies a file's content cheaply: resolved path, size and modification time (None: no file)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        return None
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _pause() -> None:
    seconds = os.environ.get("ZSNER_CHUNK_SLEEP")
    if seconds:
        time.sleep(float(seconds))


class ChunkCache:
    """Chunks of one computation. A folder whose ``key.json`` differs from ``key`` is emptied first."""

    def __init__(self, folder, key: dict):
        self.folder = Path(folder)
        self.computed: list[int] = []  # chunks computed (not loaded) by ``results`` in this process
        key_file = self.folder / "key.json"
        try:
            stale = json.loads(key_file.read_text(encoding="utf-8")) != key
        except (OSError, ValueError):
            stale = True
        if stale:
            shutil.rmtree(self.folder, ignore_errors=True)
            write_json(key_file, key)

    def _path(self, chunk: int, suffix: str = ".npy") -> Path:
        return self.folder / f"chunk-{chunk:05d}{suffix}"

    def path(self, name: str) -> Path:
        """Another file of this entry (same key), e.g. a trained model the later chunks need."""
        return self.folder / name

    def load(self, chunk: int) -> np.ndarray | None:
        try:
            return np.load(self._path(chunk), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def store(self, chunk: int, block: np.ndarray) -> None:
        _pause()
        with atomic_open(self._path(chunk), "wb") as handle:
            np.save(handle, block, allow_pickle=False)

    def load_json(self, chunk: int):
        """The stored JSON value of ``chunk``, or None when it is absent or unreadable."""
        try:
            return json.loads(self._path(chunk, ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def store_json(self, chunk: int, value) -> str:
        """Store JSON-able ``value`` as ``chunk``; returns the text written."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
        _pause()
        with atomic_open(self._path(chunk, ".json")) as handle:
            handle.write(text)
        return text

    def results(self, count: int, compute: Callable, encode: Callable = lambda value: value,
                decode: Callable = lambda stored, chunk: stored, log=None, name: str = "chunk") -> list:
        """The values of chunks ``0 .. count - 1``: loaded when finished here, else ``compute(chunk)``, stored as
        ``encode(value)`` (JSON) and logged. Every value is ``decode(stored, chunk)`` of its stored form, so an
        uninterrupted run and a resumed one go on from the same data; a stored chunk that ``decode`` refuses
        (``KeyError``, ``TypeError``, ``ValueError``, ``IndexError``) is computed again."""
        values, computed = [], 0
        for chunk in range(count):
            stored = self.load_json(chunk)
            value = None
            if stored is not None:
                try:
                    value = decode(stored, chunk)
                except (KeyError, TypeError, ValueError, IndexError):
                    stored = None
            if stored is None:
                stored = json.loads(self.store_json(chunk, encode(compute(chunk))))
                self.computed.append(chunk)
                computed += 1
                value = decode(stored, chunk)
                if log is not None:
                    log.info("%s %d/%d: computed", name, chunk + 1, count)
            values.append(value)
        if log is not None and computed < count:
            log.info("%s: %d of %d chunks reused from %s", name, count - computed, count, self.folder)
        return values

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
