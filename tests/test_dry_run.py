"""``--dry-run`` and every command check everything the real run would before anything starts: `zsner grid --dry-run`
(languages in the registry, their files on the data search path, flags, the model folders and checkpoints named,
extras), `zsner run` / run.sh (ZSNER_DRY_RUN=1 and real: every backend's command before the first starts or Ray
does), `zsner transfer --teacher`, `zsner transformer --round-robin`, `zsner vectors --layer auto --reference`.
A bad input is one line, exit 2, nothing printed on stdout and nothing written."""
from __future__ import annotations

import json

import pytest
import torch

from tests.synthetic import write_language
from zsner import resources
from zsner.cli import main


def checkpoint_archive(base) -> dict:
    """A zsner transformer checkpoint's archive (the fields every reader checks) whose base model folder is
    ``base``."""
    return {"format": "zsner-transformer-1", "model_config": {"model": str(base), "head": "softmax"},
            "tags": ["O", "B-PER", "I-PER"], "languages": [], "cloze": False, "state": {"w": torch.zeros(1)},
            "meta": {}}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """Tiny en / es data ($ZSNER_DATA, 20-d vectors), a Hugging Face-like folder, a zsner run folder, a garbage
    .pt file, a transformer checkpoint naming a missing base folder; a registered language 'zz' whose test file
    is nowhere; cwd an empty folder."""
    data = tmp_path / "data"
    for lang in ("en", "es"):
        write_language(data, lang, sizes=(20, 10, 10))
    monkeypatch.setenv("ZSNER_DATA", str(data))
    es = resources.DATASETS["es"]
    files = {"train": es.files["train"], "dev": es.files["dev"], "test": "ner/zz/zz.testb"}
    monkeypatch.setitem(resources.DATASETS, "zz", resources.DatasetSpec("zz", files, es.encodings, "iob2"))
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 20}))
    run_folder = tmp_path / "a-run"
    run_folder.mkdir()
    (run_folder / "config.json").write_text(json.dumps({"model": {}, "train": {}}))
    garbage = tmp_path / "teacher.pt"
    garbage.write_text("a few words of plain text\n")
    orphan = tmp_path / "orphan.pt"
    torch.save(checkpoint_archive(tmp_path / "gone"), orphan)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"data": data, "hf": str(hf), "run": str(run_folder), "garbage": str(garbage), "orphan": str(orphan),
            "work": work, "out": work / "out"}


def _one_line(capsys, fragment: str, command: str):
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"zsner {command}: error: ") and fragment in lines[0], lines
    return lines[0]


def run_main(argv) -> int:
    """``zsner.cli.main``'s exit code (zsner run ends with the failing command's code, as SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def _nothing_written(setup):
    assert list(setup["work"].iterdir()) == []


CLASSIC = ["grid", "--pairs", "en-es", "--modes", "shared", "--dry-run", "--out", "out"]
TRANSFORMER = ["grid", "--backend", "transformer", "--pairs", "en-es", "--dry-run", "--out", "out"]


@pytest.mark.parametrize("argv, fragment", [
    (["grid", "--pairs", "en-xx", "--modes", "shared", "--dry-run", "--out", "out"],
     "en-xx-shared/seed1: unknown language 'xx'; known: ar, de, en"),
    (["grid", "--pairs", "xx-es", "--modes", "mono", "--dry-run", "--out", "out"], "unknown language 'xx'"),
    (["grid", "--pairs", "en-zz", "--modes", "shared", "--dry-run", "--out", "out"],
     "missing zz test NER file 'ner/zz/zz.testb'; looked in:"),
    (["grid", "--pairs", "en-wikiann:xx", "--modes", "shared", "--dry-run"], "unknown language 'wikiann:xx'"),
    ([*CLASSIC, "--flags", "--word-dim 50"], "en vectors have dimension 20 but --word-dim is 50"),
    ([*CLASSIC, "--flags", "--word-dim 20 --device tpu"], "unknown --device 'tpu'"),
    ([*CLASSIC, "--flags", "--word-dim 20 --vectors encoder --encoder {tmp}/nothing"],
     "not a Hugging Face model folder (no config.json): --encoder PATH"),
    ([*CLASSIC, "--flags", "--word-dim 20 --vectors concat --encoder {run}"],
     "not a Hugging Face model folder (its config.json names no model_type): --encoder PATH"),
    (["grid", "--pairs", "en-es", "--modes", "mono", "--dry-run", "--flags", "--vectors encoder --encoder {hf}"],
     "--vectors encoder builds its own shared space: it does not go with --mode mono"),
    (["grid", "--pairs", "en-es", "--dry-run", "--flags", "--word-dim 20 --teacher {garbage}"],
     "teacher.pt: not a readable model file"),
    (["grid", "--pairs", "en-es", "--dry-run", "--flags", "--word-dim 20 --teacher {orphan}"],
     "--teacher: the Hugging Face folder the run was trained from"),
    (["grid", "--pairs", "en-es", "--modes", "shared", "--dry-run", "--flags", "--word-dim 20 --teacher {orphan}"],
     "--teacher replaces Algorithm 1's pseudo-labels: it needs --mode augmented"),
    (["grid", "--pairs", "en-es", "--modes", "shared", "--dry-run", "--flags", "--word-dim 20 --mapping-dir {hf}"],
     "--mapping-dir is not a finished `zsner map` folder"),
    ([*TRANSFORMER, "--flags", "--model {tmp}/nothing"], "--model PATH needs a local folder"),
    ([*TRANSFORMER, "--flags", "--model {run}"], "names no model_type"),
    ([*TRANSFORMER, "--flags", "--model {hf} --init {garbage}"], "teacher.pt: not a readable model file"),
    ([*TRANSFORMER, "--flags", "--model {hf} --head lstm"], "--head must be one of"),
    ([*TRANSFORMER, "--flags", "--model {hf} --train-file {tmp}/no.conll"], "no such file (--train-file)"),
    (["grid", "--backend", "transformer", "--pairs", "en-zz", "--dry-run", "--flags", "--model {hf}"],
     "en-zz-zero-shot/seed1: missing zz test NER file"),
    (["grid", "--backend", "transformer", "--pairs", "en-es+xx", "--dry-run", "--flags", "--model {hf}"],
     "unknown language 'xx'"),
    (["grid", "--backend", "transformer", "--pairs", "en-es", "--modes", "augmented", "--dry-run",
      "--flags", "--model {hf} --data-dir {tmp}/nothing"], "no such data folder (--data-dir)"),
])
def test_a_grid_dry_run_checks_what_its_runs_would(setup, capsys, tmp_path, argv, fragment):
    assert main([word.format(tmp=tmp_path, **setup) for word in argv]) == 2
    _one_line(capsys, fragment, "grid")
    _nothing_written(setup)


def test_a_good_grid_dry_run_prints_every_step(setup, capsys, tmp_path):
    assert main([*CLASSIC, "--flags", "--word-dim 20", "--seeds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("]")[0].split(" ")[0] for line in lines] == ["[prepare", "[run", "[run", "[gather"]
    assert main([*TRANSFORMER, "--flags", f"--model {setup['hf']} --aux li"]) == 0
    assert capsys.readouterr().out.startswith("[run en-es-zero-shot/seed1] zsner transformer --src en --tgt es")
    # a source language's test file is not read (zz has train and dev only): a run that tests on es is fine
    assert main(["grid", "--backend", "transformer", "--pairs", "en+zz-es", "--dry-run", "--flags",
                 f"--model {setup['hf']}"]) == 0
    assert capsys.readouterr().out.startswith("[run en+zz-es-zero-shot/seed1] zsner transformer --src en,zz")
    _nothing_written(setup)


def test_a_remote_grid_leaves_the_device_to_its_cluster(setup, capsys, monkeypatch):
    """--address: the runs' devices are the cluster's, not this machine's (no CUDA here is no error)."""
    import zsner.device
    from zsner.errors import ZsnerError

    def no_cuda(name="auto"):
        raise ZsnerError(f"--device {name}: no CUDA device is available here")

    monkeypatch.setattr(zsner.device, "resolve_device", no_cuda)
    argv = [*CLASSIC, "--flags", "--word-dim 20 --device cuda"]
    assert main(argv) == 2
    _one_line(capsys, "no CUDA device is available here", "grid")
    assert main([*argv, "--address", "127.0.0.1:1"]) == 0
    assert "--device cuda" in capsys.readouterr().out


def test_run_sh_dry_run_checks_the_model_and_languages(setup, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ZSNER_DRY_RUN", "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_main(["run", "en", "es", "--backend", "transformer", "--model", str(empty)]) == 2
    _one_line(capsys, "not a Hugging Face model folder (no config.json): --model PATH", "transformer")
    assert run_main(["run", "en", "xx", "--backend", "transformer", "--model", setup["hf"]]) == 2
    _one_line(capsys, "unknown language 'xx'", "transformer")
    assert main(["run", "en", "es", "--backend", "both", "--model", setup["hf"], "--classic", "--word-dim", "20"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3  # transfer, transformer, compare
    _nothing_written(setup)


def test_run_sh_checks_the_transformer_before_the_classic_run_starts(setup, capsys, monkeypatch, tmp_path):
    """--backend both once trained the classic model for hours, then failed on the transformer's model folder."""
    from zsner import runner

    calls = []
    monkeypatch.setattr(runner, "_call", calls.append)
    monkeypatch.setattr("zsner.grid.seeds.parallel_seeds", lambda command: False)
    assert run_main(["run", "en", "es", "--backend", "both", "--model", setup["run"], "--classic", "--word-dim",
                     "20"]) == 2
    _one_line(capsys, "names no model_type", "transformer")
    assert calls == []
    assert main(["run", "en", "es", "--backend", "both", "--model", setup["hf"], "--classic", "--word-dim", "20"]) == 0
    assert [command[0] for command in calls] == ["transfer", "transformer", "compare"]


def test_several_seeds_stop_on_a_bad_language_before_ray(setup, capsys, monkeypatch):
    """--mode mono has no word space to prepare: the first check was the Ray tasks' own."""
    pytest.importorskip("ray")
    import zsner.grid.execute

    started = []
    monkeypatch.setattr(zsner.grid.execute, "execute", lambda *args, **kwargs: started.append(args) or {})
    from zsner.grid.seeds import parallel_seeds

    with pytest.raises(SystemExit) as stop:
        parallel_seeds(["transfer", "--src", "en", "--tgt", "xx", "--mode", "mono", "--seeds", "3"])
    assert stop.value.code == 2 and started == []
    _one_line(capsys, "unknown language 'xx'", "transfer")
    assert run_main(["run", "en", "zz", "--mode", "mono", "--seeds", "3", "--word-dim", "20"]) == 2
    _one_line(capsys, "missing zz test NER file", "transfer")
    assert started == []
    _nothing_written(setup)


def test_a_bad_teacher_stops_zsner_transfer_before_any_work(setup, capsys, monkeypatch):
    """The teacher checkpoint was only looked for: a file of plain text, or one whose base model folder is gone,
    failed after the mapping and the base training."""
    import zsner.transfer.pipeline as pipeline

    def started(*args, **kwargs):
        raise AssertionError("the transfer started before its teacher was checked")

    monkeypatch.setattr(pipeline, "_run", started)
    common = ["transfer", "--src", "en", "--tgt", "es", "--mode", "augmented", "--word-dim", "20",
              "--out", "out", "--cache-dir", "cache"]
    assert main([*common, "--teacher", setup["garbage"]]) == 2
    _one_line(capsys, "teacher.pt: not a readable model file", "transfer")
    assert main([*common, "--teacher", setup["orphan"]]) == 2
    _one_line(capsys, "--teacher: the Hugging Face folder the run was trained from", "transfer")
    _nothing_written(setup)


def test_round_robin_finds_every_file_before_the_first_fold(setup, capsys, monkeypatch):
    """zz's test file is read only when zz is held out, last: two folds trained before the failure."""
    import zsner.transformer.run as transformer_run

    folds = []
    monkeypatch.setattr(transformer_run, "run", lambda *args, **kwargs: folds.append(args) or {"selection": {}})
    argv = ["transformer", "--model", setup["hf"], "--round-robin", "en,es,zz", "--out", "out"]
    assert main(argv) == 2
    _one_line(capsys, "missing zz test NER file", "transformer")
    assert folds == []
    _nothing_written(setup)


def test_vectors_checks_the_reference_language_before_loading_the_encoder(setup, capsys, monkeypatch):
    import zsner.encoder_vectors.build as build

    def load(*args, **kwargs):
        raise AssertionError("the encoder was loaded before --reference was checked")

    monkeypatch.setattr(build, "load_encoder", load)
    common = ["vectors", "--model", setup["hf"], "--lang", "es", "--layer", "auto", "--out", "out/es.vec"]
    assert main([*common, "--reference", "xx"]) == 2
    _one_line(capsys, "unknown language 'xx'", "vectors")
    assert main([*common, "--reference", "es"]) == 2
    _one_line(capsys, "--reference must differ from --lang es", "vectors")
    _nothing_written(setup)
