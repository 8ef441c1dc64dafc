"""``zsner.load``: any trained model, found once at the edge, as a ``Tagger``.

Accepted: a ``zsner train`` run folder (``best-model.pt``), a ``zsner transfer`` variant folder (``best-<select>.pt``,
e.g. ``runs/en-es-augmented/seed1/augmented``), a ``zsner transformer`` run folder (the checkpoint that
``metrics.json`` selected by ``select``: src-dev, the truly unsupervised criterion, by default), or a model file
of either backend. Anything else -- a folder of another kind, an unfinished run, a resumable ``checkpoint.pt`` --
is a one-line ``ZsnerError`` naming the path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ZsnerError
from ..extras import require
from ..jsonfile import read_json

SELECTIONS = ("src-dev", "tgt-dev", "tgt-test")
DECODINGS = ("argmax", "viterbi")
QUANTIZATIONS = ("none", "int8", "bf16")
QUANTIZE_HELP = ("transformer on the CPU: int8 (every linear layer of the encoder in int8, one activation scale per "
                 "token; es -0.2 F1) or bf16 (bfloat16 products on the CPU's AMX / AVX512-BF16 units); "
                 "docs/results/tagging.md §12.7, §12.10")
DECODE_HELP = ("transformer, softmax head: argmax (each word's best tag, as the HF pipeline gives an export) or "
               "viterbi (the best IOB2-valid tag sequence; es test +2.8 F1, docs/results/tagging.md §12.9)")
TRANSFORMER_FORMAT = "zsner-transformer-1"


@dataclass
class ModelFile:
    kind: str  # classic | transformer
    file: Path


def find_model(path, select: str = "src-dev") -> ModelFile:
    """The model file behind ``path`` and its backend, read once (tensors only: loading never runs code)."""
    if select not in SELECTIONS:
        raise ZsnerError(f"unknown --select {select!r}: use {', '.join(SELECTIONS)}")
    path = Path(path)
    if not path.exists():
        raise ZsnerError("no such model file or run folder", path)
    if path.is_dir():
        return _in_folder(path, select)
    return ModelFile(_file_kind(path), path)


def _in_folder(folder: Path, select: str) -> ModelFile:
    if (folder / "checkpoints").is_dir() or _backend(folder) == "transformer":
        metrics = folder / "metrics.json"
        if not metrics.is_file():
            raise ZsnerError("unfinished transformer run (no metrics.json yet): let it finish, or resume it with "
                             "'zsner transformer --resume', or give one of its checkpoints/*.pt", folder)
        selection = read_json(metrics, "run metrics").get("selection")
        entry = selection.get(select) if isinstance(selection, dict) else None
        chosen = entry.get("checkpoint") if isinstance(entry, dict) else None
        if not isinstance(chosen, str) or not chosen:
            raise ZsnerError(f"this transformer run kept no {select} checkpoint", metrics)
        return ModelFile("transformer", folder / chosen)
    for name in ("best-model.pt", f"best-{select}.pt"):
        if (folder / name).is_file():
            return ModelFile("classic", folder / name)
    if (folder / "checkpoint.pt").is_file():
        raise ZsnerError("unfinished run: it has a checkpoint.pt but no best model yet", folder)
    variants = sorted(str(p.parent) for p in folder.glob("seed*/*/best-src-dev.pt"))
    if variants:
        raise ZsnerError(f"a transfer run's top folder: give one variant folder, e.g. {variants[-1]}", folder)
    raise ZsnerError("not a zsner run folder (no best-model.pt, best-*.pt or transformer checkpoints)", folder)


def _backend(folder: Path) -> str:
    metrics = folder / "metrics.json"
    return read_json(metrics, "run metrics").get("backend", "") if metrics.is_file() else ""


def _file_kind(path: Path) -> str:
    from ..train.model_io import read_torch_file

    archive = read_torch_file(path)
    if isinstance(archive, dict) and archive.get("format") == TRANSFORMER_FORMAT:
        return "transformer"
    if isinstance(archive, dict) and {"state", "tagger", "vocabs"} <= set(archive):
        return "classic"
    if isinstance(archive, dict) and ("format" in archive or {"model", "optimizer"} <= set(archive)):
        raise ZsnerError("a resumable training checkpoint, not a model: give the run folder or a best-*.pt / "
                         "checkpoints/*.pt file", path)
    raise ZsnerError("not a zsner model file", path)


def load(path, *, lang: str | None = None, select: str = "src-dev", device: str = "auto",
         embeddings: str | None = None, batch_size: int | None = None, quantize: str | bool = "none",
         model_folder: str = "", threads: int | None = None, found: ModelFile | None = None, decode: str = "argmax"):
    """A ``Tagger`` for the model at ``path``: ``tagger("raw text")`` -> ``Document``, ``tagger.pipe(texts)``.

    ``lang``: the text's language (a transfer model reads its target by default); ``embeddings``: vectors of
    that language in the classic model's word space for words its vocabulary lacks; ``quantize``: a transformer
    encoder on the CPU in ``"int8"`` or ``"bf16"`` (``True``: int8); ``model_folder``: the transformer's base
    Hugging Face folder, when it moved;
    ``found``: ``find_model(path, select)`` when the caller already checked the path (read once); ``decode``: a
    softmax-head transformer's ``argmax`` (the HF pipeline's tags) or ``viterbi`` (constrained IOB2 decoding).
    """
    import torch

    from ..device import resolve_device
    from .tagger import Tagger

    quantize = {True: "int8", False: "none", None: "none"}.get(quantize, quantize)
    found = found or find_model(path, select)
    if found.kind == "transformer":
        require("transformer", "a transformer model")
    if threads:
        torch.set_num_threads(threads)
    resolved = resolve_device(device)
    if found.kind == "transformer":
        from .transformer import TransformerBackend

        backend = TransformerBackend(found.file, lang, resolved, batch_size or 64, quantize, model_folder, decode)
        backend.lang = backend.lang or _transformer_target(found.file)
    else:
        if quantize != "none" or decode != "argmax":
            flag = "--quantize" if quantize != "none" else "--decode"
            raise ZsnerError(f"{flag} applies to transformer models only", found.file)
        from .classic import ClassicBackend

        backend = ClassicBackend(found.file, lang, embeddings or "", resolved, batch_size or 256)
    info = {"model": str(path), "file": str(found.file), "kind": found.kind, "lang": backend.lang,
            "device": str(resolved), "select": select, "decode": decode, "quantize": quantize}
    # Sentences gathered before a backend call: the backend sorts them by length into its batches, so a larger pool
    # pads less (classic, English dev: 16 x 256 tags 1.4x the sentences per CPU-second of 4 x 256).
    return Tagger(backend, info, batch_size=16 * (batch_size or 256) if found.kind == "classic" else 256)


def _transformer_target(checkpoint: Path) -> str:
    """The first target language of the run a checkpoint belongs to (its config.json), else ''."""
    config = checkpoint.parent.parent / "config.json"
    if not config.is_file():
        return ""
    train = read_json(config, "run configuration").get("train")
    target = train.get("tgt", "") if isinstance(train, dict) else ""
    return target.split(",")[0] if isinstance(target, str) else ""
