"""Run folders: one writer each, and honest reuse.

One writer: a command holds ``writing(folder)`` for as long as it writes the folder; a second command that asks
for it stops at once with one line naming the holder. The lock is the OS's (``flock``) on ``.NAME.run-lock``, a
hidden file beside the folder (never inside it: no glob of the folder's results, no cache key sees it), so it is
released when its holder ends, even when killed. ``writing`` is re-entrant within a process (a command that runs
another in-process on the same folder), and it leaves nothing behind: the lock file and any parent folder it had
to create are removed on release, so a command that stops on bad input has written nothing.

Honest reuse: a folder's ``config.json`` must match what is asked before its results (or its checkpoint) are
reused; otherwise the command stops with the differing fields, or ``--overwrite`` recomputes. Fields that cannot
change results (threads, device, evaluation batch size, progress bars) are not compared.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .errors import ZsnerError

LOCK_SUFFIX = ".run-lock"
_held: dict[str, list] = {}  # lock file -> [descriptor, depth, parent folders created for it]
_registry = threading.Lock()


def lock_file(folder) -> Path:
    """The lock of ``folder`` (a run folder, or an output file such as ``zsner vectors``'): ``.NAME.run-lock``
    beside it, the path made absolute and symlinks resolved (one folder, one lock, however it is named)."""
    folder = Path(folder).expanduser().resolve()
    return folder.with_name(f".{folder.name}{LOCK_SUFFIX}") if folder.name else folder / LOCK_SUFFIX


@contextmanager
def writing(*folders):
    """Hold the writer lock of each of ``folders`` for the block; ``ZsnerError`` at once if another process holds
    one (nothing is then held or written)."""
    with ExitStack() as stack:
        for folder in folders:
            key = _acquire(folder)
            stack.callback(_release, key)
        yield


def holds(folder) -> bool:
    """Whether this process holds ``folder``'s writer lock."""
    return str(lock_file(folder)) in _held


def _acquire(folder) -> str:
    path = lock_file(folder)
    key = str(path)
    with _registry:
        if key in _held:
            _held[key][1] += 1
            return key
        created: list[Path] = []
        try:
            for _ in range(100):
                try:
                    created += _make_parents(path.parent, folder)
                    descriptor = _lock(path, folder)
                    break
                except FileNotFoundError:  # a parent was just removed by a holder that released it: again
                    continue
            else:
                raise ZsnerError(f"cannot keep the parent folder of the lock file {path.name}", folder)
        except BaseException:
            _remove_empty(created)
            raise
        _held[key] = [descriptor, 1, created]
    return key


def _release(key: str) -> None:
    with _registry:
        entry = _held[key]
        entry[1] -= 1
        if entry[1]:
            return
        del _held[key]
        descriptor, _, created = entry
        try:
            os.unlink(key)  # while still locked: a process that opened it before retries on the new file
        except OSError:
            pass
        os.close(descriptor)
        _remove_empty(created)


def _lock(path: Path, folder) -> int:
    """An open descriptor of ``path`` that holds its exclusive lock; the file is written with this holder."""
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:
            raise
        except OSError as err:
            raise ZsnerError(f"cannot create the folder's lock file {path.name} ({err.strerror or err})",
                             folder) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_of(descriptor)
            os.close(descriptor)
            raise ZsnerError(f"another command is writing to it{holder}; wait until it ends, or use another "
                             "--out", folder) from None
        except BaseException:
            os.close(descriptor)
            raise
        try:  # the file may have been released (unlinked) between our open and our lock: then lock the new one
            current = os.stat(path)
            mine = os.fstat(descriptor)
            same = (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            _record_holder(descriptor)
            return descriptor
        os.close(descriptor)


def _record_holder(descriptor: int) -> None:
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    script = {"zsner": "zsner", "cli.py": "zsner", "__main__.py": "zsner", "-c": "python -c"}.get(script, script)
    command = " ".join([script, *sys.argv[1:]])
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"pid {os.getpid()}: {command[:200]}\n".encode("utf-8", "replace"))
    except OSError:  # who holds it is a courtesy for the refused; a full disk must not stop the holder here
        pass


def _holder_of(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 300, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return f" ({text.splitlines()[0]})" if text else ""


def _make_parents(parent: Path, folder) -> list[Path]:
    """Create ``parent`` and its missing ancestors; the ones created, deepest last."""
    missing = []
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileNotFoundError:  # its parent was removed meanwhile: the caller starts again
            _remove_empty(created)
            raise
        except FileExistsError:
            if not path.is_dir():
                _remove_empty(created)
                raise ZsnerError(f"{path} is a file, not a folder", folder) from None
            continue
        except OSError as err:
            _remove_empty(created)
            raise ZsnerError(f"cannot create the folder {path} ({err.strerror or err})", folder) from None
        created.append(path)
    if not parent.is_dir():
        raise ZsnerError(f"{parent} is a file, not a folder", folder)
    return created


def _remove_empty(created: list[Path]) -> None:
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:  # something was written there: it stays
            return


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


OFF = ("", None)  # the value of an option that is not used: a field added later with it equals its absence


def differences(stored: dict, wanted: dict) -> list[str]:
    """Dotted names of the result-relevant fields whose values differ (or exist on one side only). A field that
    ``stored`` lacks (a config.json written before the option existed) matches an unused value (``OFF``)."""
    old, new = flatten(stored), flatten(wanted)
    return sorted(name for name in old.keys() | new.keys()
                  if name.rsplit(".", 1)[-1] not in RUNTIME_FIELDS and old.get(name) != new.get(name)
                  and not (name not in old and new[name] in OFF))


def claim(folder, wanted: dict, overwrite: bool = False, finished: str = "metrics.json") -> str:
    """What to do with ``folder`` for a run configured as ``wanted`` (the content its config.json will have):
    ``"fresh"`` (nothing there, or removed because ``overwrite``), ``"reuse"`` (finished with the same config) or
    ``"resume"`` (same config, not finished). A folder with another config is a ``ZsnerError`` naming the fields.
    So is a folder another process is writing (its caller holds ``writing(folder)`` for the run; here the lock is
    only checked, and held no longer than the call, when it does not)."""
    with writing(folder):
        return _claim(Path(folder), wanted, overwrite, finished)


def _claim(folder: Path, wanted: dict, overwrite: bool, finished: str) -> str:
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
