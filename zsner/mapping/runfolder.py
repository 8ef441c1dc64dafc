"""The run folder: config.json, mapping.npy, normalisation, exported vectors; and the mapping cache key."""
from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, write_json
from ..chunks import add_vectors_file
from ..embeddings import WordVectors, save_vec
from .config import RUNTIME_FIELDS, MappingConfig
from .space import Space

log = logging.getLogger(__name__)


def write_run(out: Path, w: np.ndarray, config: MappingConfig, src: WordVectors, tgt: WordVectors,
              spaces: dict[str, Space]) -> dict[str, str]:
    """config.json, mapping.npy, normalization.npz and (``config.export``) both vocabularies, full and cased,
    normalised as in training and in the common space: ``{src,tgt}.mapped.vec``. Returns the written paths."""
    mapped = "src" if config.direction == "s2t" else "tgt"
    on_disk = all(vectors.source and Path(vectors.source).is_file() for vectors in (src, tgt))
    key = mapping_cache_key(src.source, tgt.source, config) if on_disk else None  # None: in-memory vectors
    write_json(out / "config.json", {"config": config.to_dict(), "src": src.source, "tgt": tgt.source,
                                     "mapped": mapped, "cache_key": key})
    _save_npy(out / "mapping.npy", w)
    means = {f"{side}_mean_{i}": mean for side in ("src", "tgt") for i, mean in enumerate(spaces[side].normalizer.means)}
    _save_npz(out / "normalization.npz", steps=np.array(config.norm_steps, dtype=str), **means)
    files = {"mapping": str(out / "mapping.npy")}
    if config.export:
        for side, vectors in (("src", src), ("tgt", tgt)):
            matrix = spaces[side].normalizer.apply(vectors.matrix)
            if side == mapped:
                matrix = matrix @ w.T
            path = out / f"{side}.mapped.vec"
            save_vec(path, vectors.words, matrix)
            files[side] = str(path)
        log.info("exported %d + %d mapped vectors to %s", len(src), len(tgt), out)
    return files


def _save_npy(path, array) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())


def _save_npz(path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())


def mapping_cache_key(src_file, tgt_file, config: MappingConfig) -> str:
    """Stable key of (source file contents, target file contents, config incl. direction): equal keys give
    the same mapping. Runtime-only fields (threads, block size, eval ks, export) are left out."""
    digest = hashlib.sha256()
    for path in (src_file, tgt_file):
        add_vectors_file(digest, path)
    settings = {key: value for key, value in config.to_dict().items() if key not in RUNTIME_FIELDS}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:16]