"""Messages name zsner's own commands and flags (``--model PATH``, ``--model-folder PATH``, any local Hugging Face
folder), never a path of the development set-up (``../shared/tools``, ``prepare_multilingual_encoder``,
``/work/``, ``~/.cache/zsner/models``): in every command's help, in every string the code can print or raise,
and in the messages of the commands a new user meets first without a model."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

import zsner
from zsner.cli import build_parser, main

DEVELOPMENT = re.compile(r"\.\./shared|shared/tools|prepare_multilingual_encoder|/work/|~/\.cache/zsner|"
                         r"\.cache/zsner/models|multilingual-e5-small")
PACKAGE = Path(zsner.__file__).parent


def _subcommands():
    parser = build_parser()
    action = next(action for action in parser._actions if getattr(action, "choices", None))
    return sorted(action.choices.items())


def test_the_pattern_finds_development_paths():
    for text in ("run bash ../shared/tools/prepare_multilingual_encoder.sh", "--model ~/.cache/zsner/models/x",
                 "/work/venvs/flair/bin/python", "a multilingual-e5-small folder"):
        assert DEVELOPMENT.search(text), text
    for text in ("--model PATH: a local Hugging Face model folder", "runs/cache/vectors", "data/ner/en/eng.train"):
        assert not DEVELOPMENT.search(text), text


@pytest.mark.parametrize("name, parser", _subcommands(), ids=[name for name, _ in _subcommands()])
def test_no_help_names_a_development_path(name, parser):
    found = DEVELOPMENT.findall(parser.format_help())
    assert not found, (name, found)


def _strings(node):
    """Every string constant under ``node`` (f-strings: their literal parts)."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_no_string_the_code_prints_or_raises_names_a_development_path():
    """Every string literal of the package but docstrings (the help texts built from module docstrings are checked
    above): error messages, log lines, printed text, flag help, defaults."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                if DEVELOPMENT.search(node.value):
                    problems.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:80]!r}")
    assert not problems, problems


def test_vectors_without_a_model_names_the_flag(tmp_path, capsys):
    """The issue's case: `zsner vectors` with no model folder once said to run a script of ../shared/tools."""
    assert main(["vectors", "--model", str(tmp_path / "none"), "--lang", "es", "--out", str(tmp_path / "x.vec")]) == 2
    line = capsys.readouterr().err.strip()
    assert "--model PATH" in line and "Hugging Face" in line and not DEVELOPMENT.search(line), line
    assert not (tmp_path / "x.vec").exists()


@pytest.mark.parametrize("argv, flag", [
    (["transformer", "--src", "en", "--tgt", "es", "--out", "{tmp}/out"], "--model PATH"),
    (["transformer", "--model", "{tmp}/none", "--out", "{tmp}/out"], "--model PATH"),
    (["run", "en", "es", "--backend", "transformer"], "--model PATH"),
    (["cluster", "--out", "{tmp}/out"], "--model PATH"),
    (["groups", "--out", "{tmp}/out"], "--model PATH"),
    (["transfer", "--vectors", "encoder", "--encoder", "{tmp}/none", "--out", "{tmp}/out"], "--encoder PATH"),
])
def test_a_missing_model_names_the_flag(tmp_path, capsys, argv, flag):
    assert main([word.format(tmp=tmp_path) for word in argv]) == 2
    line = capsys.readouterr().err.strip()
    assert flag in line and "\n" not in line and not DEVELOPMENT.search(line), line
    assert not (tmp_path / "out").exists()


def test_export_names_model_folder_when_the_base_model_moved(tmp_path, capsys):
    from tests.test_dry_run import checkpoint_archive

    checkpoint = tmp_path / "model.pt"
    torch.save(checkpoint_archive(tmp_path / "moved"), checkpoint)
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "hf")]) == 2
    line = capsys.readouterr().err.strip()
    assert "--model-folder PATH" in line and "\n" not in line, line
    assert not (tmp_path / "hf").exists()
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "hf"), "--model-folder", str(tmp_path / "x")]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"zsner export: error: {tmp_path / 'x'}: ") and "--model-folder PATH" in line, line
