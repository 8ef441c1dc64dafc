"""Self-contained model files: weights + vocabularies + configs in one ``torch.save`` archive (atomic)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_open
from ..config import TaggerConfig, from_dict, to_dict
from ..data.tags import allowed_transitions
from ..errors import ZsnerError
from ..nn.tagger import Tagger
from .prepare import Vocabs

MODEL_FILE = "best-model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
EMBEDDINGS_FILE = "embeddings.npy"  # the frozen word-embedding table, stored once per run folder


def compact_state(model: torch.nn.Module) -> dict:
    """``state_dict`` without frozen word-embedding tables (saved once as ``embeddings.npy`` instead of in every
    checkpoint and best model)."""
    frozen = {name for name, param in model.named_parameters() if not param.requires_grad}
    return {key: value for key, value in model.state_dict().items() if key not in frozen}


def load_compact_state(model: torch.nn.Module, state: dict) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    frozen = {name for name, param in model.named_parameters() if not param.requires_grad}
    if unexpected or set(missing) - frozen:
        raise ZsnerError(f"model file does not fit the architecture (missing {sorted(set(missing) - frozen)[:3]}, "
                         f"unexpected {unexpected[:3]})")


def save_embeddings(out_dir, matrix) -> None:
    with atomic_open(Path(out_dir) / EMBEDDINGS_FILE, "wb") as handle:
        np.save(handle, np.asarray(matrix, dtype=np.float32))


def save_archive(path, archive: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves a half-written archive."""
    buffer = io.BytesIO()
    torch.save(archive, buffer)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getbuffer())


def load_archive(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ZsnerError("no such model file (was training run to its first evaluation?)", path)
    return torch.load(path, map_location="cpu", weights_only=False)


def build_tagger(config: TaggerConfig, vocabs: Vocabs) -> Tagger:
    constraints = allowed_transitions(vocabs.tags.items, "iobes")
    return Tagger(config, len(vocabs.words), len(vocabs.chars), len(vocabs.tags), constraints)


def build_model(kind: str, config: TaggerConfig, vocabs: Vocabs):
    """A fresh model of an archive's ``kind``: ``tagger`` or ``augmented`` (Cross-Augmented: source tagger plus
    target encoder)."""
    source = build_tagger(config, vocabs)
    if kind == "augmented":
        from ..transfer.augmented import AugmentedTagger

        return AugmentedTagger(source, config, len(vocabs.tags), allowed_transitions(vocabs.tags.items, "iobes"))
    if kind != "tagger":
        raise ZsnerError(f"unknown model kind {kind!r} in the model file")
    return source


def save_model(path, model: Tagger, vocabs: Vocabs, tagger_config: TaggerConfig, extra: dict | None = None) -> None:
    """Weights (frozen embeddings excluded: they live in ``embeddings.npy`` beside the file), vocabularies and
    the architecture config."""
    save_archive(path, {"state": compact_state(model), "vocabs": vocabs.to_dict(),
                        "tagger": to_dict(tagger_config), "embeddings": EMBEDDINGS_FILE, **(extra or {})})


def model_file(path) -> Path:
    """A model file, or in a run folder its ``best-model.pt`` (``zsner train``) or ``best-src-dev.pt`` (a transfer
    variant's folder: the checkpoint of the unsupervised selection criterion)."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / MODEL_FILE, path / "best-src-dev.pt"]
        return next((candidate for candidate in candidates if candidate.is_file()), candidates[0])
    return path


def load_model(path, embeddings: np.ndarray | None = None) -> tuple[Tagger, Vocabs, TaggerConfig, dict]:
    """A tagger or Cross-Augmented model from a model file or run folder (see ``model_file``). A frozen word table
    comes from ``embeddings`` when the caller already holds it, else from the file beside the model."""
    path = model_file(path)
    archive = load_archive(path)
    config = from_dict(TaggerConfig, archive["tagger"])
    vocabs = Vocabs.from_dict(archive["vocabs"])
    model = build_model(archive.get("kind", "tagger"), config, vocabs)
    load_compact_state(model, archive["state"])
    if "encoder.word_embedding.weight" in archive["state"]:
        return model, vocabs, config, archive
    if embeddings is None:
        table = path.parent / archive.get("embeddings", EMBEDDINGS_FILE)
        if not table.is_file():
            raise ZsnerError("the model's word-embedding table is missing", table)
        embeddings = np.load(table)
    model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(embeddings))
    return model, vocabs, config, archive
