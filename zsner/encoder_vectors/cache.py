"""The vectors' resumable chunk store: ``zsner.chunks.ChunkCache`` (one ``.npy`` per chunk of words), keyed by
model, words and layer (``build.py``)."""
from __future__ import annotations

from ..chunks import ChunkCache

__all__ = ["ChunkCache"]
