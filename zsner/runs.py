"""Honest reuse of run folders: a folder's ``config.json`` must match what is asked before its results (or its
checkpoint) are reused; otherwise the command stops with the differing fields, or ``--overwrite`` recomputes.

Fields that cannot change results (threads, device, evaluation batch size, progress bars) are not compared.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .errors import ZsnerError

RUNTIME_FIELDS = frozenset({"threads", "device", "eval_batch_size", "eval_overlap", "speculate", "progress",
                            "figures", "cache_dir"})


def flatten(config: dict, prefix: str = "") -> dict:
    """``{"train": {"epochs": 10}}`` -> ``{"train.epochs": 10}`` (lists and tuples compare as lists)."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def differences(stored: dict, wanted: dict) -> list[str]:
    """Dotted names of the result-relevant fields whose values differ (or exist on one side only)."""
    old, new = flatten(stored), flatten(wanted)
    return sorted(name for name in old.keys() | new.keys()
                  if name.rsplit(".", 1)[-1] not in RUNTIME_FIELDS and old.get(name) != new.get(name))


def claim(folder, wanted: dict, overwrite: bool = False, finished: str = "metrics.json") -> str:
    """What to do with ``folder`` for a run configured as ``wanted`` (the content its config.json will have):
    ``"fresh"`` (nothing there, or removed because ``overwrite``), ``"reuse"`` (finished with the same config) or
    ``"resume"`` (same config, not finished). A folder with another config is a ``ZsnerError`` naming the fields."""
    folder = Path(folder)
    config_file = folder / "config.json"
    if not folder.exists() or not any(folder.iterdir()):
        return "fresh"
    if overwrite:
        shutil.rmtree(folder)
        return "fresh"
    try:
        stored = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZsnerError("the folder holds files but no config.json; use another folder or --overwrite",
                         folder) from None
    except (OSError, ValueError) as err:
        raise ZsnerError(f"unreadable config.json ({type(err).__name__}); use --overwrite to recompute",
                         config_file) from None
    if not isinstance(stored, dict):
        raise ZsnerError("config.json is not a JSON object; use --overwrite to recompute", config_file)
    changed = differences(stored, wanted)
    if changed:
        old, new = flatten(stored), flatten(wanted)
        shown = ", ".join(f"{name} {old.get(name)!r} -> {new.get(name)!r}" for name in changed[:6])
        more = f" (+{len(changed) - 6} more)" if len(changed) > 6 else ""
        raise ZsnerError(f"holds a run with another configuration ({shown}{more}); use --overwrite to recompute "
                         "it or --out for a new folder", folder)
    return "reuse" if (folder / finished).is_file() else "resume"
