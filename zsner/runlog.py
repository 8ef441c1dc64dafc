"""The run folder's ``training.log``: one handler on the ``zsner`` logger, appending (a resumed run continues the
log of the run it resumes; a fresh run clears its folder first)."""
from __future__ import annotations

import logging
from pathlib import Path

from .atomic import LogFile


def attach_log(out_dir: Path) -> logging.Handler:
    """Append every ``zsner`` log record (backends log to child loggers) to ``out_dir/training.log``; the caller
    removes and closes the returned handler. A record the disk does not take stops the run (``ZsnerError``)."""
    handler = LogFile(Path(out_dir) / "training.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("zsner").addHandler(handler)
    logging.getLogger("zsner").setLevel(logging.INFO)
    return handler
