"""Crash-safe long commands (issue 30): `zsner project` and `zsner cluster` killed (SIGKILL) in the middle of a
chunk, then run again in the same folder, give files byte-identical to an uninterrupted run in another folder,
and each rerun computes exactly the chunks the killed run left unfinished (read from its log, and checked against
the chunk files on disk, whose inode and mtime a rerun leaves alone). The kills land inside a chunk through the
``ZSNER_CHUNK_SLEEP`` hook (zsner/chunks.py: a pause before each chunk is stored)."""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests import test_cluster as cluster_tests
from tests import test_projection_cli as projection_tests
from tests.conftest import REPO
from zsner.cli import main

torch.set_num_threads(1)
world = projection_tests.world  # tiny word-identity encoder, a transformer tagger on it, 20 parallel pairs
tiny = cluster_tests.tiny  # tiny WikiAnn-format data for four languages and a tiny random BERT
SLEEP = "0.3"
COMPUTED = re.compile(r"\b(tag|similarity|entity|setting) (\d+)/(\d+): computed")


def start(args, sleep: str | None = None) -> subprocess.Popen:
    """``zsner ARGS`` in a fresh process (with the chunk pause when ``sleep``)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.pop("ZSNER_DATA", None)
    env.pop("ZSNER_CHUNK_SLEEP", None)
    if sleep:
        env["ZSNER_CHUNK_SLEEP"] = sleep
    return subprocess.Popen([sys.executable, "-m", "zsner.cli", *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_when(process: subprocess.Popen, path: Path) -> str:
    """SIGKILL ``process`` as soon as ``path`` exists; returns what it had written on stderr."""
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing check
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate()
    assert process.returncode == -signal.SIGKILL
    return err


def finish(process: subprocess.Popen) -> str:
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return err


def computed(log: str) -> set[tuple[str, int]]:
    """The (stage, 0-based chunk) pairs a log says were computed."""
    return {(stage, int(number) - 1) for stage, number, _ in COMPUTED.findall(log)}


def chunk_files(out: Path) -> dict[tuple[str, int], tuple[int, int]]:
    """(stage, chunk) -> (inode, mtime) of every stored chunk under ``out/chunks``."""
    found = {}
    for path in (out / "chunks").glob("*/chunk-*.json"):
        stat = path.stat()
        found[path.parent.name, int(path.stem.split("-")[1])] = (stat.st_ino, stat.st_mtime_ns)
    return found


def files(out: Path, skip: tuple[str, ...]) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*"))
            if path.is_file() and path.name not in skip}


def every(stages: dict[str, int]) -> set[tuple[str, int]]:
    return {(stage, chunk) for stage, count in stages.items() for chunk in range(count)}


def project_args(world, out: Path) -> list:
    """The entity aligner (every stage: tag, similarity, aligner training, entity predictions), 5 chunks of 4."""
    return ["project", "--src", "en", "--tgt", "es", "--parallel", world / "par", "--tagger", world / "tagger",
            "--layer", "1", "--window", "32", "--overlap", "4", "--aligner", "entity", "--aligner-examples", "16",
            "--aligner-epochs", "2", "--aligner-lr", "1e-3", "--heldout-share", "0.2", "--chunk-size", "4",
            "--no-progress", "--device", "cpu", "--out", out]


def test_project_killed_twice_then_resumed_gives_the_uninterrupted_files(world, tmp_path, capsys):
    stages = {"tag": 5, "similarity": 5, "entity": 5}
    reference = tmp_path / "uninterrupted"
    assert main([str(arg) for arg in project_args(world, reference)]) == 0
    assert computed(capsys.readouterr().err) == every(stages)
    assert not (reference / "chunks").exists()  # the chunks go once the outputs are written

    out = tmp_path / "killed"
    log = kill_when(start(project_args(world, out), SLEEP), out / "chunks/tag/chunk-00001.json")
    first = chunk_files(out)
    assert {("tag", 0), ("tag", 1)} <= set(first) and len(first) < 5 and not (out / "stats.json").exists()
    assert computed(log) <= set(first) and len(set(first) - computed(log)) <= 1  # killed right after a store

    log = kill_when(start(project_args(world, out), SLEEP), out / "chunks/entity/chunk-00001.json")
    second = chunk_files(out)
    assert all(second[chunk] == stamp for chunk, stamp in first.items())  # finished chunks left alone
    assert {chunk for chunk in computed(log) if chunk[0] != "entity"} == every(
        {"tag": 5, "similarity": 5}) - set(first)
    assert log.count("entity aligner: trained on") == 1 and (out / "chunks/aligner/aligner.safetensors").is_file()
    assert ("entity", 1) in second and len([c for c in second if c[0] == "entity"]) < 5

    log = finish(start(project_args(world, out)))
    assert computed(log) == every(stages) - set(second)  # only what the killed run had not finished
    assert "entity aligner: trained weights reused" in log and "trained on" not in log
    assert files(out, ("timing.json",)) == files(reference, ("timing.json",))  # no chunks/ left either


def test_projection_chunk_key_changes_with_everything_that_determines_a_chunk(world, tmp_path):
    from zsner.projection.config import ProjectionConfig
    from zsner.projection.parallel import Pair
    from zsner.projection.pipeline import RUNTIME, chunk_key
    from zsner.projection.tagging import TaggerFile

    model = tmp_path / "tagger.pt"
    model.write_bytes(b"weights")
    config = ProjectionConfig(tagger=str(model))
    pairs = [Pair(0, ["Peter", "met"], ["Peter", "vio"]), Pair(3, ["Oslo"], ["Oslo"])]
    tagger = TaggerFile("classic", model)

    def key(config=config, pairs=pairs, lines=9, device="cpu"):
        return chunk_key(config, pairs, lines, tagger, str(world / "tiny"), torch.device(device))

    base = key()
    assert key() == base
    for field in dataclasses.fields(ProjectionConfig):
        value = getattr(config, field.name)
        other = (not value if isinstance(value, bool) else value + 1 if isinstance(value, (int, float))
                 else value + "x")
        changed = key(dataclasses.replace(config, **{field.name: other}))
        assert (changed == base) == (field.name in RUNTIME), field.name
    assert key(pairs=[pairs[0], Pair(3, ["Oslo"], ["Oslo", "."])]) != base
    assert key(pairs=[pairs[0], Pair(4, ["Oslo"], ["Oslo"])]) != base
    assert key(lines=10) != base and key(device="meta") != base
    os.utime(model, ns=(1, 1))  # a retrained tagger file
    assert key() != base


def cluster_args(model, data, out: Path) -> list:
    return ["cluster", "--model", model, "--langs", ",".join(cluster_tests.LANGS), "--k", "2", "--caps", "10,20",
            "--seeds", "1,2", "--held-out", "8", "--epochs", "1", "--batch-size", "8", "--data-dir", data,
            "--no-progress", "--device", "cpu", "--out", out]


def test_cluster_killed_in_a_setting_then_resumed_gives_the_uninterrupted_files(tiny, tmp_path):
    _, data, model = tiny
    reference = tmp_path / "uninterrupted"
    assert main([str(arg) for arg in cluster_args(model, data, reference)]) == 0
    assert computed((reference / "training.log").read_text()) == every({"setting": 4})

    out = tmp_path / "killed"
    kill_when(start(cluster_args(model, data, out), SLEEP), out / "chunks/settings/chunk-00001.json")
    done = chunk_files(out)
    assert {("settings", 0), ("settings", 1)} <= set(done) and len(done) < 4 and not (out / "summary.md").exists()
    before = (out / "training.log").read_text()

    finish(start(cluster_args(model, data, out)))
    log = (out / "training.log").read_text()
    assert log.startswith(before)  # appended
    assert computed(log[len(before):]) == every({"setting": 4}) - {("setting", chunk) for _, chunk in done}
    assert files(out, ("training.log",)) == files(reference, ("training.log",))  # PNGs too; no chunks/ left


def test_project_error_after_the_first_chunks_leaves_nothing(world, tmp_path, capsys):
    out = tmp_path / "too-deep"
    args = project_args(world, out)
    args[args.index("--layer") + 1] = "9"  # the tiny encoder has 2 layers: found when the aligner loads it
    assert main([str(arg) for arg in args]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "tag 1/5: computed" in err and last.startswith("zsner project: error: ") and "--layer 9" in last
    assert not out.exists()


def test_chunk_results_compute_only_what_is_not_stored_under_the_same_key(tmp_path):
    from zsner.chunks import ChunkCache

    calls = []

    def compute(chunk):
        calls.append(chunk)
        return {"chunk": chunk, "pair": (chunk, "é")}

    def decode(stored, chunk):
        if stored["chunk"] != chunk:
            raise ValueError("another chunk")
        return stored

    wanted = [{"chunk": k, "pair": [k, "é"]} for k in range(4)]  # what JSON gives back, in every run
    assert ChunkCache(tmp_path / "c", {"k": 1}).results(4, compute, decode=decode) == wanted and calls == [0, 1, 2, 3]
    (tmp_path / "c/chunk-00001.json").unlink()
    (tmp_path / "c/chunk-00002.json").write_text("[", encoding="utf-8")  # unreadable
    (tmp_path / "c/chunk-00003.json").write_text('{"chunk": 0}', encoding="utf-8")  # refused by decode
    calls.clear()
    cache = ChunkCache(tmp_path / "c", {"k": 1})
    assert cache.results(4, compute, decode=decode) == wanted and calls == cache.computed == [1, 2, 3]
    calls.clear()
    assert ChunkCache(tmp_path / "c", {"k": 1}).results(4, compute, decode=decode) == wanted and calls == []
    assert ChunkCache(tmp_path / "c", {"k": 2}).results(4, compute, decode=decode) == wanted and calls == [0, 1, 2, 3]
