"""Optional dependencies: every command-and-flag path that needs an extra stops, where the extra is missing, with one
line naming it (exit 2, nothing written); run.sh installs the extras its arguments need (`--print-extras`, computed
without setting anything up). Absence is simulated in-process: ``sys.modules[name] = None`` makes both the import
and ``importlib.util.find_spec`` fail, as in an environment without the package."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_dry_run import checkpoint_archive
from zsner.cli import main
from zsner.errors import ZsnerError
from zsner.extras import EXTRAS, installed, missing, require

REPO = Path(__file__).resolve().parent.parent
MODULES = {extra: modules for extra, modules in EXTRAS.items()}


@pytest.fixture
def things(tmp_path, monkeypatch):
    """A Hugging Face-like folder, a transformer checkpoint naming it, a text file; cwd is an empty folder."""
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 20}))
    checkpoint = tmp_path / "model.pt"
    torch.save(checkpoint_archive(hf), checkpoint)
    text = tmp_path / "in.txt"
    text.write_text("John lives in Paris .\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"hf": str(hf), "pt": str(checkpoint), "text": str(text), "out": str(work / "out"), "work": work}


# (argv with {hf} {pt} {text} {out}, modules made absent, the extra the line must name)
CASES = [
    (["transfer", "--src", "en", "--tgt", "es", "--vectors", "encoder", "--encoder", "{hf}", "--out", "{out}"],
     ["transformers"], "transformer", "--vectors encoder"),
    (["transfer", "--vectors", "concat", "--encoder", "{hf}", "--out", "{out}"], ["transformers"], "transformer",
     "--vectors concat"),
    (["transfer", "--mode", "augmented", "--teacher", "{pt}", "--out", "{out}"], ["transformers"], "transformer",
     "--teacher"),
    (["transformer", "--model", "{hf}", "--src", "en", "--tgt", "es", "--out", "{out}"], ["transformers"],
     "transformer", "zsner transformer"),
    (["transformer", "--resume", "{out}"], ["transformers"], "transformer", "zsner transformer"),
    (["vectors", "--model", "{hf}", "--lang", "es", "--out", "{out}/es.vec"], ["transformers"], "transformer",
     "zsner vectors"),
    (["project", "--tagger", "{pt}", "--out", "{out}"], ["transformers"], "transformer", "zsner project"),
    (["cluster", "--model", "{hf}", "--out", "{out}"], ["transformers"], "transformer", "zsner cluster"),
    (["groups", "--model", "{hf}", "--out", "{out}"], ["transformers"], "transformer", "zsner groups"),
    (["groups", "--model", "{hf}", "--out", "{out}", "--ray"], ["ray"], "distributed", "--ray"),
    (["groups", "--model", "{hf}", "--out", "{out}", "--address", "h:1"], ["ray"], "distributed", "--address"),
    (["export", "{pt}", "--out", "{out}"], ["transformers"], "transformer", "zsner export"),
    (["tag", "{pt}", "--input", "{text}", "--output", "{out}/tags.jsonl"], ["transformers"], "transformer",
     "a transformer model"),
    (["predict", "--model", "{pt}", "--input", "{text}", "--output", "{out}/tags.conll"], ["transformers"],
     "transformer", "a transformer model"),
    (["serve", "{pt}", "--port", "0"], ["transformers"], "transformer", "serving a transformer model"),
    (["serve", "{pt}", "--port", "0"], ["fastapi"], "serve", "zsner serve"),
    (["serve", "{pt}", "--port", "0"], ["uvicorn"], "serve", "zsner serve"),
    (["grid", "--pairs", "en-es", "--modes", "shared", "--dry-run", "--out", "{out}"], ["ray"], "distributed",
     "zsner grid"),
    (["grid", "--pairs", "en-es", "--modes", "shared", "--out", "{out}"], ["ray"], "distributed", "zsner grid"),
    (["grid", "--backend", "transformer", "--flags", "--model {hf}", "--dry-run", "--out", "{out}"],
     ["transformers"], "transformer", "zsner transformer"),
    (["grid", "--pairs", "en-es", "--modes", "shared", "--flags", "--vectors encoder --encoder {hf}", "--out",
      "{out}"], ["transformers"], "transformer", "--vectors encoder"),
    (["grid", "--pairs", "en-es", "--modes", "augmented", "--flags", "--teacher {pt}", "--dry-run", "--out",
      "{out}"], ["transformers"], "transformer", "--teacher"),
    (["run", "en", "es", "--backend", "transformer", "--model", "{hf}", "--out", "{out}"], ["transformers"],
     "transformer", "zsner transformer"),
    (["run", "en", "es", "--backend", "both", "--model", "{hf}"], ["transformers"], "transformer",
     "zsner transformer"),
    (["run", "en", "es", "--mode", "augmented", "--vectors", "encoder", "--encoder", "{hf}", "--encoder-contexts"],
     ["transformers"], "transformer", "--vectors encoder"),
    (["run", "en", "es", "--mode", "augmented", "--teacher", "{pt}", "--seeds", "3"], ["transformers"],
     "transformer", "--teacher"),
]


def run_main(argv) -> int:
    """``zsner.cli.main``'s exit code (zsner run ends with the failing command's code, as SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def _argv(template, things):
    return [word.format(**things) for word in template]


@pytest.mark.parametrize("template, absent, extra, why", CASES, ids=[" ".join(case[0][:3]) for case in CASES])
def test_a_missing_extra_is_one_line_naming_it(things, monkeypatch, capsys, template, absent, extra, why):
    for module in absent:
        monkeypatch.setitem(sys.modules, module, None)
    code = run_main(_argv(template, things))
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    command = {"run": "(transfer|transformer)"}.get(template[0], template[0])  # zsner run: the failing command's
    assert re.match(f"zsner {command}: error: ", lines[0]) and why in lines[0], lines[0]
    assert f"needs the '{extra}' extra: pip install -e \".[{extra}]\"" in lines[0]
    assert "bash run.sh" in lines[0] and "Traceback" not in captured.err
    assert not Path(things["out"]).exists() and list(things["work"].iterdir()) == []  # nothing written


@pytest.mark.parametrize("template, absent, extra, why", CASES, ids=[" ".join(case[0][:3]) for case in CASES])
def test_run_sh_installs_the_extra_of_each_path(things, template, absent, extra, why):
    """What the message promises: `bash run.sh zsner ARGS` (and `bash run.sh SRC TGT ...` for zsner run) installs
    the extra that path needs."""
    argv = _argv(template, things)
    forms = [["zsner", *argv]] + ([argv[1:]] if argv[0] == "run" else [])
    for form in forms:
        assert extra in _print_extras(form).split(","), form


def _print_extras(args, cwd=REPO, env=None) -> str:
    result = subprocess.run(["bash", str(Path(cwd) / "run.sh"), "--print-extras", *map(str, args)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("args, expected", [
    ([], ""),
    (["en", "es"], ""),
    (["en", "es", "--seeds", "1"], ""),
    (["en", "es", "--seeds", "3"], "distributed"),
    (["en", "es", "--seeds=2", "--backend", "both"], "distributed,transformer"),
    (["en", "es", "--backend", "transformer", "--model", "M"], "transformer"),
    (["en", "es", "--backend=transformer"], "transformer"),
    (["en", "es", "--backend", "classic"], ""),
    (["en", "es", "--mode", "augmented", "--vectors", "encoder", "--encoder", "P", "--encoder-contexts"],
     "transformer"),  # the documented command of issue 30
    (["en", "es", "--vectors=concat", "--encoder", "P"], "transformer"),
    (["en", "es", "--vectors", "fasttext"], ""),
    (["en", "es", "--mode", "augmented", "--teacher", "runs/t"], "transformer"),
    (["en", "es", "--teacher=runs/t", "--seeds", "5"], "distributed,transformer"),
    (["--test"], "distributed,serve,test,transformer"),
    (["--test", "-x", "tests/test_crf.py"], "distributed,serve,test,transformer"),
    (["zsner"], ""),
    (["zsner", "data", "en"], ""),
    (["zsner", "transfer", "--seeds", "3"], ""),  # zsner transfer runs its seeds one after the other
    (["zsner", "transfer", "--vectors", "encoder"], "transformer"),
    (["zsner", "run", "en", "es", "--seeds", "4"], "distributed"),
    (["zsner", "serve", "runs/x"], "serve"),
    (["zsner", "transformer", "--model", "M"], "transformer"),
    (["zsner", "vectors", "--model", "M"], "transformer"),
    (["zsner", "project", "--tagger", "T"], "transformer"),
    (["zsner", "cluster", "--model", "M"], "transformer"),
    (["zsner", "groups", "--model", "M"], "transformer"),
    (["zsner", "groups", "--model", "M", "--ray"], "distributed,transformer"),
    (["zsner", "groups", "--model", "M", "--address=h:1"], "distributed,transformer"),
    (["zsner", "export", "runs/x", "--out", "y"], "transformer"),
    (["zsner", "grid", "--pairs", "en-es"], "distributed"),
    (["zsner", "grid", "--backend", "transformer"], "distributed,transformer"),
    (["zsner", "grid", "--flags", "--epochs 1 --vectors encoder --encoder P"], "distributed,transformer"),
    (["zsner", "grid", "--ray"], "distributed"),  # --ray is groups' flag, not grid's
    (["zsner", "tag", "runs/no-such-run-zsner", "--input", "no-such-file-zsner.txt"], ""),
    (["zsner", "map", "--src", "en", "--tgt", "es"], ""),
])
def test_print_extras_for_each_flag(args, expected):
    assert _print_extras(args) == expected


def test_print_extras_reads_models_and_grid_specs(tmp_path, things):
    """tag / predict / serve of a transformer run folder or checkpoint, a grid spec file with transformer runs."""
    classic = tmp_path / "classic"
    classic.mkdir()
    (classic / "best-model.pt").write_bytes(b"weights")
    transformer_run = tmp_path / "xfmr"
    (transformer_run / "checkpoints").mkdir(parents=True)
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "metrics.json").write_text(json.dumps({"backend": "transformer"}))
    classic_file = tmp_path / "best-src-dev.pt"
    torch.save({"state": {}, "tagger": {}, "vocabs": {}}, classic_file)
    assert _print_extras(["zsner", "tag", classic, "--input", things["text"]]) == ""
    assert _print_extras(["zsner", "tag", classic_file]) == ""
    for model in (transformer_run, finished, things["pt"]):
        assert _print_extras(["zsner", "tag", model, "--input", things["text"]]) == "transformer"
        assert _print_extras(["zsner", "predict", "--model", model]) == "transformer"
        assert _print_extras(["zsner", "serve", model]) == "serve,transformer"
    for text, expected in [('{"backend": "transformer"}', "distributed,transformer"),
                           ("backend: transformer\n", "distributed,transformer"),
                           ('{"settings": {"e": {"vectors": "encoder"}}}', "distributed,transformer"),
                           ("settings:\n  e: {vectors: concat}\n", "distributed,transformer"),
                           ('{"flags": "--vectors encoder"}', "distributed,transformer"),
                           ('{"flags": {"teacher": "runs/t"}}', "distributed,transformer"),
                           ('{"backend": "classic", "flags": {"vectors": "fasttext"}}', "distributed")]:
        spec = tmp_path / "spec.json"
        spec.write_text(text)
        assert _print_extras(["zsner", "grid", spec, "--dry-run"]) == expected, text


def test_print_extras_sets_nothing_up(tmp_path):
    """No interpreter is called and no environment created: the extras come from the arguments alone."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "run.sh", root)
    shutil.copy(REPO / "scripts" / "env.sh", root / "scripts")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    (bin_dir / "python3").write_text(f"#!/bin/bash\necho \"$*\" >> {log}\nexit 1\n")
    (bin_dir / "python3").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    assert _print_extras(["en", "es", "--backend", "both", "--seeds", "2"], cwd=root, env=env) == \
        "distributed,transformer"
    assert not log.exists() and not (root / ".venv").exists()


def test_require_names_the_extra_and_checks_every_module(monkeypatch):
    assert all(installed(module) for modules in MODULES.values() for module in modules)  # this environment
    require("serve", "x")
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert missing("serve") == ["uvicorn"] and missing("transformer") == []
    with pytest.raises(ZsnerError) as error:
        require("serve", "zsner serve")
    assert str(error.value) == ("zsner serve needs the 'serve' extra: pip install -e \".[serve]\" "
                                "(or bash run.sh ..., which installs it)")
    assert not installed("no_such_module_zsner") and not installed("no_such_package_zsner.sub")


def test_extras_match_setup_and_run_sh():
    """The extras and their modules are setup.py's and the ones scripts/env.sh checks after installing them."""
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    env = (REPO / "scripts" / "env.sh").read_text(encoding="utf-8")
    for extra, modules in EXTRAS.items():
        assert f'"{extra}": [' in setup, extra
        assert f'{extra}) echo "{" ".join(modules)}"' in env, extra


def test_ray_missing_at_start_is_the_same_line(monkeypatch):
    from zsner.grid.execute import start_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ZsnerError, match=r"needs the 'distributed' extra: pip install -e \"\.\[distributed\]\""):
        start_ray()
