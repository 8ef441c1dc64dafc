"""The run folder's ``training.log``: one handler on the ``zsner`` logger, appending (a resumed run continues the
log of the run it resumes; a fresh run clears its folder first). ``resuming`` takes back what this command logged
when a resume is refused (a damaged checkpoint), so that a refused command leaves the folder as it found it."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from .atomic import LogFile


def attach_log(out_dir: Path) -> logging.Handler:
    """Append every ``zsner`` log record (backends log to child loggers) to ``out_dir/training.log``; the caller
    removes and closes the returned handler. A record the disk does not take stops the run (``ZsnerError``)."""
    path = Path(out_dir) / "training.log"
    size = path.stat().st_size if path.is_file() else None
    handler = LogFile(path)
    handler.size_before = size  # what the file held before this command
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("zsner").addHandler(handler)
    logging.getLogger("zsner").setLevel(logging.INFO)
    return handler


@contextmanager
def resuming():
    """Around a resume: if it raises, every attached ``training.log`` is cut back to what it held before this
    command (removed if the command created it)."""
    try:
        yield
    except BaseException:
        for handler in logging.getLogger("zsner").handlers:
            if isinstance(handler, LogFile) and hasattr(handler, "size_before"):
                handler.flush()
                path = Path(handler.baseFilename)
                if handler.size_before is None:
                    path.unlink(missing_ok=True)
                elif path.is_file():
                    with open(path, "r+b") as log_file:
                        log_file.truncate(handler.size_before)
        raise
