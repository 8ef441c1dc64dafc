"""A grid's specification: a JSON (or, with PyYAML, YAML) file and/or ``zsner grid`` flags.

    {"name": "en-x", "backend": "classic", "pairs": ["en-es", "en-nl"], "modes": ["shared", "augmented"],
     "seeds": 2, "flags": {"epochs": 10, "eval-every": 300}, "settings": {"tied": {}, "untied": {"shared-lstm": false}}}

``flags`` go to every run's zsner command (``zsner transfer`` for the classic backend, ``zsner transformer`` for
the transformer one), ``settings`` (file only) multiply the grid: one run per setting, its flags added.
Flag values: ``true`` -> ``--flag``, a list -> comma-joined, anything else -> its text.
"""
from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ..config import field_type_error
from ..errors import ZsnerError

BACKEND_COMMANDS = {"classic": "transfer", "transformer": "transformer"}
GRID_FLAGS = ("src", "tgt", "mode", "seed", "seeds", "out", "overwrite", "resume", "round-robin")  # the grid sets them


@dataclass
class GridSpec:
    name: str = "grid"  # default folder: runs/grid-NAME
    backend: str = "classic"  # classic (zsner transfer) | transformer (zsner transformer)
    pairs: str = "en-es"  # comma-separated SRC-TGT pairs (a file may give a list); en+es+nl-de: several languages
    modes: str = ""  # comma-separated variants / modes; empty: augmented (classic) or zero-shot (transformer)
    seeds: int = 1  # seeds first_seed .. first_seed + seeds - 1 of each pair, mode and setting
    first_seed: int = 1
    flags: str = ""  # zsner flags of every run, e.g. "--epochs 10 --eval-every 300" (a file may give an object)
    gpus: float = 0.0  # GPUs per run (Ray num_gpus); every run takes 1 CPU
    retries: int = 2  # Ray max_retries: a run whose process dies starts again, from its checkpoint
    out: str = ""  # grid folder (default runs/grid-NAME): one folder per run, results.json / results.md
    settings: dict = field(default_factory=dict)  # file only: setting name -> its flags

    @property
    def folder(self) -> Path:
        return Path(self.out or f"runs/grid-{self.name}")

    def mode_list(self) -> list[str]:
        return _items(self.modes) or ["augmented" if self.backend == "classic" else "zero-shot"]

    def pair_list(self) -> list[tuple[str, str]]:
        """(src, tgt) of each pair, each side a comma-separated language list (``+`` joins languages in a pair:
        ``en+es+nl-de`` trains on three and tests on German; transformer backend)."""
        pairs = []
        for pair in _items(self.pairs):
            src, _, tgt = pair.partition("-")
            if not src or not tgt or "" in src.split("+") + tgt.split("+"):
                raise ZsnerError(f"pairs: {pair!r} is not SRC-TGT (e.g. en-es, or en+es+nl-de)")
            if self.backend == "classic" and "+" in pair:
                raise ZsnerError(f"pairs: {pair!r}: the classic backend transfers from one language to one")
            pairs.append((src.replace("+", ","), tgt.replace("+", ",")))
        return pairs

    def setting_list(self) -> list[tuple[str, list[str]]]:
        """(name, flags) of each setting; one unnamed setting when there are none."""
        return [(name, flag_words(flags, f"settings.{name}")) for name, flags in self.settings.items()] or [("", [])]


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def flag_words(flags, where: str = "flags") -> list[str]:
    """zsner command-line words of a flags string, list or object; the flags the grid sets are refused."""
    if isinstance(flags, str):
        try:
            words = shlex.split(flags)
        except ValueError as err:  # e.g. an unclosed quote
            raise ZsnerError(f"{where}: {err} in {flags!r}") from None
    elif isinstance(flags, list) and all(isinstance(word, (str, int, float)) for word in flags):
        words = [str(word) for word in flags]
    elif isinstance(flags, dict):
        words = []
        for key, value in flags.items():
            option = "--" + str(key).replace("_", "-")
            if value is True:
                words.append(option)
            elif isinstance(value, (list, tuple)):
                words += [option, ",".join(map(str, value))]
            else:
                words += [option, "false" if value is False else str(value)]
    else:
        raise ZsnerError(f"{where} must be a string, a list of words or an object of flags")
    for word in words:
        if word.startswith("--") and word[2:].split("=", 1)[0] in GRID_FLAGS:
            raise ZsnerError(f"{where}: {word.split('=', 1)[0]} is set by the grid (pairs, modes, seeds, out); "
                             "to redo runs, use zsner grid --overwrite")
    return words


def _normalised(values: dict, source) -> dict:
    """A spec file's values with lists / objects turned into the dataclass's strings."""
    values = dict(values)
    for key in ("pairs", "modes"):
        if isinstance(values.get(key), list):
            values[key] = ",".join(map(str, values[key]))
    if isinstance(values.get("flags"), (list, dict)):
        values["flags"] = shlex.join(flag_words(values["flags"]))
    if not isinstance(values.get("settings", {}), dict):
        raise ZsnerError("settings must be an object: setting name -> its flags", source)
    return values


def read_spec(path) -> GridSpec:
    """The spec in a JSON or YAML file; a bad file is one ``ZsnerError`` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ZsnerError(f"cannot read the grid spec ({type(err).__name__})", path) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ZsnerError("a YAML spec needs PyYAML (pip install pyyaml); or write it as JSON", path) from None
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ZsnerError(f"not valid YAML: {' '.join(str(err).split())}", path) from None
        except (ValueError, RecursionError) as err:
            raise ZsnerError(f"not YAML that can be read ({type(err).__name__})", path) from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ZsnerError(f"not valid JSON: {err.msg}", path, err.lineno) from None
        except (ValueError, RecursionError) as err:  # over 4300 digits; nesting deeper than Python's stack
            raise ZsnerError(f"not JSON that can be read ({type(err).__name__})", path) from None
    if not isinstance(values, dict):
        raise ZsnerError("a grid spec is an object of fields", path)
    names = [f.name for f in dataclasses.fields(GridSpec)]
    unknown = sorted(map(str, set(values) - set(names)))
    if unknown:
        raise ZsnerError(f"unknown field {unknown[0]!r} (fields: {', '.join(names)})", path)
    try:
        values = _normalised(values, path)
    except ZsnerError as err:
        raise ZsnerError(str(err), path) from None
    problem = field_type_error(GridSpec, values)
    if problem:
        raise ZsnerError(problem, path)
    return GridSpec(**values)


def check(spec: GridSpec) -> GridSpec:
    """The values a grid cannot run with, as one ``ZsnerError``."""
    if spec.backend not in BACKEND_COMMANDS:
        raise ZsnerError(f"backend must be one of {', '.join(BACKEND_COMMANDS)}, not {spec.backend!r}")
    if spec.seeds < 1 or spec.retries < 0 or spec.gpus < 0:
        raise ZsnerError("seeds must be >= 1, retries >= 0 and gpus >= 0")
    if not spec.name or "/" in spec.name:
        raise ZsnerError(f"name must be a plain folder name, not {spec.name!r}")
    flag_words(spec.flags)
    spec.pair_list()
    spec.setting_list()
    return spec
