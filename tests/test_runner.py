"""``zsner run`` (run.sh's argument handling in Python): each flag maps to the zsner calls run.sh made before
(known values, taken from the bash version's dry runs); the calls are planned and executed here without training."""
from __future__ import annotations

import subprocess

import pytest

from zsner import runner
from zsner.errors import ZsnerError
from zsner.runner import plan, shell_words

CPU = ["--epochs", "10", "--eval-every", "300"]


def test_classic_passes_every_flag_to_zsner_transfer_after_the_cpu_schedule():
    calls = plan("en", "es", ["--mode", "shared", "--seeds", "3", "--epochs", "5", "--out", "x", "--no-progress"])
    assert calls.backend == "classic" and calls.transformer is None and calls.compare is None
    assert calls.transfer == ["transfer", "--src", "en", "--tgt", "es", *CPU, "--mode", "shared", "--seeds", "3",
                              "--epochs", "5", "--out", "x", "--no-progress"]
    assert plan("en", "es", ["--schedule=paper", "--backend", "classic"]).transfer == ["transfer", "--src", "en",
                                                                                       "--tgt", "es"]
    assert plan("en", "es", ["--backend=classic", "--schedule", "cpu", "--schedule", "paper"]).transfer[-1] == "es"


def test_transformer_backend(tmp_path):
    model = str(tmp_path)
    calls = plan("en", "nl", ["--backend", "transformer", "--model", model, "--mode=augmented", "--freeze-layers",
                              "6", "--out", "runs/x y", "--epochs", "1"])
    assert calls.transfer is None and calls.compare is None
    assert calls.transformer == ["transformer", "--model", model, "--src", "en", "--tgt", "nl", "--mode", "augmented",
                                 "--freeze-layers", "6", "--epochs", "1", "--out", "runs/x y"]
    default = plan("en", "nl", ["--backend=transformer", f"--model={model}"])
    assert default.transformer == ["transformer", "--model", model, "--src", "en", "--tgt", "nl", "--mode",
                                   "zero-shot", "--out", "runs/en-nl-transformer-zero-shot"]


@pytest.mark.parametrize("mode, classic, transformer", [
    (None, "augmented", "zero-shot"), ("augmented", "augmented", "augmented"), ("zero-shot", "shared", "zero-shot"),
    ("word", "word", "zero-shot"), ("mono", "mono", "zero-shot")])
def test_both_pairs_the_modes(tmp_path, mode, classic, transformer):
    flags = ["--backend", "both", "--model", str(tmp_path)] + (["--mode", mode] if mode else [])
    calls = plan("en", "de", flags)
    assert calls.transfer == ["transfer", "--src", "en", "--tgt", "de", "--mode", classic, *CPU, "--out",
                              f"runs/en-de-{classic}"]
    assert calls.transformer[calls.transformer.index("--mode") + 1] == transformer
    assert calls.compare == ["compare", f"runs/en-de-{classic}", f"runs/en-de-transformer-{transformer}", "--out",
                             "runs/en-de-compare.md"]


def test_both_sections_send_flags_to_one_backend(tmp_path):
    calls = plan("en", "es", ["--backend", "both", "--model", str(tmp_path), "--mode", "zero-shot", "--seeds", "3",
                              "--seed", "2", "--classic", "--epochs", "5", "--mode", "word", "--transformer", "--mode",
                              "augmented", "--freeze-layers", "6", "--schedule", "paper"])
    assert calls.transfer == ["transfer", "--src", "en", "--tgt", "es", "--mode", "word", "--seeds", "3", "--seed",
                              "2", "--epochs", "5", "--out", "runs/en-es-word"]
    assert calls.transformer == ["transformer", "--model", str(tmp_path), "--src", "en", "--tgt", "es", "--mode",
                                 "augmented", "--seed", "2", "--freeze-layers", "6", "--out",
                                 "runs/en-es-transformer-augmented"]


@pytest.mark.parametrize("flags, message", [
    (["--backend", "gpu"], "unknown --backend 'gpu' (available: classic, transformer, both)"),
    (["--backend"], "--backend needs a value"),
    (["--schedule", "fast"], "unknown --schedule 'fast' (available: cpu, paper)"),
    (["--backend", "transformer"], "--backend transformer needs --model PATH (a local Hugging Face model folder)"),
    (["--backend", "both", "--mode", "shared"], "--backend both needs --model PATH"),
    (["--backend", "transformer", "--model", "/no/such/folder"], "--model '/no/such/folder' is not a folder"),
    (["--backend", "transformer", "--model"], "--model needs a value"),
    (["--backend", "transformer", "--model", "{tmp}", "--mode", "word"],
     "transformer --mode must be zero-shot or augmented, not 'word'"),
    (["--backend", "both", "--model", "{tmp}", "--classic", "--mode", "zero-shot"], "classic --mode must be one of"),
    (["--backend", "both", "--model", "{tmp}", "--mode", "x"], "--mode must be one of zero-shot, mono"),
    (["--backend", "transformer", "--model", "{tmp}", "--seeds", "3"], "--seeds is the classic backend's"),
    (["--backend", "both", "--model", "{tmp}", "--transformer", "--seeds", "3"], "--seeds is the classic backend's"),
    (["--backend", "both", "--model", "{tmp}", "--out", "x"], "--out is not used with --backend both"),
    (["--backend", "transformer", "--model", "{tmp}", "--classic"], "--classic sections are for --backend both")])
def test_bad_flags_are_one_error_each(tmp_path, flags, message):
    with pytest.raises(ZsnerError) as error:
        plan("en", "es", [flag.format(tmp=tmp_path) for flag in flags])
    assert str(error.value).startswith(message)


def test_mode_lists_match_the_backends():
    from zsner.transfer.config import MODES
    from zsner.transformer.config import MODES as TRANSFORMER

    assert runner.CLASSIC_MODES == MODES and runner.TRANSFORMER_MODES == TRANSFORMER


def test_dry_run_words_are_quoted_like_bash_printf_q():
    words = ["plain", "a b", "x'y", 'q"', "$HOME", "a,b", "~user", "a~", "#c", "c#", "a=b:c/d.e", "", "*", "(x)"]
    expected = subprocess.run(["bash", "-c", 'printf "%q " python3 -m zsner.cli "$@"', "bash", *words],
                              capture_output=True, text=True, check=True).stdout.rstrip()
    assert shell_words(words) == expected


@pytest.fixture
def recorded(monkeypatch):
    """The calls ``execute`` makes: ``_call`` records instead of running; Ray seeds say 'not used'."""
    calls = []
    monkeypatch.setattr(runner, "_call", lambda command: calls.append(("call", command)))
    import zsner.grid.seeds as seeds

    monkeypatch.setattr(seeds, "parallel_seeds", lambda command: calls.append(("seeds", command)) or False)
    return calls


def test_execute_runs_the_planned_calls_in_order(tmp_path, monkeypatch, recorded, capsys):
    monkeypatch.chdir(tmp_path)
    calls = plan("en", "es", ["--seeds", "2"])
    runner.execute(calls, "run.sh", dry=True)  # the classic backend has no dry run
    assert recorded == [("seeds", calls.transfer), ("call", calls.transfer)]
    recorded.clear()
    both = plan("en", "es", ["--backend", "both", "--model", str(tmp_path)])
    runner.execute(both, "run.sh", dry=False)
    assert recorded == [("seeds", both.transfer), ("call", both.transfer), ("call", both.transformer),
                        ("call", both.compare)]
    assert capsys.readouterr().err == "[run.sh] table written to runs/en-es-compare.md\n"
    (tmp_path / both.transformer_out).mkdir(parents=True)
    (tmp_path / both.transformer_out / "metrics.json").write_text("{}")
    recorded.clear()
    runner.execute(both, "zsner run", dry=True)
    assert recorded == []
    out, err = capsys.readouterr()
    assert out.splitlines() == [shell_words(both.transfer), shell_words(both.compare)]
    assert err.startswith("[zsner run] reusing the finished transformer run in runs/en-es-transformer-zero-shot")


def test_errors_name_run_sh_when_it_calls(capsys):
    with pytest.raises(SystemExit) as stop:
        runner.main(["--called-as", "run.sh", "en", "es", "--backend", "x"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "run.sh: unknown --backend 'x' (available: classic, transformer, both)\n"
    assert runner.main(["en", "es", "--schedule", "x"]) == 2
    assert capsys.readouterr().err == "zsner run: error: unknown --schedule 'x' (available: cpu, paper)\n"


def test_seeds_run_one_after_the_other_without_ray(monkeypatch):
    import importlib.util

    from zsner.grid.seeds import parallel_seeds

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert parallel_seeds(["transfer", "--seeds", "3"]) is False
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert parallel_seeds(["transfer", "--seeds", "1"]) is False  # one seed: nothing to spread
    assert parallel_seeds(["transfer", "--no-such-flag"]) is False  # zsner transfer reports it itself
