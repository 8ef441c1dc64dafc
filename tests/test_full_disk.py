"""A full disk (zsner/atomic.py): a write that fails in the OS leaves the previous file as it was and no temporary
file, and is one ``ZsnerError`` naming the file and the OS's reason; at the CLI one line, exit 2. The faults are
injected: a file object whose disk fills after N bytes, an fsync or a rename that fails, a log that cannot grow."""
from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.synthetic import write_language
from zsner.atomic import LogFile, atomic_open, write_json, write_png, write_text
from zsner.data.conll import Sentence, write_conll
from zsner.embeddings import save_vec
from zsner.errors import ZsnerError
from zsner.train.model_io import read_torch_file, save_archive

FULL = os.strerror(errno.ENOSPC)  # "No space left on device"


class FullDisk:
    """A file object on a disk with ``room`` bytes left: the write that would pass it fails with ENOSPC."""

    def __init__(self, handle, room: int):
        self.handle, self.room, self.written = handle, room, 0

    def write(self, data):
        size = len(data.encode("utf-8")) if isinstance(data, str) else memoryview(data).nbytes
        if self.written + size > self.room:
            raise OSError(errno.ENOSPC, FULL)
        self.written += size
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *failure):
        self.handle.close()


@pytest.fixture
def disk(monkeypatch):
    """``disk(room)``: from now on every file atomic_open writes has ``room`` bytes (None: the disk is fine)."""
    real = os.fdopen

    def fill(room):
        if room is None:
            monkeypatch.setattr(os, "fdopen", real)
        else:
            monkeypatch.setattr(os, "fdopen", lambda fd, *args, **kwargs: FullDisk(real(fd, *args, **kwargs), room))

    return fill


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def _vec_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")


# writer name -> (file name, write(path, value), read(path), a value of the writer's kind from a seed)
WRITERS = {
    "json": ("metrics.json", write_json, lambda p: json.loads(p.read_text()), lambda n: {"f1": n, "runs": [n] * n}),
    "text": ("results.md", write_text, lambda p: p.read_text(), lambda n: "| a | b |\n" * n + "é" * n),
    "vec": ("mapped.vec", lambda p, m: save_vec(p, [f"w{i}" for i in range(len(m))], m), _vec_text,
            lambda n: np.full((n + 1, 3), n, dtype=np.float32)),
    "vec.gz": ("mapped.vec.gz", lambda p, m: save_vec(p, [f"w{i}" for i in range(len(m))], m), _vec_text,
               lambda n: np.full((n + 1, 3), n, dtype=np.float32)),
    "torch": ("best-src-dev.pt", save_archive, lambda p: read_torch_file(p)["w"].tolist(),
              lambda n: {"w": torch.full((n + 1,), float(n))}),
    "torch.save": ("checkpoint.pt", lambda p, a: _torch_save(p, a), lambda p: read_torch_file(p)["w"].tolist(),
                   lambda n: {"w": torch.full((n + 1,), float(n))}),
    "conll": ("predictions.dev.conll", lambda p, s: write_conll(p, s), lambda p: p.read_text(),
              lambda n: [Sentence(["Peter", "lives"] * (n + 1), ["B-PER", "O"] * (n + 1))]),
}


def _torch_save(path, archive):
    """What the transformer backend's checkpoint does: torch.save straight into the atomic handle."""
    with atomic_open(path, "wb", encoding=None) as handle:
        torch.save(archive, handle)


@pytest.mark.parametrize("writer", sorted(WRITERS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.integers(0, 20), new=st.integers(21, 60), room=st.integers(0, 4000))
def test_a_write_the_disk_cannot_take_leaves_the_previous_file(disk, writer, old, new, room):
    name, write, read, value = WRITERS[writer]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        disk(None)
        write(path, value(old))
        previous, expected = path.read_bytes(), read(path)
        with tempfile.TemporaryDirectory() as probe:  # the new content as a working disk takes it
            write(Path(probe) / name, value(new))
            size, wanted = (Path(probe) / name).stat().st_size, read(Path(probe) / name)
        assert wanted != expected
        disk(room)
        if room >= size:  # room enough: the new content, whole (the fault injector is not what fails)
            write(path, value(new))
            disk(None)
            assert read(path) == wanted and path.stat().st_size == size
        else:
            with pytest.raises(ZsnerError) as caught:
                write(path, value(new))
            disk(None)
            assert str(caught.value) == (f"{path}: could not be written ({FULL}); an earlier version, if any, "
                                         "is unchanged")
            assert path.read_bytes() == previous and read(path) == expected
        assert _leftovers(Path(folder)) == []


def test_a_full_disk_at_the_first_write_of_a_new_file_leaves_no_file(disk, tmp_path):
    disk(0)
    with pytest.raises(ZsnerError, match=f"results.json: could not be written \\({FULL}\\)"):
        write_json(tmp_path / "results.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", ["fsync", "replace", "mkstemp"])
def test_a_failing_fsync_rename_or_create_leaves_the_previous_file(monkeypatch, tmp_path, call):
    path = tmp_path / "config.json"
    write_json(path, {"epochs": 1})
    failure = {"fsync": errno.ENOSPC, "replace": errno.EROFS, "mkstemp": errno.EDQUOT}[call]

    def fail(*args, **kwargs):
        raise OSError(failure, os.strerror(failure), *([str(args[0])] if call == "replace" else []))

    monkeypatch.setattr(tempfile if call == "mkstemp" else os, call, fail)
    with pytest.raises(ZsnerError) as caught:
        write_json(path, {"epochs": 2})
    monkeypatch.undo()
    assert str(caught.value).startswith(f"{path}: could not be written ({os.strerror(failure)})")
    assert json.loads(path.read_text()) == {"epochs": 1} and _leftovers(tmp_path) == []


def test_the_callers_own_errors_pass_through_unchanged(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"f1": 1})
    with pytest.raises(ValueError, match="a bug"):
        with atomic_open(path) as handle:
            handle.write("{")
            raise ValueError("a bug")
    with pytest.raises(FileNotFoundError):  # an OSError about another file is not a failed write of this one
        with atomic_open(path) as handle:
            handle.write((tmp_path / "missing.txt").read_text())
    with pytest.raises(ZsnerError, match="the caller's"):
        with atomic_open(path) as handle:
            raise ZsnerError("the caller's")
    assert json.loads(path.read_text()) == {"f1": 1} and _leftovers(tmp_path) == []


def test_a_figure_the_disk_cannot_take_is_closed_and_leaves_the_previous_png(disk, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path / "loss.png"
    write_png(path, plt.figure())
    previous = path.read_bytes()
    figure = plt.figure()
    disk(100)
    with pytest.raises(ZsnerError, match=FULL):
        write_png(path, figure)
    disk(None)
    assert path.read_bytes() == previous and not plt.fignum_exists(figure.number) and _leftovers(tmp_path) == []


def test_kv_vectors_the_disk_cannot_take_leave_no_staging_files(monkeypatch, tmp_path):
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    from zsner.encoder_vectors.build import write_vectors

    out = tmp_path / "es.kv"
    write_vectors(out, ["a", "b"], np.ones((2, 3), dtype=np.float32), {"layer": 1})
    previous = out.read_bytes()
    real = KeyedVectors.save

    def half_then_full(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)  # the staging file is written, then its sidecar hits the full disk
        raise OSError(errno.ENOSPC, FULL)

    monkeypatch.setattr(KeyedVectors, "save", half_then_full)
    with pytest.raises(ZsnerError, match=f"es.kv: could not be written \\({FULL}\\)"):
        write_vectors(out, ["a", "b", "c"], np.zeros((3, 3), dtype=np.float32), {"layer": 1})
    assert out.read_bytes() == previous
    assert sorted(path.name for path in tmp_path.iterdir()) == ["es.kv", "es.kv.json"]


class Unflushable:
    """A log stream whose buffered text the full disk refuses at flush and at close."""

    def __init__(self, handle):
        self.handle = handle

    def flush(self):
        raise OSError(errno.ENOSPC, FULL)

    def close(self):
        self.handle.close()
        raise OSError(errno.ENOSPC, FULL)


def test_a_run_log_the_disk_cannot_take_is_one_error_and_closes_quietly(tmp_path, capsys, monkeypatch):
    logger = logging.getLogger("zsner.test-full-disk")
    handler = LogFile(tmp_path / "training.log")
    logger.addHandler(handler)
    try:
        logger.warning("first")
        handler.stream = FullDisk(handler.stream, 0)
        with pytest.raises(ZsnerError) as caught:
            logger.warning("second")
        assert str(caught.value) == f"{tmp_path / 'training.log'}: the log could not be written ({FULL})"
        handler.stream = Unflushable(handler.stream.handle)
    finally:
        logger.removeHandler(handler)
        handler.close()  # what is buffered cannot be flushed either: closing still raises nothing
    assert handler.stream is None
    assert "Logging error" not in capsys.readouterr().err
    assert (tmp_path / "training.log").read_text().endswith("first\n")


# -- at the command line: one line, exit 2, the earlier run's files intact ------------------------------------------

@pytest.fixture
def mapped(tmp_path, capsys):
    """A finished tiny `zsner map` run folder and the argv that made it."""
    from zsner.cli import main

    root = write_language(tmp_path / "data", "en", sizes=(5, 2, 2), seed=0)
    write_language(root, "es", sizes=(5, 2, 2), seed=1)
    (tmp_path / "mapping.json").write_text(json.dumps({"criterion_queries": 30, "csls_k": 3, "dico_max_rank": 100}))
    argv = ["map", "--src-emb", str(root / "embeddings/en.vec"), "--tgt-emb", str(root / "embeddings/es.vec"),
            "--init", "identical", "--refinement-steps", "1", "--config", str(tmp_path / "mapping.json"), "--quiet",
            "--out", str(tmp_path / "map")]
    assert main(argv) == 0
    capsys.readouterr()
    return tmp_path / "map", argv


def _files(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_zsner_map_on_a_full_disk_is_one_line_and_keeps_the_earlier_run(mapped, monkeypatch, capsys):
    from zsner.cli import main

    out, argv = mapped
    before = _files(out)
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, FULL)))
    assert main(argv) == 2
    monkeypatch.undo()
    stdout, err = capsys.readouterr()
    assert stdout == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"zsner map: error: {out}/") and f": could not be written ({FULL})" in err, err
    after = _files(out)
    del before["training.log"], after["training.log"]  # the log of the new attempt, appended as it went
    assert after == before  # every earlier output byte for byte, no temporary file left
    assert _leftovers(out) == [] and not list(out.parent.glob(".map*"))


def test_zsner_map_whose_log_hits_a_full_disk_is_one_line(mapped, monkeypatch, capsys):
    from zsner.cli import main

    out, argv = mapped
    before = _files(out)
    real = logging.FileHandler._open
    monkeypatch.setattr(logging.FileHandler, "_open", lambda self: FullDisk(real(self), 0))
    assert main(argv) == 2
    monkeypatch.undo()
    stdout, err = capsys.readouterr()
    assert stdout == "" and "Logging error" not in err and "Traceback" not in err
    assert err.splitlines() == [f"zsner map: error: {out / 'training.log'}: the log could not be written ({FULL})"]
    after = _files(out)
    del before["training.log"], after["training.log"]
    assert after == before


def test_fault_injector_is_transparent_with_room_to_spare(disk, tmp_path):
    """The harness itself: with room to spare, what atomic_open writes through it is what a plain write gives."""
    disk(10 ** 6)
    save_archive(tmp_path / "a.pt", {"w": torch.arange(4.0)})
    write_text(tmp_path / "b.txt", "ünïcode\n")
    disk(None)
    assert read_torch_file(tmp_path / "a.pt")["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert (tmp_path / "b.txt").read_text() == "ünïcode\n"
