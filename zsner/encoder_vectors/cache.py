"""A resumable store of finished chunks: one ``.npy`` per chunk, in a folder keyed by what produced them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, write_json


class ChunkCache:
    """Chunks of one extraction. A folder whose ``key.json`` differs from ``key`` is emptied first, so a chunk is
    only ever reused for the same model, words and layers."""

    def __init__(self, folder, key: dict):
        self.folder = Path(folder)
        key_file = self.folder / "key.json"
        try:
            stale = json.loads(key_file.read_text(encoding="utf-8")) != key
        except (OSError, ValueError):
            stale = True
        if stale:
            shutil.rmtree(self.folder, ignore_errors=True)
            write_json(key_file, key)

    def _path(self, chunk: int) -> Path:
        return self.folder / f"chunk-{chunk:05d}.npy"

    def load(self, chunk: int) -> np.ndarray | None:
        try:
            return np.load(self._path(chunk), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def store(self, chunk: int, block: np.ndarray) -> None:
        with atomic_open(self._path(chunk), "wb") as handle:
            np.save(handle, block, allow_pickle=False)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
