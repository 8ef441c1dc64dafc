"""Config dataclasses with the paper's defaults, CLI overrides generated from their fields, JSON round trip.

Bari et al. (2020) follow Lample et al. (2016): char embedding 25, char BiLSTM 25 per direction, word
embedding 300, word BiLSTM 100 per direction, dropout 0.5, SGD lr 0.1 decayed per epoch, clipping 5.0,
batch 16, 30 epochs, dev evaluation every 150 batches.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, get_type_hints

from .errors import ZsnerError
from .jsonfile import read_json


@dataclass
class TaggerConfig:
    """Architecture of the char+word BiLSTM-CRF."""

    char_dim: int = 25
    char_hidden: int = 25  # per direction
    use_chars: bool = True
    word_dim: int = 300
    word_hidden: int = 100  # per direction
    dense_dim: int = 100  # the point-wise dense layer ("common encoder") before the CRF
    dropout: float = 0.5
    shared_lstm: bool = False  # tie forward/backward LSTM weights (char and word LSTMs)
    freeze_embeddings: bool = True
    constrained: bool = True  # hard IOBES transition constraints in the CRF
    max_word_length: int = 30  # characters kept per word (longer words are cut in the middle)


EVAL_OVERLAP = ("auto", "on", "off")


@dataclass
class TrainConfig:
    """Supervised training schedule (the paper's defaults) and run settings."""

    lang: str = "en"
    embeddings: str = ""  # vector file; empty = the language's vectors on the data search path
    max_vocab: int = 0  # keep the N most frequent pretrained words (0 = all)
    docstart: str = ""  # DOCSTART convention; empty = the dataset's default
    lr: float = 0.1
    lr_decay: float = 0.01  # lr_epoch = max(lr / (1 + lr_decay * epoch), min_lr)
    min_lr: float = 1e-4
    momentum: float = 0.0
    clip: float = 5.0
    batch_size: int = 16
    epochs: int = 30
    eval_every: int = 150  # batches between dev evaluations (and checkpoints)
    max_train_length: int = 250  # longer training sentences are skipped
    eval_batch_size: int = 256
    seed: int = 1
    threads: int = 1  # torch intra-op threads; measured fastest for this model on 2 cores (docs/results/speed.md §9.1)
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N; resolved by zsner.device
    eval_overlap: str = "auto"  # evaluate beside training on a second core: auto | on | off (same results)
    train_limit: int = 0  # use only the first N training sentences (0 = all); for tests and quick runs
    eval_limit: int = 0  # likewise for dev/test
    train_file: str = ""  # a UTF-8 CoNLL file trained on instead of the language's train split (projected data)
    dev_file: str = ""  # likewise for the dev split that selects the model (e.g. zsner project's dev.conll)

    def __post_init__(self):
        if self.eval_overlap not in EVAL_OVERLAP:
            raise ZsnerError(f"--eval-overlap must be one of {', '.join(EVAL_OVERLAP)}, not {self.eval_overlap!r}")


def to_dict(config) -> dict:
    """A config dataclass as a dict (a plain dict passes through)."""
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def from_dict(cls, values: dict):
    """Build ``cls`` from a dict, ignoring unknown keys (configs written by older versions still load)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in values.items() if key in names})


def save_configs(path, **configs) -> None:
    from .atomic import write_json

    write_json(path, {name: to_dict(config) for name, config in configs.items()})


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               tuple: "a list of integers"}


def fits_default(value, default) -> bool:
    """Whether a JSON value can stand for a field with this default (no bool for a number, no string for a
    list; a field without a plain default takes anything)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple)) and all(fits_default(item, 1) for item in value)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default)) if type(default) in _TYPE_NAMES else True


def field_type_error(cls, values: dict) -> str | None:
    """The first known field of ``values`` whose type does not fit ``cls``'s default, as a message; else None."""
    for f in dataclasses.fields(cls):
        if f.name in values and not fits_default(values[f.name], f.default):
            return f"{f.name} must be {_TYPE_NAMES[type(f.default)]}, got {short_repr(values[f.name])}"
    return None


def short_repr(value) -> str:
    """A value as one short line (a message names what it got, whatever it is)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def resume_overrides(args: argparse.Namespace, classes, safe, run_dir, also=()) -> dict:
    """The config flags given beside ``--resume``: those named in ``safe`` (they cannot change results) are
    returned, to apply to the saved configs; any other (or any of ``also``, names of other flags given) stops
    the command, since a resumed run continues its saved configuration and must not mix two runs."""
    given = {item.name: value for cls in classes for item in dataclasses.fields(cls)
             if (value := getattr(args, item.name, None)) is not None}
    unsafe = sorted(name for name in given if name not in safe) + list(also)
    if unsafe:
        flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
        raise ZsnerError(f"--resume continues the saved configuration; {', '.join(map(flag, unsafe))} would change "
                         f"it (only {', '.join(map(flag, safe))} may be given; start a new run with --out instead)",
                         run_dir)
    return given


def load_configs(path, **classes) -> dict:
    """The named configs of a run folder's ``config.json``; a damaged file stops with one line naming it."""
    data = read_json(path, "run configuration")
    for name, cls in classes.items():
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ZsnerError(f"damaged run configuration: {name!r} is not a JSON object", path)
        problem = field_type_error(cls, values)
        if problem:
            raise ZsnerError(f"damaged run configuration: {name}.{problem}", path)
    return {name: from_dict(cls, data.get(name, {})) for name, cls in classes.items()}


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` option per dataclass field; default None so only given options override."""
    hints = get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for item in dataclasses.fields(cls):
        if item.name in skip:
            continue
        kind = hints[item.name]
        flag = "--" + item.name.replace("_", "-")
        about = f"{item.metadata['help']} " if "help" in item.metadata else ""  # field(metadata={"help": ...})
        if kind is bool:
            group.add_argument(flag, type=_parse_bool, nargs="?", const=True, default=None, metavar="BOOL",
                               help=f"{about}(default {item.default})")
        else:
            group.add_argument(flag, type=kind, default=None, help=f"{about}(default {item.default})")


def apply_overrides(config, args: argparse.Namespace):
    """A copy of ``config`` with every field the user gave on the command line replaced."""
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        value = getattr(args, item.name, None)
        if value is not None:
            changes[item.name] = value
    return dataclasses.replace(config, **changes)


def override_flags(config) -> list[str]:
    """The inverse of ``apply_overrides``: ``--field-name=VALUE`` for each field that differs from its default,
    so that a command line rebuilds ``config`` (how a config built in one process becomes another's command)."""
    words = []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if value == item.default and type(value) is type(item.default):
            continue
        if isinstance(value, (tuple, list, dict)):
            raise ZsnerError(f"{item.name} has no command-line form ({value!r})")
        text = str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else value
        words.append(f"--{item.name.replace('_', '-')}={text}")
    return words
