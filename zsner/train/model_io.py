"""Self-contained model files: weights + vocabularies + configs in one ``torch.save`` archive (atomic)."""
from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_open
from ..config import TaggerConfig, field_type_error, from_dict, short_repr, to_dict
from ..data.conll import TAG_PATTERN
from ..data.tags import allowed_transitions
from ..data.vocab import PAD, UNK
from ..errors import ZsnerError
from ..nn.tagger import Tagger
from .prepare import Vocabs

MODEL_FILE = "best-model.pt"
CHECKPOINT_FILE = "checkpoint.pt"
EMBEDDINGS_FILE = "embeddings.npy"  # where model files written before ``word_table`` find their table
_NUMPY = "__numpy__"  # marks a numpy array stored as a tensor (archives hold only tensors and plain containers)


def _frozen(model: torch.nn.Module) -> set[str]:
    """Names of the frozen parameters, shared ones under every name (the Cross-Augmented word table)."""
    return {name for name, param in model.named_parameters(remove_duplicate=False) if not param.requires_grad}


def compact_state(model: torch.nn.Module) -> dict:
    """``state_dict`` without frozen word-embedding tables (a model file stores its table once, as
    ``word_table``; a resumable checkpoint rebuilds it from the run's data)."""
    frozen = _frozen(model)
    return {key: value for key, value in model.state_dict().items() if key not in frozen}


def load_compact_state(model: torch.nn.Module, state: dict, path=None) -> None:
    """Weights into ``model``; anything that does not fit (names, shapes, non-float tensors) is a ``ZsnerError``
    naming ``path``."""
    if not isinstance(state, dict) or not all(isinstance(key, str) and isinstance(value, torch.Tensor)
                                              and value.is_floating_point() for key, value in state.items()):
        raise ZsnerError("damaged model weights (not a mapping of names to float tensors)", path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # e.g. size mismatch
        raise ZsnerError(f"model file does not fit the architecture ({_first_line(err).strip()})", path) from None
    absent = sorted(set(missing) - _frozen(model))
    if unexpected or absent:
        raise ZsnerError(f"model file does not fit the architecture (missing {absent[:3]}, "
                         f"unexpected {unexpected[:3]})", path)


def _plain(value):
    """Numpy arrays and scalars as tensors and Python numbers, so that ``weights_only`` loading accepts them."""
    if isinstance(value, np.ndarray):
        return {_NUMPY: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def _restore(value):
    """The inverse of ``_plain``: marked tensors back to numpy arrays (a marker around anything else, or around a
    tensor numpy cannot hold, is a ``ValueError``: the archive is damaged)."""
    if isinstance(value, dict):
        if len(value) == 1 and _NUMPY in value:
            array = value[_NUMPY]
            if not isinstance(array, torch.Tensor) or array.dtype in (torch.bfloat16, torch.complex32):
                raise ValueError(f"a stored array holds {type(array).__name__} "
                                 f"{getattr(array, 'dtype', '')}".strip())
            return array.numpy()
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_restore(item) for item in value)
    return value


def save_archive(path, archive: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves a half-written archive."""
    buffer = io.BytesIO()
    torch.save(_plain(archive), buffer)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getbuffer())


def read_torch_file(path) -> object:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only, so a model file can never run
    code. Anything else (a corrupt file, a pickle of other objects) is the user's error, naming the file."""
    try:
        with warnings.catch_warnings():  # e.g. a pickle protocol note: the outcome is reported below, in one line
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ZsnerError("no such model file", path) from None
    except IsADirectoryError:
        raise ZsnerError("expected a model file, found a folder", path) from None
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower():
            raise ZsnerError("refused: the file holds objects other than tensors and plain data (loading it could "
                             "run code)", path) from None
        raise ZsnerError(f"not a readable model file ({_first_line(err)})", path) from None
    except Exception as err:  # noqa: BLE001 - not a torch archive, truncated, or text: the unpickler fails anyhow
        raise ZsnerError(f"not a readable model file ({type(err).__name__}: {_first_line(err)})", path) from None


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err).strip() else type(err).__name__


def load_archive(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ZsnerError("no such model file (was training run to its first evaluation?)", path)
    archive = read_torch_file(path)
    if not isinstance(archive, dict) or not isinstance(archive.get("state", archive.get("model")), dict):
        raise ZsnerError("not a zsner model file (no weights in it)", path)
    try:
        return _restore(archive)
    except ValueError as err:
        raise ZsnerError(f"damaged file: {err}", path) from None


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
    """Weights, vocabularies and the architecture config in one self-contained file; a frozen word table is
    stored once, as ``word_table`` (float32)."""
    table = {}
    if not model.encoder.word_embedding.weight.requires_grad:
        table["word_table"] = model.encoder.word_embedding.weight.detach().to("cpu", torch.float32).contiguous()
    save_archive(path, {"state": compact_state(model), "vocabs": vocabs.to_dict(),
                        "tagger": to_dict(tagger_config), **table, **(extra or {})})


def model_file(path) -> Path:
    """A model file, or in a run folder its ``best-model.pt`` (``zsner train``) or ``best-src-dev.pt`` (a transfer
    variant's folder: the checkpoint of the unsupervised selection criterion)."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / MODEL_FILE, path / "best-src-dev.pt"]
        return next((candidate for candidate in candidates if candidate.is_file()), candidates[0])
    return path


_SIZES = ("char_dim", "char_hidden", "word_dim", "word_hidden", "dense_dim", "max_word_length")


def archive_problem(archive: dict) -> str | None:
    """What makes a model archive unusable (its config, vocabularies or extra fields), as a message; else None."""
    tagger, vocabs = archive["tagger"], archive["vocabs"]
    problem = field_type_error(TaggerConfig, tagger)
    if problem:
        return f"tagger.{problem}"
    for name in _SIZES:
        if name in tagger and tagger[name] < 1:
            return f"tagger.{name} must be at least 1, got {short_repr(tagger[name])}"
    if "dropout" in tagger and not 0.0 <= tagger["dropout"] <= 1.0:
        return f"tagger.dropout must be between 0 and 1, got {short_repr(tagger['dropout'])}"
    if not isinstance(vocabs, dict):
        return "vocabs is not a mapping"
    for name in ("words", "chars", "tags"):
        items = vocabs.get(name)
        if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
            return f"vocabs.{name} is not a list of strings"
        if name != "tags" and list(items[:2]) != [PAD, UNK]:
            return f"vocabs.{name} does not start with {PAD}, {UNK}"
    if not vocabs["tags"] or not all(TAG_PATTERN.match(tag) for tag in vocabs["tags"]):
        return "vocabs.tags is not a list of NER tags (O, B-/I-/E-/S-TYPE)"
    for name in ("lang", "tgt", "embeddings"):
        if name in archive and not isinstance(archive[name], str):
            return f"{name} is not a string"
    if archive.get("tgt") and not archive.get("lang"):
        return "a transfer model names its target (tgt) but not its source (lang)"
    if "word_table" in archive and not (isinstance(archive["word_table"], torch.Tensor)
                                        and archive["word_table"].is_floating_point()):
        return "word_table is not a float tensor"
    return None


def load_model(path, embeddings: np.ndarray | None = None) -> tuple[Tagger, Vocabs, TaggerConfig, dict]:
    """A tagger or Cross-Augmented model from a model file or run folder (see ``model_file``). A frozen word table
    comes from the file itself; older files without one take ``embeddings`` (when the caller holds it) or the
    run folder's ``embeddings.npy``."""
    path = model_file(path)
    archive = load_archive(path)
    if not {"state", "tagger", "vocabs"} <= set(archive) or not isinstance(archive["tagger"], dict):
        raise ZsnerError("not a zsner model file (no weights, vocabularies or config in it)", path)
    problem = archive_problem(archive)
    if problem:
        raise ZsnerError(f"damaged model file: {problem}", path)
    config = from_dict(TaggerConfig, archive["tagger"])
    vocabs = Vocabs.from_dict(archive["vocabs"])
    kind = archive.get("kind", "tagger")
    if kind not in ("tagger", "augmented"):
        raise ZsnerError(f"damaged model file: unknown model kind {short_repr(kind)}", path)
    model = build_model(kind, config, vocabs)
    load_compact_state(model, archive["state"], path)
    if model.encoder.word_embedding.weight.requires_grad:
        return model, vocabs, config, archive
    table = archive.get("word_table")
    if table is None and embeddings is None:
        beside = path.parent / archive.get("embeddings", EMBEDDINGS_FILE)
        if not beside.is_file():
            raise ZsnerError("the model's word-embedding table is missing", beside)
        try:
            embeddings = np.asarray(np.load(beside), dtype=np.float32)
        except (OSError, ValueError, EOFError, TypeError) as err:
            raise ZsnerError(f"not a readable word-embedding table ({type(err).__name__}: {_first_line(err)})",
                             beside) from None
    table = table if table is not None else torch.from_numpy(np.asarray(embeddings, dtype=np.float32))
    if tuple(table.shape) != tuple(model.encoder.word_embedding.weight.shape):
        raise ZsnerError(f"word table of shape {tuple(table.shape)} does not fit the model "
                         f"{tuple(model.encoder.word_embedding.weight.shape)}", path)
    model.encoder.word_embedding.weight.data.copy_(table)
    return model, vocabs, config, archive
