"""Self-contained model files: weights + vocabularies + configs in one ``torch.save`` archive (atomic)."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ..atomic import atomic_open
from ..config import TaggerConfig, from_dict, to_dict
from ..data.tags import allowed_transitions
from ..errors import ZsnerError
from ..nn.tagger import Tagger
from .prepare import Vocabs

MODEL_FILE = "best-model.pt"
CHECKPOINT_FILE = "checkpoint.pt"


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


def save_model(path, model: Tagger, vocabs: Vocabs, tagger_config: TaggerConfig, extra: dict | None = None) -> None:
    save_archive(path, {"state": model.state_dict(), "vocabs": vocabs.to_dict(),
                        "tagger": to_dict(tagger_config), **(extra or {})})


def load_model(path) -> tuple[Tagger, Vocabs, TaggerConfig, dict]:
    """``path`` is a model file or a run folder (its ``best-model.pt``)."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    archive = load_archive(path)
    config = from_dict(TaggerConfig, archive["tagger"])
    vocabs = Vocabs.from_dict(archive["vocabs"])
    model = build_tagger(config, vocabs)
    model.load_state_dict(archive["state"])
    return model, vocabs, config, archive
