"""Device handling without a GPU: ``--device`` resolution, the CRF in float32 under autocast, training steps that
never read a tensor back (run on the ``meta`` device, where any host read raises), every batch moved to the run's
device, ``auto`` as every command's default, and the prepared GPU check's CPU dry run."""
from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.overrides import TorchFunctionMode

import zsner.device
from conftest import REPO
from tests.synthetic import write_language
from zsner.cli import main
from zsner.config import TaggerConfig, TrainConfig
from zsner.crf import CRF
from zsner.data.tags import allowed_transitions
from zsner.device import resolve_device, to_device
from zsner.errors import ZsnerError
from zsner.train.loop import SupervisedTask, train_supervised
from zsner.train.model_io import build_tagger
from zsner.train.prepare import prepare_supervised
from zsner.train.epochs import EpochTraining

torch.set_num_threads(1)
SMALL = TaggerConfig(word_dim=20, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16)
TAGS = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG", "MISC") for p in "BIES"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") == resolve_device(" CPU ")
    for name, fragment in (("tpu", "unknown --device"), ("gpu", "unknown --device"), ("cuda:x", "unknown --device"),
                           ("cuda", "no CUDA device"), ("cuda:0", "no CUDA device")):
        with pytest.raises(ZsnerError, match=fragment) as caught:
            resolve_device(name)
        assert "\n" not in str(caught.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ZsnerError, match="only 2 CUDA"):
        resolve_device("cuda:2")


def test_to_device_moves_nested_values_and_batches():
    class Batch:
        def __init__(self, words):
            self.words = words

        def to(self, device):
            return Batch(self.words.to(device))

    moved = to_device({"a": torch.ones(2), "b": [torch.zeros(1), (Batch(torch.ones(3)), "text")]}, "meta")
    assert moved["a"].is_meta and moved["b"][0].is_meta and moved["b"][1][0].words.is_meta
    assert moved["b"][1][1] == "text" and isinstance(moved["b"][1], tuple)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_crf_stays_float32_under_autocast(dtype):
    """Half precision rounds the forward algorithm's clamp to 0 (log Z -inf, NaN gradients) and blurs scores."""
    torch.manual_seed(0)
    crf = CRF(len(TAGS), allowed_transitions(TAGS, "iobes"))
    emissions = (torch.randn(4, 40, len(TAGS)) * 20).requires_grad_(True)
    mask = torch.ones(4, 40, dtype=torch.bool)
    mask[1, 30:] = False
    tags = torch.zeros(4, 40, dtype=torch.long)
    reference = crf.log_likelihood(emissions, tags, mask)
    (reference_grad,) = torch.autograd.grad(reference.sum(), emissions)
    with torch.autocast("cpu", dtype=dtype):
        value = crf.log_likelihood(emissions, tags, mask)
        paths = crf.decode(emissions.detach().to(dtype), mask)
    (grad,) = torch.autograd.grad(value.sum(), emissions)
    assert value.dtype == torch.float32 and torch.isfinite(value).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(value, reference, atol=1e-4, rtol=0)
    torch.testing.assert_close(grad, reference_grad, atol=1e-4, rtol=0)
    assert torch.equal(paths, crf.decode(emissions.detach().to(dtype).float(), mask))


def count_host_reads(monkeypatch) -> list:
    """Replace ``zsner.device.host_float`` wherever zsner imported it; returns the list of values it was given."""
    reads: list = []
    original = zsner.device.host_float
    for name, module in list(sys.modules.items()):
        if name.startswith("zsner") and getattr(module, "host_float", None) is original:
            monkeypatch.setattr(module, "host_float", lambda value: reads.append(value) or 0.0)
    return reads


def test_training_steps_stay_on_the_device(tmp_path, monkeypatch):
    """On ``meta`` tensors have no data: any ``.item()``, ``float()``, ``.numpy()`` or ``.cpu()`` raises. The only
    host read allowed is the one helper, once per evaluation; every batch reaches the model on the device."""
    train = TrainConfig(lang="en", epochs=1, eval_every=3, batch_size=8, seed=1, device="meta")
    data = prepare_supervised(train, SMALL, write_language(tmp_path / "data", sizes=(32, 5, 5)))
    model = build_tagger(SMALL, data.vocabs).to("meta")
    batches = []

    def on_device(module, args):
        batches.append(all(value.is_meta for value in vars(args[0]).values() if isinstance(value, torch.Tensor)))

    model.encoder.register_forward_pre_hook(on_device)

    class Task(SupervisedTask):  # the evaluation decodes to the host: not part of the training step
        def evaluate(self):
            return {"dev": {"micro": {"f1": 0.0}}}

        def save_model(self, path, extra):
            pass

    reads = count_host_reads(monkeypatch)
    (tmp_path / "run").mkdir()
    state = EpochTraining(train, tmp_path / "run", model, Task(model, data, train, SMALL), {"dev": ("dev", "m.pt")},
                    ["dev"], progress_bars=False).run()
    assert state.step == len(batches) == 4 and all(batches)
    assert len(reads) == len(state.rows) == 2  # step 3 and the end of the epoch
    assert all(isinstance(value, torch.Tensor) and value.is_meta for value in reads)


def test_transfer_reloads_chosen_checkpoints_onto_the_run_device(tmp_path, monkeypatch):
    """``summarize`` decodes each criterion's best checkpoint: it must follow the batches to the run's device."""
    from zsner.transfer import variants

    def on_device(model, corpus, tags, batch_size, device):
        assert all(parameter.is_meta for parameter in model.parameters()) and str(device) == "meta"
        return {"micro": {"f1": 50.0}}, []

    monkeypatch.setattr(variants, "load_model", lambda path, embeddings: (torch.nn.Linear(2, 2), None, None, {}))
    monkeypatch.setattr(variants, "evaluate", on_device)
    no_sentences = type("Corpus", (list,), {"sentences": []})()
    data = SimpleNamespace(corpora={"tgt-test": no_sentences}, vocabs=SimpleNamespace(tags=SimpleNamespace(items=TAGS)),
                           embeddings=None, coverage={}, src="en", tgt="es")
    state = SimpleNamespace(rows=[[1, 0, 0.1, 1.0, 60.0, 55.0, 50.0]], best={c: {"step": 1} for c in variants.CRITERIA},
                            train_seconds=1.0, step=1)
    result = variants.summarize("word", tmp_path, data, TrainConfig(device="meta"), state, torch.nn.Linear(2, 2), None)
    assert result["device"] == "meta" and result["criteria"]["src-dev"]["tgt_test_f1"] == 50.0


class HostReads(TorchFunctionMode):
    """Records, for every tensor read back to the host, the innermost zsner function that asked for it (reads made
    by torch's optimizers, of their step counters kept on the CPU, aside)."""

    METHODS = {torch.Tensor.numpy, torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__float__,
               torch.Tensor.__int__, torch.Tensor.cpu}

    def __init__(self):
        super().__init__()
        self.callers: list[tuple[str, str]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.METHODS:
            stack = traceback.extract_stack()
            ours = [i for i, frame in enumerate(stack) if frame.filename.startswith(str(REPO / "zsner"))]
            if ours and not any("/torch/optim/" in frame.filename for frame in stack[ours[-1]:]):
                caller = stack[ours[-1]]
                self.callers.append((f"{Path(caller.filename).name}:{caller.lineno} {caller.name}", func.__name__))
        return func(*args, **(kwargs or {}))


def test_host_reads_go_through_the_device_module(tmp_path):
    """A whole `zsner train` run: every tensor that comes back to the host comes through ``to_host`` (decoded
    paths) or ``host_float`` (the logged loss, once per evaluation, not per step)."""
    data = write_language(tmp_path / "data", sizes=(40, 10, 10))
    with HostReads() as reads:
        train_supervised(TrainConfig(lang="en", epochs=2, eval_every=3, batch_size=8, device="cpu"), SMALL,
                         tmp_path / "run", data, progress_bars=False)
    elsewhere = sorted({caller for caller, _ in reads.callers if not caller.startswith("device.py")})
    assert not elsewhere, elsewhere
    evaluations = len((tmp_path / "run/loss.tsv").read_text().splitlines()) - 1
    assert evaluations == 4  # steps 3, 6, 9 and the end (10 steps)
    assert sum(caller.endswith("host_float") and method == "__float__" for caller, method in reads.callers) == 4


def test_every_command_defaults_to_auto():
    from zsner.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("train", "evaluate", "predict", "transfer", "transformer", "vectors"):
        default = next(action.default for action in sub[command]._actions if action.dest == "device")
        config_flag = command in ("train", "transfer", "transformer")  # None: the config field's default applies
        assert default == (None if config_flag else "auto"), command
    assert TrainConfig().device == "auto"
    from zsner.transformer.config import TransformerTrainConfig

    assert TransformerTrainConfig().device == "auto"


@NO_CUDA
@pytest.mark.parametrize("command", ["train", "transfer", "transformer", "evaluate", "predict"])
def test_unusable_device_is_one_line_and_writes_nothing(tmp_path, capsys, command):
    out = tmp_path / "out"
    data = write_language(tmp_path / "data", sizes=(5, 3, 3))
    args = {"train": ["--lang", "en", "--data-dir", data, "--out", out],
            "transfer": ["--src", "en", "--tgt", "es", "--data-dir", data, "--out", out],
            "transformer": ["--model", tmp_path, "--out", out],
            "evaluate": ["--model", tmp_path, "--lang", "en", "--out", out],
            "predict": ["--model", tmp_path, "--input", tmp_path / "in.txt", "--output", out]}[command]
    for device, fragment in (("cuda", "no CUDA device"), ("tpu", "unknown --device")):
        capsys.readouterr()
        assert main([command, *map(str, args), "--device", device]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"zsner {command}: error: ") and fragment in err, err
        assert not out.exists()


def test_run_folder_keeps_auto_and_records_the_device(tmp_path, capsys):
    data = write_language(tmp_path / "data", sizes=(30, 10, 10))
    assert main(["train", "--lang", "en", "--data-dir", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--word-dim", "20", "--char-dim", "8", "--char-hidden", "8", "--word-hidden", "16",
                 "--dense-dim", "16", "--no-progress"]) == 0, capsys.readouterr().err
    resolved = str(resolve_device("auto"))
    assert json.loads((tmp_path / "run/config.json").read_text())["train"]["device"] == "auto"
    assert json.loads((tmp_path / "run/metrics.json").read_text())["device"] == resolved
    assert f"device {resolved}" in (tmp_path / "run/training.log").read_text()


# where training steps run: a read back to the host here would synchronise CUDA once per batch
HOT_PATH = ("trainer.py", "epochs.py", "train.py", "loop.py", "variants.py", "augmented.py", "tagger.py", "lstm.py", "crf.py",
            "losses.py", "auxiliary.py")


def test_gpu_check_dry_run_on_cpu(capsys):
    """The prepared GPU check on tiny CPU inputs; the training steps it runs (classic, transfer round, transformer
    with AMP and the CRF head) read nothing back to the host."""
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    with HostReads() as reads:
        status = gpu_check.main(["--device", "cpu", "--tiny", "--data", "synthetic"])
    output = capsys.readouterr().out
    assert status == 0, output
    lines = output.splitlines()
    for check in ("crf", "classic", "transfer", "transformer"):
        assert any(line.startswith(f"PASS {check}: ") and "sent/s" in line for line in lines), output
    assert not any(line.startswith("FAIL") for line in lines) and lines[-1] == "all checks passed"
    in_steps = sorted({caller for caller, _ in reads.callers if caller.split(":")[0] in HOT_PATH})
    assert not in_steps, in_steps
