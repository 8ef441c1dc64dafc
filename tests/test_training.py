"""The supervised loop: schedule, clipping, repeatable seeds, run-folder outputs, and kill/resume."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.synthetic import write_language
from zsner.config import TaggerConfig, TrainConfig
from zsner.data.conll import read_conll
from zsner.evaluation import span_metrics
from zsner.train.epochs import epoch_lr
from zsner.train.loop import train_supervised
from zsner.train.trainer import clip_gradients

torch.set_num_threads(1)
SMALL = TaggerConfig(word_dim=20, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16)


def small_train(**changes):
    values = dict(lang="en", epochs=3, eval_every=10, batch_size=8, seed=3)
    values.update(changes)
    return TrainConfig(**values)


def test_learning_rate_schedule_is_the_papers():
    config = TrainConfig()
    assert epoch_lr(config, 0) == pytest.approx(0.1)
    assert epoch_lr(config, 10) == pytest.approx(0.1 / 1.1)
    assert epoch_lr(TrainConfig(lr=0.1, min_lr=1e-4, lr_decay=100.0), 50) == pytest.approx(1e-4)


def test_clipping_rescales_large_gradients_and_keeps_small_ones():
    big, small = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(3))
    big.grad, small.grad = torch.tensor([30.0, 40.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.0])
    norm = clip_gradients([big, small], 5.0)
    assert norm == pytest.approx(50.0)
    assert torch.allclose(big.grad, torch.tensor([3.0, 4.0, 0.0, 0.0]))  # direction kept, norm 5
    little = torch.nn.Parameter(torch.zeros(2))
    little.grad = torch.tensor([0.3, 0.4])
    clip_gradients([little], 5.0)
    assert torch.allclose(little.grad, torch.tensor([0.3, 0.4]))


def test_run_folder_outputs_and_learning(tmp_path):
    data = write_language(tmp_path / "data")
    metrics = train_supervised(small_train(epochs=8), SMALL, tmp_path / "run", data_dir=data, progress_bars=False)
    run = tmp_path / "run"
    for name in ("config.json", "metrics.json", "training.log", "loss.tsv", "best-model.pt", "checkpoint.pt",
                 "predictions.dev.conll", "predictions.test.conll", "report.txt"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["epochs"] == 8 and config["tagger"]["word_hidden"] == 16
    # the synthetic language is easy: a working tagger must learn it
    assert metrics["test"]["micro"]["f1"] > 90
    # metrics.json agrees with the predictions file it wrote
    rows = read_conll(run / "predictions.test.conll")
    gold = [s.tags for s in read_conll(data / "ner" / "en" / "eng.testb")]
    predicted = [[line.split()[2] for line in block.splitlines()]
                 for block in (run / "predictions.test.conll").read_text().strip().split("\n\n")]
    assert [s.words for s in rows] == [s.words for s in read_conll(data / "ner" / "en" / "eng.testb")]
    assert span_metrics(gold, predicted)["micro"]["f1"] == metrics["test"]["micro"]["f1"]
    header, *lines = (run / "loss.tsv").read_text().splitlines()
    assert header.split("\t") == ["step", "epoch", "lr", "loss", "dev_f1"]
    assert [int(line.split("\t")[0]) for line in lines][:3] == [10, 20, 30]


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    data = write_language(tmp_path / "data")
    first = train_supervised(small_train(epochs=1), SMALL, tmp_path / "a", data_dir=data, progress_bars=False)
    second = train_supervised(small_train(epochs=1), SMALL, tmp_path / "b", data_dir=data, progress_bars=False)
    train_supervised(small_train(epochs=1, seed=4), SMALL, tmp_path / "c", data_dir=data, progress_bars=False)
    assert first["dev"] == second["dev"] and first["test"] == second["test"]
    assert (tmp_path / "a" / "loss.tsv").read_text() == (tmp_path / "b" / "loss.tsv").read_text()
    assert (tmp_path / "a" / "loss.tsv").read_text() != (tmp_path / "c" / "loss.tsv").read_text()


def _train_command(data, out, extra=()):
    flags = ["--lang", "en", "--data-dir", str(data), "--out", str(out), "--epochs", "12", "--eval-every", "10",
             "--batch-size", "8", "--seed", "5", "--word-dim", "20", "--char-dim", "8", "--char-hidden", "8",
             "--word-hidden", "16", "--dense-dim", "16", "--no-progress", *extra]
    return [sys.executable, "-m", "zsner.cli", "train", *flags]


def _dev_column(run):
    return [line.split("\t")[4] for line in (run / "loss.tsv").read_text().splitlines()[1:]]


def test_sigkilled_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    data = write_language(tmp_path / "data", sizes=(400, 60, 60))
    reference = tmp_path / "reference"
    subprocess.run(_train_command(data, reference), check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(data, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once at least three evaluations have been checkpointed
        if (killed / "loss.tsv").exists() and len((killed / "loss.tsv").read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "metrics.json").exists(), "training finished before it could be killed"
    # a kill mid-write may leave a temporary file, but never a half-written file under a real name
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in killed.iterdir()
               if p.suffix not in (".json", ".tsv", ".pt", ".npy", ".log"))
    for name in ("loss.tsv", "config.json"):
        (killed / name).read_text()  # complete, parseable files
    torch.load(killed / "checkpoint.pt", weights_only=True)  # loads without running code

    resumed = subprocess.run([sys.executable, "-m", "zsner.cli", "train", "--resume", str(killed), "--data-dir",
                              str(data), "--no-progress"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at step" in (killed / "training.log").read_text()
    expected = json.loads((reference / "metrics.json").read_text())
    got = json.loads((killed / "metrics.json").read_text())
    assert got["dev"] == expected["dev"] and got["test"] == expected["test"]
    assert _dev_column(killed) == _dev_column(reference)


def test_evaluate_and_predict_reproduce_the_run(tmp_path, capsys):
    from zsner.cli import main

    data = write_language(tmp_path / "data")
    metrics = train_supervised(small_train(epochs=4), SMALL, tmp_path / "run", data_dir=data, progress_bars=False)
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--lang", "en", "--data-dir", str(data),
                 "--out", str(tmp_path / "eval")]) == 0
    scored = json.loads((tmp_path / "eval" / "metrics.en.json").read_text())
    assert scored["dev"] == metrics["dev"] and scored["test"] == metrics["test"]
    capsys.readouterr()
    sentences = [s.words for s in read_conll(data / "ner" / "en" / "eng.testb")][:5]
    (tmp_path / "in.txt").write_text("\n".join(" ".join(words) for words in sentences) + "\n")
    assert main(["predict", "--model", str(tmp_path / "run"), "--input", str(tmp_path / "in.txt")]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    tagged = [[line.split()[1] for line in block.splitlines()] for block in blocks]
    expected = [[line.split()[2] for line in block.splitlines()]
                for block in (tmp_path / "run" / "predictions.test.conll").read_text().strip().split("\n\n")][:5]
    assert [[line.split()[0] for line in block.splitlines()] for block in blocks] == sentences
    assert tagged == expected


def test_resume_refuses_flags_that_change_the_run_and_applies_safe_ones(tmp_path, capsys):
    from zsner.cli import main

    data = write_language(tmp_path / "data")
    run = tmp_path / "run"
    train_supervised(small_train(epochs=1), SMALL, run, data_dir=data, progress_bars=False)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "5", "--word-hidden", "8", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{run}: --resume continues the saved configuration; --epochs, --word-hidden" in err[0]
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before  # nothing written
    assert main(["train", "--resume", str(run), "--threads", "1", "--data-dir", str(data), "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 1


def test_rng_states_hold_the_run_devices_generators_and_restore_them():
    from zsner.train.trainer import restore_rng_states, rng_states

    torch.manual_seed(5)
    saved = rng_states("cpu")
    assert set(saved) == {"torch_rng"}  # no CUDA state on a CPU run
    first = torch.rand(3)
    torch.rand(7)
    restore_rng_states({**saved, "cuda_rng": torch.zeros(4, dtype=torch.uint8)}, "cpu")  # a GPU checkpoint on CPU
    assert torch.equal(torch.rand(3), first)
