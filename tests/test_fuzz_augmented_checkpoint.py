"""Every reader fuzzed (issue 30), the resumable ``checkpoint.pt`` of Cross-Augmented (Algorithm 1): its task
state (the round's pseudo-labels, the round history) and the round's plan of joint batches deleted, re-typed or
reshaped, or the file damaged. Resuming must complete the run or stop with one ``ZsnerError`` line naming the file."""
from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.synthetic import write_transfer_pair
from tests.test_fuzz_readers import FUZZ, Blob, Mutation, damaged, fresh, mutated, outcome, place
from zsner.config import TaggerConfig, TrainConfig
from zsner.errors import ZsnerError
from zsner.transfer.data import prepare_crosslingual
from zsner.transfer.inputs import resolve_inputs
from zsner.transfer.pipeline import TransferConfig, run_transfer
from zsner.transfer.config import AugmentConfig
from zsner.transfer.variants import train_variant

torch.set_num_threads(1)
SMALL = TaggerConfig(word_dim=20, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16, shared_lstm=True)
TRAIN = TrainConfig(epochs=2, eval_every=15, batch_size=8, seed=2)
AUGMENT = AugmentConfig(rounds=2, round_steps=10)  # evaluations at step 15 (round 1, batch 5) and 20 (the end)


class Quiet(dict):
    """The fixture's record with a short repr (hypothesis prints the arguments of a failing example)."""

    def __repr__(self) -> str:
        return "augmented run"


@pytest.fixture(scope="module")
def augmented(tmp_path_factory) -> dict:
    """A tiny finished Algorithm 1 run (as in tests/test_transfer.py) and its checkpoint moved back to the step-15
    evaluation: round 1, 5 of its 10 joint batches done, so that a resume uses the saved plan and pseudo-labels."""
    root = tmp_path_factory.mktemp("data")
    mapping = write_transfer_pair(root, (120, 30, 30), (90, 30, 30))
    out = root / "out"
    run_transfer(TransferConfig(mode="augmented", mapping_dir=str(mapping), cache_dir=str(out / "cache"),
                                figures=False), TRAIN, SMALL, AUGMENT, out=out, data_dir=root, bars=False)
    folder = out / "seed2" / "augmented"
    (folder / "metrics.json").unlink()
    raw = torch.load(folder / "checkpoint.pt", weights_only=True)  # numpy arrays still in their stored form
    assert raw["progress"]["epoch"] == AUGMENT.rounds and raw["progress"]["step"] == 20
    raw["progress"].update(epoch=1, batch_in_epoch=5, step=15)
    torch.save(raw, folder / "checkpoint.pt")
    data = prepare_crosslingual(resolve_inputs("en", "es", TRAIN, root), "shared", TRAIN, SMALL, mapping)
    return Quiet({"root": root, "mapping": mapping, "out": out, "folder": folder, "base": out / "seed2" / "shared" / "best-src-dev.pt", "data": data, "raw": raw,
            "bytes": (folder / "checkpoint.pt").read_bytes()})


def resume(augmented, folder):
    """What ``zsner transfer`` does with an unfinished seed folder: Algorithm 1 resumed from its checkpoint."""
    record = json.loads((folder / "config.json").read_text())
    return train_variant("augmented", augmented["data"].for_seed(2), TRAIN, SMALL, folder, record, AUGMENT,
                         augmented["base"], bars=False)


def _copy(augmented, tmp_path):
    folder = fresh(tmp_path, "augmented")
    shutil.copytree(augmented["folder"], folder)
    return folder


def test_intact_checkpoint_resumes_the_round_where_it_stopped(augmented, tmp_path):
    folder = _copy(augmented, tmp_path)
    result = resume(augmented, folder)
    assert result["steps"] == AUGMENT.rounds * AUGMENT.round_steps
    assert [item["round"] for item in result["rounds"]] == [0, 1]  # round 1 was not planned again
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["progress"]["epoch"] == AUGMENT.rounds


def _saved(archive) -> Blob:
    buffer = io.BytesIO()
    torch.save(archive, buffer)
    return Blob(buffer.getvalue())


@st.composite
def damaged_task_state(draw, raw) -> Mutation:
    """The checkpoint with one node of its task state or of its round plan deleted, replaced or re-typed."""
    archive = copy.deepcopy(raw)
    if draw(st.booleans()):
        change = draw(mutated(raw["task"]))
        archive["task"] = change.value
        return Mutation(archive, f"task{change.what}" if change.what.startswith("[") else f"task: {change.what}")
    change = draw(mutated({"plan": raw["progress"]["plan"]}))
    archive["progress"]["plan"] = change.value.get("plan")
    return Mutation(archive, f"progress: {change.what}")


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_augmented_checkpoint_with_damaged_task_state(augmented, tmp_path, data):
    folder = _copy(augmented, tmp_path)
    path = place(folder / "checkpoint.pt", _saved(data.draw(damaged_task_state(augmented["raw"])).value))
    result = outcome(lambda: resume(augmented, folder), path)
    if not isinstance(result, ZsnerError):
        assert result["steps"] >= 15


@settings(FUZZ, max_examples=15)
@given(data=st.data())
def test_augmented_checkpoint_damaged_file(augmented, tmp_path, data):
    folder = _copy(augmented, tmp_path)
    path = place(folder / "checkpoint.pt", data.draw(damaged(augmented["bytes"], [])))
    outcome(lambda: resume(augmented, folder), path)


@pytest.mark.parametrize("damage", ["no pseudo", "tags as text", "positions past the round", "cut"])
def test_known_damage_is_one_line_naming_the_file(augmented, tmp_path, damage):
    """Damage the check must catch (all but the cut file once failed mid-run with a traceback)."""
    folder = _copy(augmented, tmp_path)
    archive = copy.deepcopy(augmented["raw"])
    if damage == "no pseudo":
        del archive["task"]["pseudo"]
    elif damage == "tags as text":
        archive["task"]["pseudo"]["tags"] = "x"
    elif damage == "positions past the round":
        source, target = archive["progress"]["plan"][-1]
        target["__numpy__"] = target["__numpy__"] + 10_000
    path = folder / "checkpoint.pt"
    place(path, augmented["bytes"][: len(augmented["bytes"]) // 2] if damage == "cut" else _saved(archive))
    with pytest.raises(ZsnerError) as caught:
        resume(augmented, folder)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("damage", ["no pseudo", "cut"])
def test_zsner_transfer_on_a_damaged_checkpoint_exits_2_with_one_line(augmented, tmp_path, damage):
    """At the command line: exit 2, the error as the last line on standard error, no traceback."""
    out = tmp_path / "out"
    shutil.copytree(augmented["out"], out)
    path = out / "seed2" / "augmented" / "checkpoint.pt"
    archive = copy.deepcopy(augmented["raw"])
    del archive["task"]["pseudo"]
    place(path, augmented["bytes"][:1000] if damage == "cut" else _saved(archive))
    flags = {"src": "en", "tgt": "es", "mode": "augmented", "mapping-dir": augmented["mapping"],
             "cache-dir": out / "cache", "figures": "false", "data-dir": augmented["root"], "out": out,
             "epochs": TRAIN.epochs, "eval-every": TRAIN.eval_every, "batch-size": TRAIN.batch_size,
             "seed": TRAIN.seed, "word-dim": SMALL.word_dim, "char-dim": SMALL.char_dim,
             "char-hidden": SMALL.char_hidden, "word-hidden": SMALL.word_hidden, "dense-dim": SMALL.dense_dim,
             "shared-lstm": "true", "rounds": AUGMENT.rounds, "round-steps": AUGMENT.round_steps, "threads": 1}
    command = [sys.executable, "-m", "zsner.cli", "transfer", "--no-progress",
               *[part for name, value in flags.items() for part in (f"--{name}", str(value))]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert lines[-1].startswith("zsner transfer: error: ") and str(path) in lines[-1], done.stderr
