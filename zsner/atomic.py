"""Crash-safe file writing: write to a temporary name in the same folder, fsync, then rename; and a lock that makes
concurrent processes (grid tasks, side-by-side runs) build a shared cache entry once."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the permissions a plain open() would
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj) -> None:
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_text(path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_png(path, figure, **savefig) -> None:
    """A matplotlib figure as a PNG, atomically (``savefig`` options such as ``dpi`` pass through); the figure is
    closed afterwards."""
    import matplotlib.pyplot as plt

    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", **savefig)
    plt.close(figure)


@contextmanager
def build_lock(target):
    """Hold an exclusive lock on ``.TARGET.lock`` (a hidden file beside the cache file or folder ``target``, so that
    globs of ``target``'s sidecar files, which cache keys hash, never see it) while ``target`` is built. A second
    process asking for the same entry waits, then finds it built. The lock is the OS's (``flock``): it is released
    when its holder ends, even when killed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process building %s", target)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
