"""One training.log for both backends: records of every zsner logger, appended (a resume continues the log)."""
from __future__ import annotations

import logging

from zsner.runlog import attach_log


def _logged(out_dir, message: str, logger: str) -> None:
    handler = attach_log(out_dir)
    try:
        logging.getLogger(logger).info(message)
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()


def test_both_backends_append_to_one_log(tmp_path):
    _logged(tmp_path, "classic line", "zsner")
    _logged(tmp_path, "transformer line", "zsner.transformer")
    lines = (tmp_path / "training.log").read_text(encoding="utf-8").splitlines()
    assert [line.split(" INFO ")[-1] for line in lines] == ["classic line", "transformer line"]
    logging.getLogger("zsner").info("after detaching")
    assert len((tmp_path / "training.log").read_text(encoding="utf-8").splitlines()) == 2
