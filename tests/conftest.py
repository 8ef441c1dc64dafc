"""Shared fixtures: the read-only shared data (skipped when absent) and a writer for tiny CoNLL files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def own_zsner_cache(tmp_path_factory):
    """Caches the code writes outside a run folder (the tokenizer cache) go to a session folder, not ~/.cache."""
    os.environ["ZSNER_CACHE"] = str(tmp_path_factory.mktemp("zsner-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository root; tests that need it are skipped where it is absent."""
    if not (SHARED_DATA / "ner").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def conll_text(sentences, columns: int = 2, docstart: bool = False) -> str:
    """CoNLL text from ``[[(word, tag), ...], ...]``; extra middle columns are filled with ``X``."""
    lines = []
    if docstart:
        lines += [" ".join(["-DOCSTART-"] + ["-X-"] * (columns - 2) + ["O"]), ""]
    for sentence in sentences:
        for word, tag in sentence:
            lines.append(" ".join([word] + ["X"] * (columns - 2) + [tag]))
        lines.append("")
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_conll_file(tmp_path):
    """``write(name, text_or_bytes, encoding="utf-8", newline="\\n") -> Path`` inside ``tmp_path``."""

    def write(name: str, content, encoding: str = "utf-8", newline: str = "\n") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.replace("\n", newline).encode(encoding)
        path.write_bytes(content)
        return path

    return write


def run_cli(args, cwd=None, env_extra=None, timeout: int = 120, program=None,
            input_text: str | None = None) -> subprocess.CompletedProcess:
    """``python -m zsner.cli ARGS`` (or ``program ARGS``, e.g. the ``zsner`` console script) in a fresh process."""
    env = dict(os.environ)
    env.pop("ZSNER_DATA", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.update(env_extra or {})
    command = [program] if program else [sys.executable, "-m", "zsner.cli"]
    return subprocess.run([*command, *map(str, args)], cwd=cwd, env=env, input=input_text,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def transfer_pair(tmp_path_factory):
    """Tiny en/es data and a ready mapping (tests/synthetic.write_transfer_pair): (data root, mapping folder)."""
    from tests.synthetic import write_transfer_pair

    root = tmp_path_factory.mktemp("transfer-data")
    return root, write_transfer_pair(root)
