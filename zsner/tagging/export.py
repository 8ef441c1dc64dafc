"""A zsner transformer checkpoint as a plain Hugging Face token-classification folder, for use without zsner.

The folder loads offline with ``transformers.pipeline("token-classification", model=FOLDER,
aggregation_strategy="first")`` or ``AutoModelForTokenClassification.from_pretrained(FOLDER)``. Weights: the
base model folder's encoder with the checkpoint's trained tensors on top becomes ``model.base_model``; zsner's
``classifier`` (a Linear over the last hidden state, read at each word's first piece) becomes ``model.classifier``
(BERT, XLM-R, DistilBERT, DeBERTa, ELECTRA: all ``*ForTokenClassification`` name it so); the language and cloze
heads are left out. IOBES tags are named by their IOB2 reading (S- as B-, E- as I-), the names the pipeline groups.

Agreement with zsner's own tags, for text whose words are separated by single spaces: the pipeline labels each
*tokenizer* word by its first piece, as zsner labels each word. They are the same words unless the tokenizer cuts a
word at punctuation (WordPiece: ``"Corea-Japón"``, ``"4.000"``; SentencePiece: a word whose first piece is a lone
``"▁"``), which the pipeline then labels part by part. Sentences longer than zsner's window (64 pieces) are cut
into overlapping windows by zsner but read whole by the pipeline, up to the tokenizer's ``model_max_length``
(capped here at the model's positions), beyond which the pipeline truncates unless it is given ``stride=N``.

``out`` is written as ``.OUT.tmp-*`` beside it and renamed when complete. An existing ``out`` must be empty or a
previous export (its config.json carries ``zsner_export``), which is then replaced.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..atomic import write_error
from ..errors import ZsnerError

EXPORT_FORMAT = "zsner-hf-export-1"
_NO_LIMIT = 10 ** 9  # tokenizers without a length limit report about 1e30


def export_hf(checkpoint: Path, out: Path, model_folder: str = "") -> Path:
    """Write ``out`` as a folder that ``transformers.pipeline("token-classification", model=out,
    aggregation_strategy="first")`` loads offline: config.json with id2label/label2id, the weights (safetensors),
    the tokenizer files."""
    from ..extras import require
    from ..runs import writing

    require("transformer", "zsner export --format hf")
    with writing(out):  # one writer per folder
        return _export(Path(checkpoint), Path(out), model_folder)


def _export(checkpoint: Path, out: Path, model_folder: str) -> Path:
    from ..transformer.run import load_checkpoint, read_checkpoint

    if checkpoint.is_dir():
        raise ZsnerError("expected a checkpoint file, found a folder", checkpoint)
    archive = read_checkpoint(checkpoint)
    model_config = archive.get("model_config") or {}
    if model_config.get("head") == "crf":
        raise ZsnerError("a CRF-head checkpoint cannot be exported: the Hugging Face pipeline labels each word by "
                         "argmax and has no transition matrix; train with --head softmax, or tag with 'zsner tag', "
                         "which decodes the CRF", checkpoint)
    base = Path(model_folder or model_config.get("model", "")).expanduser()
    if not (base / "config.json").is_file():
        raise ZsnerError("the Hugging Face folder the checkpoint was trained from is not there (no config.json); "
                         "give its new place with --model-folder PATH", base)
    check_target(out)
    model, tokens, archive = load_checkpoint(checkpoint, str(base))
    hf_model = token_classifier(model)
    hf_model.config.zsner_export = {"format": EXPORT_FORMAT, "checkpoint": checkpoint.name, "tags": model.tags,
                                    "scheme": model_config.get("scheme", "iob2"),
                                    "window": model_config.get("window"), "meta": archive.get("meta", {})}
    tokenizer = fast_tokenizer(tokens.tokenizer, base)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as err:
        raise write_error(out, err) from None
    try:
        hf_model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        drop_load_options(staging / "tokenizer_config.json")
        replace_folder(staging, out)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError):  # a full disk, a read-only folder: the earlier export, if any, is unchanged
            raise write_error(out, err) from None
        raise
    return out


def check_target(out: Path) -> None:
    """Refuse an ``out`` that is a file, or a non-empty folder other than a previous export."""
    if out.exists() and not out.is_dir():
        raise ZsnerError("export target is a file, not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not is_export(out):
        raise ZsnerError("export target folder is not empty and not a previous zsner export; choose another", out)


def is_export(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and (config.get("zsner_export") or {}).get("format") == EXPORT_FORMAT


def iob2_name(tag: str) -> str:
    """The IOB2 reading of a tag name (IOBES ``S-X`` -> ``B-X``, ``E-X`` -> ``I-X``), as the pipeline groups them."""
    prefix, _, kind = tag.partition("-")
    return {"S": "B", "E": "I"}.get(prefix, prefix) + "-" + kind if kind else tag


def token_classifier(model):
    """The ``AutoModelForTokenClassification`` of ``model``'s encoder with its encoder and classifier weights."""
    import torch
    from transformers import AutoModelForTokenClassification

    encoder = model.encoder
    config = encoder.config.__class__.from_dict(encoder.config.to_dict())
    id2label = {index: iob2_name(tag) for index, tag in enumerate(model.tags)}
    config.num_labels = len(model.tags)
    config.id2label = id2label
    config.label2id = {label: index for index, label in reversed(id2label.items())}  # duplicates: the first id
    hf_model = AutoModelForTokenClassification.from_config(config)
    head = getattr(hf_model, "classifier", None)
    if not isinstance(head, torch.nn.Linear) or head.weight.shape != model.classifier.weight.shape:
        raise ZsnerError(f"cannot export: {type(hf_model).__name__} has no linear classifier of the tagger's shape")
    state = {name: tensor for name, tensor in encoder.state_dict().items() if not name.startswith("pooler.")}
    missing, unexpected = hf_model.base_model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.startswith("pooler.")]
    if missing or unexpected:
        raise ZsnerError(f"cannot export: {type(hf_model).__name__} does not fit the encoder (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    head.load_state_dict(model.classifier.state_dict())
    return hf_model.float().eval()


def fast_tokenizer(tokenizer, base: Path):
    """The model's tokenizer as a fast one (offsets: the pipeline's word aggregation needs them), length-capped."""
    if not tokenizer.is_fast:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(base), use_fast=True, local_files_only=True)
        except (OSError, ValueError) as err:
            raise ZsnerError(f"cannot build a fast tokenizer: {str(err).splitlines()[0]}", base) from None
        if not tokenizer.is_fast:
            raise ZsnerError("the tokenizer has no fast version: the pipeline cannot aggregate words without "
                             "offsets", base)
    config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and (tokenizer.model_max_length or _NO_LIMIT) >= _NO_LIMIT:
        offset = 2 if "roberta" in config.get("model_type", "") or config.get("model_type") == "camembert" else 0
        tokenizer.model_max_length = positions - offset  # RoBERTa-style positions start after the padding id
    return tokenizer


def drop_load_options(path: Path) -> None:
    """Remove the options of our own offline load that transformers saves as tokenizer settings (a copy of the
    folder elsewhere, e.g. on the Hub, must not inherit ``local_files_only``)."""
    if path.is_file():
        settings = json.loads(path.read_text(encoding="utf-8"))
        for name in ("local_files_only", "is_local", "name_or_path"):
            settings.pop(name, None)
        path.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def replace_folder(staging: Path, out: Path) -> None:
    """Move the complete ``staging`` folder to ``out``, replacing an earlier export (or an empty folder)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
