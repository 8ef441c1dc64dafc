"""Everything a ``zsner transfer`` / ``zsner transformer`` command checks before it starts, for every command of a
grid (``zsner grid``, also ``--dry-run``) or of ``zsner run`` / run.sh, before the first one starts (or Ray does):
the extras it needs, its flags, its languages (registered, their files on the data search path, the word vectors
it reads), the models it names (Hugging Face folders, transformer checkpoints). Nothing is trained or loaded:
files are found, not read, except a checkpoint's few fields and a model folder's config.json."""
from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

from ..config import TaggerConfig, TrainConfig, apply_overrides
from ..errors import ZsnerError
from ..extras import require
from ..jsonfile import read_json
from ..resources import SPLITS, dataset, dataset_path, embedding_path


def check_commands(commands, local: bool = True, names=None) -> None:
    """Check each zsner command (argv words without the program); ``local``: they run on this machine (their
    --device is checked here); ``names``: a name per command, put before its error (a grid step's)."""
    from .plan import parse_command

    seen: set = set()
    for position, command in enumerate(commands):
        try:
            args = parse_command(list(command))
            if args.command == "transfer":
                _transfer(args, local, seen)
            elif args.command == "transformer":
                _transformer(args, local, seen)
        except ZsnerError as err:
            raise ZsnerError(f"{names[position]}: {err}" if names else str(err)) from None


def _once(seen: set, key, check) -> None:
    if key not in seen:
        check()
        seen.add(key)


def _languages(seen: set, langs, splits, data_dir) -> None:
    for lang in langs:
        dataset(lang)  # a language the registry does not know
        for split in splits:
            _once(seen, ("file", lang, split, data_dir), lambda: dataset_path(lang, split, data_dir))


def hf_folder(path: str, flag: str) -> Path:
    """A local Hugging Face model folder named by ``flag``: its config.json is a model configuration."""
    if not path:
        raise ZsnerError(f"{flag} PATH is required: a local Hugging Face model folder")
    folder = Path(path).expanduser()
    config = folder / "config.json"
    if not config.is_file():
        raise ZsnerError(f"not a Hugging Face model folder (no config.json): {flag} PATH needs a local folder of a "
                         "pretrained encoder as save_pretrained writes it", folder)
    values = read_json(config, "model configuration")
    if not {"model_type", "architectures"} & set(values):
        raise ZsnerError(f"not a Hugging Face model folder (its config.json names no model_type): {flag} PATH needs "
                         "a pretrained encoder's folder", folder)
    return folder


def vectors_dim(path: Path) -> int | None:
    """The dimension a ``.vec`` / ``.vec.gz`` file's header gives (None: another format, or no header)."""
    name = path.name
    if not name.endswith((".vec", ".vec.gz")):
        return None
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else open(path, encoding="utf-8")) as f:
            fields = f.readline().split()
    except (OSError, UnicodeDecodeError, EOFError):
        return None  # the command's own reader says what is wrong with it
    return int(fields[1]) if len(fields) == 2 and all(field.isdigit() for field in fields) else None


def _transfer(args, local: bool, seen: set) -> None:
    from ..device import resolve_device
    from ..transfer.config import AugmentConfig, TransferConfig, check_options
    from ..transfer.inputs import check_mapping_dir, read_mapping_config
    from ..transfer.spaces import encoder_dim

    config, train = apply_overrides(TransferConfig(), args), apply_overrides(TrainConfig(), args)
    tagger, augment = apply_overrides(TaggerConfig(), args), apply_overrides(AugmentConfig(), args)
    check_options(config, augment.teacher, augment.teacher_decode)
    base = config.base_variant
    if local:
        resolve_device(train.device)
    data_dir = args.data_dir
    _languages(seen, (config.src, config.tgt), SPLITS, data_dir)
    for lang, needed in zip((config.src, config.tgt), config.vectors_required):
        if needed:
            dim = vectors_dim(embedding_path(lang, data_dir))
            if config.vectors != "encoder" and dim is not None and dim != tagger.word_dim:
                raise ZsnerError(f"{lang} vectors have dimension {dim} but --word-dim is {tagger.word_dim}",
                                 embedding_path(lang, data_dir))
    if config.vectors != "fasttext":
        _once(seen, ("encoder", config.encoder), lambda: (hf_folder(config.encoder, "--encoder"),
                                                          encoder_dim(config.encoder)))
    if config.mapping_dir and base != "mono":
        check_mapping_dir(config.mapping_dir)
    if config.mapping_config:
        read_mapping_config(config.mapping_config)
    _teachers(seen, augment.teacher)


def _transformer(args, local: bool, seen: set) -> None:
    from ..transformer.config import TransformerConfig, TransformerTrainConfig, split_list, validate
    from ..teachers import read_reference

    require("transformer", "zsner transformer")
    if args.resume:
        return  # the run's own configs, checked by the command
    model, train = apply_overrides(TransformerConfig(), args), apply_overrides(TransformerTrainConfig(), args)
    validate(model, train if local else replace(train, device="cpu"))  # a cluster's devices are not ours
    sources, targets, data_dir = split_list(train.src), split_list(train.tgt), train.data_dir or None
    if train.train_file:
        if not Path(train.train_file).is_file():
            raise ZsnerError("no such file (--train-file)", train.train_file)
        _languages(seen, sources, ("dev",), data_dir)
    else:
        _languages(seen, sources, ("train", "dev"), data_dir)
    unlabelled = bool(split_list(train.aux)) or train.mode == "augmented"
    _languages(seen, targets, ("train", "dev", "test") if unlabelled else ("dev", "test"), data_dir)
    _once(seen, ("model", model.model), lambda: hf_folder(model.model, "--model"))
    if train.init:
        _once(seen, ("init", train.init), lambda: read_reference(train.init, "--init"))
    _teachers(seen, train.teacher)


def _teachers(seen: set, references: str) -> None:
    """Each teacher of a comma-separated --teacher, once per grid."""
    from ..teachers import split_references, teacher_checkpoints

    if references and not split_references(references):
        teacher_checkpoints(references)  # names none: its error
    for reference in split_references(references):
        _once(seen, ("teacher", reference), lambda: teacher_checkpoints(reference))
