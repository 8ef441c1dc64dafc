"""run.sh owns its Python environment (scripts/env.sh): an active environment is used as it is, otherwise
.venv/ is created and zsner installed there, which is what makes the README commands work on an externally
managed system Python (PEP 668). The decisions are tested with stand-in interpreters (fast); the real stock
Python path is tested against the project's .venv when one exists (as in CI, where .ci/run builds it with
PATH=/usr/bin:/bin), and with a fresh venv only when ZSNER_SLOW_TESTS=1 (minutes)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STOCK_PYTHON = Path("/usr/bin/python3")


def _externally_managed(python: Path) -> bool:
    if not python.exists():
        return False
    stdlib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                            capture_output=True, text=True).stdout.strip()
    return bool(stdlib) and (Path(stdlib) / "EXTERNALLY-MANAGED").exists()


def _project_copy(tmp_path: Path) -> Path:
    """run.sh, scripts/env.sh and setup.py in an empty folder (run.sh works in its own folder)."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "run.sh", root)
    shutil.copy(REPO / "setup.py", root)
    shutil.copy(REPO / "scripts" / "env.sh", root / "scripts")
    return root


def _fake_python(folder: Path, log: Path, venv_fails: bool = False, pip_fails: bool = False) -> Path:
    """A python3 that records its arguments; ``-m venv DIR`` builds a venv whose python3 is this same stand-in;
    ``-c`` import checks fail (nothing is installed); ``-m pip`` (unless ``pip_fails``) and ``-m zsner.cli``
    succeed."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "python3"
    script.write_text(f"""#!/bin/bash
echo "$0 $*" >> {log}
if [ "$1" = -m ] && [ "$2" = venv ]; then
  {'exit 1' if venv_fails else 'mkdir -p "$3/bin" && cp "$0" "$3/bin/python3"'}
  exit 0
fi
[ "$1" = -c ] && case "$2" in import\\ sys*) echo /fake/prefix; exit 0;; *) exit 1;; esac
{'[ "$2" = pip ] && exit 1' if pip_fails else ''}
exit 0
""")
    script.chmod(0o755)
    return script


def _env(path: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "ZSNER_PYTHON",
                                                            "ZSNER_VENV", "ZSNER_DRY_RUN")}
    env["PATH"] = path
    env.update(extra)
    return env


def test_without_an_environment_a_venv_is_created_once_and_reinstalled_only_when_setup_changes(tmp_path):
    root, log = _project_copy(tmp_path), tmp_path / "calls.log"
    fake = _fake_python(tmp_path / "bin", log)
    env = _env(f"{fake.parent}:/usr/bin:/bin")
    first = subprocess.run(["bash", "run.sh", "zsner", "data", "en"], cwd=root, env=env, capture_output=True,
                           text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0].startswith(f"[run.sh] created {root / '.venv'}, installing zsner")
    calls = log.read_text().splitlines()
    assert calls[0] == f"{fake} -m venv {root / '.venv'}"  # the system python only creates the venv
    venv_python = root / ".venv" / "bin" / "python3"
    assert f"{venv_python} -m pip install -q --use-pep517 -e ." in calls
    assert calls[-1] == f"{venv_python} -m zsner.cli data en"

    log.write_text("")
    again = subprocess.run(["bash", "run.sh", "zsner", "data", "en"], cwd=root, env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and again.stderr == ""
    assert log.read_text().splitlines() == [f"{venv_python} -m zsner.cli data en"]  # no venv, no pip

    (root / "setup.py").write_text((root / "setup.py").read_text() + "# changed\n")
    log.write_text("")
    changed = subprocess.run(["bash", "run.sh", "--test", "-x", "tests/test_crf.py"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=60)
    assert changed.returncode == 0 and "reinstalling zsner [distributed,serve,test,transformer]" in changed.stderr
    extras = "distributed,serve,test,transformer"
    assert log.read_text().splitlines() == [f"{venv_python} -m pip install -q --use-pep517 -e .[{extras}]",
                                            f"{venv_python} -m pytest -q -x tests/test_crf.py"]


@pytest.mark.parametrize("seeds, extras", [([], ""), (["--seeds", "1"], ""), (["--seeds", "3"], "[distributed]"),
                                           (["--seeds=2", "--backend", "both"], "[distributed,transformer]")])
def test_several_seeds_install_ray_for_parallel_seeds(tmp_path, seeds, extras):
    root, log = _project_copy(tmp_path), tmp_path / "calls.log"
    fake = _fake_python(tmp_path / "bin", log)
    result = subprocess.run(["bash", "run.sh", "en", "es", *seeds], cwd=root, env=_env(f"{fake.parent}:/usr/bin:/bin"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    venv_python = root / ".venv" / "bin" / "python3"
    assert f"{venv_python} -m pip install -q --use-pep517 -e .{extras}" in log.read_text().splitlines()


def test_an_active_environment_is_used_and_nothing_is_created(tmp_path):
    root, log = _project_copy(tmp_path), tmp_path / "calls.log"
    fake = _fake_python(tmp_path / "env" / "bin", log)
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        log.write_text("")
        result = subprocess.run(["bash", "run.sh", "zsner", "data", "en"], cwd=root, capture_output=True, text=True,
                                env=_env(f"{fake.parent}:/usr/bin:/bin", **{variable: str(tmp_path / "env")}),
                                timeout=60)
        assert result.returncode == 0, result.stderr
        assert not (root / ".venv").exists()
        calls = log.read_text().splitlines()
        assert not any("-m venv" in call for call in calls)
        assert "installing zsner into the active environment" in result.stderr  # the stand-in imports nothing
        assert calls[-1] == f"{fake} -m zsner.cli data en"


def test_a_missing_venv_module_names_the_package_to_install(tmp_path):
    root, log = _project_copy(tmp_path), tmp_path / "calls.log"
    fake = _fake_python(tmp_path / "bin", log, venv_fails=True)
    result = subprocess.run(["bash", "run.sh", "en", "es"], cwd=root, env=_env(f"{fake.parent}:/usr/bin:/bin"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "apt-get install python3-venv" in result.stderr.splitlines()[-1]
    assert not (root / ".venv").exists()


def test_a_failed_install_exits_2_naming_the_environment(tmp_path):
    root, log = _project_copy(tmp_path), tmp_path / "calls.log"
    fake = _fake_python(tmp_path / "bin", log, pip_fails=True)
    result = subprocess.run(["bash", "run.sh", "zsner", "data", "en"], cwd=root,
                            env=_env(f"{fake.parent}:/usr/bin:/bin"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("run.sh: installing zsner (.) into /fake/prefix failed") and "free disk there:" in last
    assert not any("zsner.cli" in call for call in log.read_text().splitlines())  # nothing ran after the failure


@pytest.mark.skipif(not _externally_managed(STOCK_PYTHON),
                    reason="no externally managed /usr/bin/python3 on this machine (PEP 668 does not apply)")
def test_stock_python_refuses_pip_but_run_sh_works(tmp_path):
    refused = subprocess.run([str(STOCK_PYTHON), "-m", "pip", "install", "--dry-run", "-e", str(REPO)],
                             capture_output=True, text=True, env=_env("/usr/bin:/bin"), timeout=120)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr  # the reported failure
    venv = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv")  # under `bash run.sh --test`: the run's .venv
    if os.environ.get("ZSNER_SLOW_TESTS") == "1":
        venv = tmp_path / "venv"  # a fresh install: minutes
    elif not (venv / ".zsner-install").exists():
        pytest.skip("no project .venv yet (bash run.sh --test builds it; ZSNER_SLOW_TESTS=1 builds a fresh one)")
    result = subprocess.run(["bash", str(REPO / "run.sh"), "zsner", "data", "en", "--json"], capture_output=True,
                            text=True, env=_env("/usr/bin:/bin", ZSNER_VENV=str(venv)), timeout=1800)
    assert result.returncode == 0, result.stderr
    assert '"sentences": 14041' in result.stdout  # CoNLL-2003 English train, through the venv's zsner
    assert (venv / "bin" / "python3").exists()
    version = subprocess.run([str(venv / "bin" / "python3"), "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True).stdout
    assert version.startswith("2.13.0") and "+cpu" in version  # the pinned CPU wheel, not a CUDA build


def test_zsner_python_keeps_a_virtual_environment_its_own(tmp_path):
    """ZSNER_PYTHON naming a venv's interpreter: `python3` must run inside that venv (a bare symlink to it in
    another folder would lose the venv: its site-packages, hence zsner's dependencies)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    script = f'source "{REPO}/scripts/env.sh"; zsner_env ""; python3 -c "import sys; print(sys.prefix)"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO,
                            env=_env("/usr/bin:/bin", ZSNER_PYTHON=str(venv / "bin" / "python3")))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == venv.resolve()
