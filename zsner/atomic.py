"""Crash-safe file writing: write to a temporary name in the same folder, fsync, then rename; and a lock that makes
concurrent processes (grid tasks, side-by-side runs) build a shared cache entry once.

A write that fails in the OS (a full disk, a quota, a read-only folder) leaves the previous file as it was, removes
its temporary file and is one ``ZsnerError`` naming the file and the OS's reason; so is a run log (``LogFile``) that
cannot be appended to."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ZsnerError


log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically, on error it vanishes. An
    ``OSError`` of the write itself (``handle.write``, flush, fsync, rename) is a ``ZsnerError``; the caller's other
    errors pass through unchanged."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the permissions a plain open() would
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        failed = _failed_write(err, (None, tmp, str(path)))
        if failed is not None:
            raise write_error(path, failed) from None
        raise


def _failed_write(err: BaseException, names) -> OSError | None:
    """The OSError of the write behind ``err``: ``err`` itself, or the one a writer was handling when it raised
    ``err`` (torch.save's zip writer ends a failed write with a RuntimeError of its own); None if it is about
    another file (``names``: this write's own), or ``err`` is a ``ZsnerError`` or an interrupt."""
    while isinstance(err, Exception) and not isinstance(err, (OSError, ZsnerError)):
        err = err.__context__
    return err if isinstance(err, OSError) and err.filename in names else None


def write_error(path, err: OSError) -> ZsnerError:
    """The one-line error of a failed write of ``path``."""
    return ZsnerError(f"could not be written ({err.strerror or err}); an earlier version, if any, is unchanged", path)


class LogFile(logging.FileHandler):
    """A run's log file (appended as the run goes, so not atomic): a record that cannot be written stops the run
    with a ``ZsnerError`` instead of logging's traceback on stderr; closing never raises."""

    def __init__(self, path, mode: str = "a") -> None:
        try:
            super().__init__(path, mode=mode, encoding="utf-8")
        except OSError as err:
            raise ZsnerError(f"the log could not be opened ({err.strerror or err})", path) from None

    def handleError(self, record) -> None:
        err = sys.exc_info()[1]
        if isinstance(err, OSError):
            raise ZsnerError(f"the log could not be written ({err.strerror or err})", self.baseFilename) from None
        super().handleError(record)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # what the disk did not take is lost; the run's error, if any, has been reported
            pass


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

    try:
        with atomic_open(path, "wb") as handle:
            figure.savefig(handle, format="png", **savefig)
    finally:
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
