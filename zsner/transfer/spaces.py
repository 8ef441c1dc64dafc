"""The cross-lingual word space of a transfer run (``--vectors``):

- ``fasttext`` (the paper's): the monolingual vectors, mapped by the unsupervised MUSE-style mapping;
- ``encoder``: static vectors read out of a multilingual encoder (`zsner vectors`), already aligned across
  languages: the mapping starts from the identity and refines with Procrustes/CSLS, and the unsupervised criterion
  chooses between the identity and the refined mapping; with ``encoder_contexts`` each word's vector is the mean
  of its states over its occurrences in the language's NER training sentences, read without tags;
- ``concat``: both, each row unit-normalised, side by side (a word missing from one space gets zeros there).

Each returns a folder holding ``src.mapped.vec`` and ``tgt.mapped.vec``, cached under ``cache_dir``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..atomic import build_lock
from ..embeddings import load_vectors, save_vec
from ..encoder_vectors.extract import unit_length
from ..errors import ZsnerError
from .inputs import TransferInputs, ensure_mapping

log = logging.getLogger("zsner")


def encoder_dim(model: str) -> int:
    """The hidden size of a local Hugging Face encoder folder (read from its config.json)."""
    path = Path(model).expanduser() / "config.json"
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["hidden_size"])
    except FileNotFoundError:
        raise ZsnerError("no Hugging Face model folder here (config.json missing): --encoder PATH needs a local "
                         "folder of a pretrained encoder as save_pretrained writes it", Path(model)) from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ZsnerError(f"unreadable model config ({type(err).__name__})", path) from None


def word_space(kind: str, inputs: TransferInputs, direction: str, cache_dir, encoder: str = "", layer: int = 6,
               data_dir=None, progress: bool = True, contexts: bool = False) -> Path:
    """The folder of the run's mapped vectors for ``kind`` (one of ``VECTORS``)."""
    if kind == "fasttext":
        return ensure_mapping(inputs, direction, cache_dir, progress=progress)
    from ..encoder_vectors.build import ensure_vectors

    files = tuple(ensure_vectors(lang, encoder, layer, cache_dir, data_dir, progress=progress, contexts=contexts)
                  for lang in (inputs.src, inputs.tgt))
    shared = ensure_mapping(dataclasses.replace(inputs, vector_files=files), direction, cache_dir,
                            {"init": "identity"}, progress=progress)
    if kind == "encoder":
        return shared
    return concatenated(ensure_mapping(inputs, direction, cache_dir, progress=progress), shared, cache_dir)


def concatenated(first: Path, second: Path, cache_dir) -> Path:
    """``[first ; second]`` per word of either space, both halves unit rows (zeros where a space lacks the word)."""
    key = hashlib.sha1(f"{first.resolve()}|{second.resolve()}".encode()).hexdigest()[:16]
    folder = Path(cache_dir) / "concat" / key
    with build_lock(folder):
        if not all((folder / f"{side}.mapped.vec").is_file() for side in ("src", "tgt")):
            _concatenate(first, second, folder)
    return folder


def _concatenate(first: Path, second: Path, folder: Path) -> None:
    for side in ("src", "tgt"):
        a, b = (load_vectors(root / f"{side}.mapped.vec") for root in (first, second))
        unit_a, unit_b = unit_length(a.matrix), unit_length(b.matrix)
        words = list(dict.fromkeys([*a.words, *b.words]))
        matrix = np.zeros((len(words), a.dim + b.dim), dtype=np.float32)
        for row, word in enumerate(words):
            found_a, found_b = a.lookup(word), b.lookup(word)  # exact, then lowercase, then digits as 0
            if found_a is not None:
                matrix[row, :a.dim] = unit_a[found_a]
            if found_b is not None:
                matrix[row, a.dim:] = unit_b[found_b]
        save_vec(folder / f"{side}.mapped.vec", words, matrix)
    log.info("concatenated word space %s ⊕ %s in %s", first, second, folder)
