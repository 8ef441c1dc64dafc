"""One writer per run folder (zsner/runs.py ``writing``): a second command that targets a folder another process is
writing stops at once with one line naming the holder, writes nothing, and runs once the holder is gone (even when
it was killed). The holder is a real second process throughout."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest

from conftest import REPO, run_cli
from tests.synthetic import write_language, write_wikiann
from zsner.errors import ZsnerError
from zsner.runs import LOCK_SUFFIX, claim, holds, lock_file, writing

HOLD = """import sys
from zsner.runs import writing
with writing(*sys.argv[1:]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills this process
"""


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("ZSNER_DATA", None)
    return env


@contextmanager
def holder(*folders):
    """A second process holding the writer locks of ``folders`` until the block ends (then killed, SIGKILL)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, *map(str, folders)], cwd=REPO, env=_env(),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def tree(root) -> list:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


# -- the lock itself ------------------------------------------------------------------------------------------------

def test_the_lock_is_a_hidden_file_beside_the_folder_reentrant_and_leaves_nothing(tmp_path):
    folder = tmp_path / "a" / "b" / "run"
    assert lock_file(folder) == tmp_path / "a" / "b" / f".run{LOCK_SUFFIX}"
    with writing(folder):
        assert lock_file(folder).is_file() and holds(folder)
        assert not folder.exists()  # beside, never inside: the folder's own listing never shows it
        with writing(folder), writing(folder):  # a command that runs another on the same folder, in-process
            pass
        assert holds(folder) and lock_file(folder).is_file()  # still the outer block's
        assert claim(folder, {"x": 1}) == "fresh"  # claim checks the lock, which this process holds
    assert not holds(folder)
    assert tree(tmp_path) == []  # lock file and the parent folders made for it are gone: nothing was written
    with writing(folder):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    assert tree(tmp_path) == ["a", "a/b", "a/b/run", "a/b/run/config.json"]


def test_one_folder_one_lock_whatever_name_it_is_given(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    names = [real, "real", "./real/", "sub/../real", tmp_path / "link"]
    assert len({lock_file(name) for name in names}) == 1
    with holder(tmp_path / "link"):
        for name in names:
            with pytest.raises(ZsnerError, match="another command is writing to it"):
                with writing(name):
                    pass


def test_a_second_process_is_refused_at_once_naming_the_folder_and_the_holder(tmp_path):
    folder = tmp_path / "run"
    with holder(folder) as process:
        before = tree(tmp_path)
        with pytest.raises(ZsnerError) as caught:
            with writing(tmp_path / "other", folder):  # all or nothing: the first one is released again
                raise AssertionError("never reached")
        message = str(caught.value)
        assert message.startswith(f"{folder}: another command is writing to it (pid {process.pid}: ")
        assert "\n" not in message and "use another --out" in message
        assert tree(tmp_path) == before and not holds(tmp_path / "other")
        with writing(tmp_path / "run-2"):  # another folder is free
            pass


def test_a_grid_task_writes_inside_the_folder_the_grid_holds(tmp_path):
    """The grid holds its folder; its tasks (other processes) lock their own sub-folders: no deadlock."""
    grid = tmp_path / "grid"
    with holder(grid):
        with writing(grid / "en-es-shared" / "seed1"), writing(grid / "en-es-transformer-zero-shot-seed1"):
            assert lock_file(grid / "en-es-shared" / "seed1").is_file()


RACE = """import os, random, sys, time
from zsner.errors import ZsnerError
from zsner.runs import writing
folder, marker = sys.argv[1], sys.argv[2]
held = refused = 0
for _ in range(40):
    try:
        with writing(folder):
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another writer is inside
            time.sleep(random.random() / 500)
            os.close(fd)
            os.unlink(marker)
            held += 1
    except ZsnerError as err:
        assert "another command is writing to it" in str(err), err
        refused += 1
    time.sleep(random.random() / 1000)
print(held, refused)
"""


def test_racing_processes_never_write_one_folder_together(tmp_path):
    """Acquire, release (which removes the lock file and the parent folders made for it) and refuse, in four
    processes at once: never two inside."""
    folder, marker = tmp_path / "made" / "for-it" / "run", tmp_path / "inside"
    processes = [subprocess.Popen([sys.executable, "-c", RACE, str(folder), str(marker)], cwd=REPO, env=_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    counts = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        counts.append([int(word) for word in out.split()])
    assert sum(held for held, _ in counts) >= 1 and all(held + refused == 40 for held, refused in counts)  # a refusal
    # needs a holder, one of them
    assert [path for path in tmp_path.rglob("*") if not path.is_dir()] == []  # no lock file left (a folder made
    # by one holder may stay when another's lock file was in it as it left)


# -- every command that writes an --out ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("lock-world")
    write_language(root / "data", "en", sizes=(30, 10, 10), seed=0)
    write_language(root / "data", "es", sizes=(30, 10, 10), seed=1)
    write_wikiann(root / "data", langs=("sw", "yo"), sizes=(6, 4, 4))
    (root / "par").mkdir()
    (root / "par" / "en.txt").write_text("Peter lives in Paris .\n")
    (root / "par" / "es.txt").write_text("Peter vive en París .\n")
    (root / "mapping.json").write_text(json.dumps({"criterion_queries": 30, "csls_k": 3, "dico_max_rank": 100}))
    return root


# name -> (argv with {root} and {out}, ~ for a space inside an argument; the folder the lock is on, relative to {out})
COMMANDS = {
    "train": ("train --lang en --data-dir {root}/data --epochs 1 --no-progress --out {out}", ""),
    "train_resume": ("train --resume {out} --data-dir {root}/data --no-progress", ""),
    "transfer": ("transfer --src en --tgt es --mode shared --data-dir {root}/data --cache-dir {root}/cache "
                 "--no-progress --out {out}", "seed1"),
    "transfer_augmented": ("transfer --src en --tgt es --mode augmented --seed 3 --data-dir {root}/data "
                           "--cache-dir {root}/cache --no-progress --out {out}", "seed3/augmented"),
    "transformer": ("transformer --model {root}/encoder --src en --tgt es --data-dir {root}/data --out {out}", ""),
    "transformer_round_robin": ("transformer --model {root}/encoder --round-robin en,es --data-dir {root}/data "
                                "--out {out}", ""),
    "map": ("map --src-emb {root}/data/embeddings/en.vec --tgt-emb {root}/data/embeddings/es.vec --quiet "
            "--out {out}", ""),
    "vectors": ("vectors --model {root}/encoder --lang es --data-dir {root}/data --out {out}.vec", ".vec"),
    "project": ("project --src en --tgt es --parallel {root}/par --tagger {root}/tagger --out {out}", ""),
    "cluster": ("cluster --model {root}/encoder --langs sw,yo --k 2 --data-dir {root}/data --out {out}", ""),
    "groups": ("groups --model {root}/encoder --langs sw,yo --data-dir {root}/data --out {out}", ""),
    "grid": ("grid --backend classic --pairs en-es --modes shared --out {out} "
             "--flags=--data-dir~{root}/data~--word-dim~20", ""),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_refuses_a_folder_another_process_writes(world, tmp_path, capsys, monkeypatch, name):
    from zsner.cli import main

    monkeypatch.delenv("ZSNER_DATA", raising=False)
    argv, locked = COMMANDS[name]
    out = tmp_path / "out"
    target = out.parent / (out.name + locked) if locked.startswith(".") else out / locked if locked else out
    with holder(target) as process:
        before, world_before = tree(tmp_path), tree(world)
        capsys.readouterr()
        code = main([word.replace("~", " ") for word in argv.format(root=world, out=out).split()])
        _, err = capsys.readouterr()
        assert code == 2, err
        assert err.splitlines() == [err.strip()] and "Traceback" not in err
        assert err.startswith(f"zsner {argv.split()[0]}: error: {target}: another command is writing to it "
                              f"(pid {process.pid}: "), err
        assert tree(tmp_path) == before and tree(world) == world_before  # nothing written, anywhere


def test_export_refuses_a_folder_another_process_writes(tmp_path):
    from zsner.tagging.export import export_hf

    with holder(tmp_path / "hf"):
        with pytest.raises(ZsnerError, match="another command is writing to it"):
            export_hf(tmp_path / "no-checkpoint.pt", tmp_path / "hf")  # refused before the checkpoint is read
        assert tree(tmp_path) == [f".hf{LOCK_SUFFIX}"]


def test_zsner_map_refused_then_run_once_the_holder_is_killed(world, tmp_path):
    """Two real processes: the holder is SIGKILLed (its lock file stays, the OS's lock does not)."""
    out = tmp_path / "map"
    argv = ["map", "--src-emb", world / "data/embeddings/en.vec", "--tgt-emb", world / "data/embeddings/es.vec",
            "--init", "identical", "--refinement-steps", "1", "--config", world / "mapping.json", "--quiet",
            "--out", out]
    with holder(out) as process:
        refused = run_cli(argv)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.splitlines() == [f"zsner map: error: {out}: another command is writing to it "
                                               f"(pid {process.pid}: python -c {out})" + "; wait until it ends, or "
                                               "use another --out"], refused.stderr
        assert not out.exists()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert lock_file(out).is_file()  # stale file of the killed holder: no longer locked
    done = run_cli(argv)
    assert done.returncode == 0, done.stderr
    assert (out / "mapping.npy").is_file() and json.loads(done.stdout)["out"] == str(out)
    assert not lock_file(out).exists()  # released by the run that ended
