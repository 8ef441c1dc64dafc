"""Multi-process transformer training (torch DDP, gloo on CPU): 2 processes equal 1 at the same global batch."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import SHARED_DATA
from zsner.cli import main
from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
from zsner.transformer.data import label, read_split
from zsner.transformer.inference import encode
from zsner.transformer.model import build
from zsner.transformer.run import read_inputs
from zsner.transformer.tiny import build_tiny_model
from zsner.transformer.train import FineTuning

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

# Odd batches (3 + 2 windows per process) and 181 source windows: the last batch holds one window, so process 1
# gets none there (it runs the first one with factor 0); grad accumulation (DDP no_sync), LI, pseudo-label rounds.
FLAGS = ["--src", "en", "--tgt", "es", "--mode", "augmented", "--aux", "li", "--data-dir", str(SHARED_DATA),
         "--train-limit", "29", "--eval-limit", "20", "--unlabelled-limit", "30", "--epochs", "1", "--batch-size", "5",
         "--grad-accum", "2", "--lr", "2e-3", "--eval-every", "3", "--pseudo-rounds", "3", "--pseudo-round-steps", "6",
         "--pseudo-source-ratio", "0.5", "--window", "16", "--overlap", "4", "--freeze-layers", "0", "--dropout", "0",
         "--device", "cpu", "--threads", "1", "--quiet"]
# Float32 sums in another order (each process pads its own part, then an all-reduce) leave the weights within
# 1.1e-5 to 2.8e-5 of the one-process run after its 34 AdamW steps (it varies between test sessions);
# a wrong loss normaliser moves them by 1.9e-2 (a mean over windows instead of words) or 2.8e-2 (each process's plain mean, DDP-averaged).
WEIGHT_TOLERANCE = 5e-4
LOSS_TOLERANCE = 2e-5  # loss.tsv keeps 5 decimals


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The tiny BERT without dropout: DDP draws dropout masks per process, so only dropout-free runs are equal."""
    words = [w for lang in ("en", "es") for s in read_split(lang, "train", 60) for w in s.words]
    path = build_tiny_model(tmp_path_factory.mktemp("tiny"), words, layers=2)
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    assert main(["transformer", "--model", folder, *FLAGS, "--out", str(out)]) == 0
    return out


def torchrun(*arguments):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "zsner.cli", "transformer", *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def assert_same_run(run: Path, reference: Path) -> None:
    one = torch.load(reference / "checkpoint.pt", weights_only=True)
    two = torch.load(run / "checkpoint.pt", weights_only=True)
    assert one["step"] == two["step"] and len(two["rank_rng"]) == 2
    assert one["model"].keys() == two["model"].keys()
    difference = max((one["model"][k] - two["model"][k]).abs().max().item() for k in one["model"])
    print(f"max abs weight difference {difference:.2g}")
    assert difference < WEIGHT_TOLERANCE, difference
    rows = [[line.split("\t") for line in (path / "loss.tsv").read_text().splitlines()] for path in (reference, run)]
    header = rows[0][0]
    assert rows[0][0] == rows[1][0] and len(rows[0]) == len(rows[1]) > 8
    for a, b in zip(rows[0][1:], rows[1][1:]):
        for name, x, y in zip(header, a, b):
            if name in ("loss", "ner", "li"):
                assert abs(float(x) - float(y)) <= LOSS_TOLERANCE, (name, a, b)
            elif name != "train_seconds":
                assert x == y, (name, a, b)  # step, epoch, phase, lr, src/tgt dev F1
    metrics = [json.loads((path / "metrics.json").read_text()) for path in (reference, run)]
    assert metrics[1]["speed"]["processes"] == 2
    assert metrics[0]["criteria"] == metrics[1]["criteria"]  # each criterion's step and dev / test F1


def test_two_processes_train_like_one(folder, reference, tmp_path):
    out = tmp_path / "two"
    started = time.perf_counter()
    process = torchrun("--model", folder, *FLAGS, "--out", str(out))
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    print(f"2 processes: {time.perf_counter() - started:.1f} s")
    assert output.count("es test, selected on src-dev") == 1  # only the first process reports
    assert_same_run(out, reference)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())


def test_killed_two_process_run_resumes_like_one(folder, reference, tmp_path):
    killed = tmp_path / "killed"
    process = torchrun("--model", folder, *FLAGS, "--out", str(killed))
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if (killed / "checkpoint.pt").exists() and \
                torch.load(killed / "checkpoint.pt", weights_only=True)["phase"] == "augmented":
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)  # as a scheduler stops a job: torchrun ends both workers (own sessions)
    process.communicate()
    assert not (killed / "metrics.json").exists(), "training finished before it could be killed"
    resumed = torchrun("--resume", str(killed), "--quiet")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "resumed at step" in (killed / "training.log").read_text()
    assert_same_run(killed, reference)


def test_process_shares_add_up_to_the_one_process_gradient(folder, monkeypatch):
    """Per head and loss: the mean over 2 simulated processes of their shares' gradients is the full batch's."""
    for head, kind in (("softmax", "source"), ("crf", "pseudo")):
        model_config = TransformerConfig(model=folder, head=head, window=16, overlap=4, dropout=0.0)
        config = TransformerTrainConfig(src="en", tgt="es", aux="li", train_limit=12, eval_limit=2, unlabelled_limit=12,
                                        pseudo_loss="reverse-focal", data_dir=str(SHARED_DATA), device="cpu",
                                        progress=False)
        inputs = read_inputs(model_config, config)
        torch.manual_seed(0)
        model, tokens = build(model_config, inputs["tags"], inputs["languages"])
        labelled = label("en", inputs["train_sets"]["en"], inputs["tags"], "iob2")
        source = encode(labelled.words, tokens, 16, 4, "en").set_labels(labelled.labels, inputs["tags"], "iob2")
        unlabelled = encode(inputs["unlabelled_words"]["es"], tokens, 16, 4, "es")
        trainer = FineTuning(model, model_config, config, "unused", source, unlabelled, [])
        for indices in ([0, 5, 9, 14, 20], [3]):  # 3 + 2 windows; 1 + 0 (process 1 gets factor 0)

            def gradients(rank: int, world: int):
                monkeypatch.setenv("RANK", str(rank))
                monkeypatch.setenv("WORLD_SIZE", str(world))
                trainer._unlabelled_queue = [[1, 4, 7]]  # the same target batch for every process
                model.zero_grad()
                parts = trainer._losses(source, indices, kind)
                trainer._total(parts).backward()
                return {k: float(v.detach()) for k, v in parts.items()}, {
                    n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

            one_parts, one = gradients(0, 1)
            shares = [gradients(rank, 2) for rank in (0, 1)]
            assert one.keys() == shares[0][1].keys() == shares[1][1].keys()
            for name in one:
                mean = (shares[0][1][name] + shares[1][1][name]) / 2
                assert torch.allclose(mean, one[name], atol=1e-6, rtol=1e-4), (head, name, indices)
            for name, value in one_parts.items():  # the logged losses: the mean over the processes
                assert (shares[0][0][name] + shares[1][0][name]) / 2 == pytest.approx(value, rel=1e-5)


def test_cloze_tasks_are_refused_under_torchrun(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["transformer", "--model", folder, "--aux", "cl", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "torchrun" in error and not (tmp_path / "r").exists()
