"""``zsner grid``: spec files and flags expand into the expected steps; a transformer run's attempt resumes or
restarts by what its folder holds; on local Ray (2 CPUs) a tiny grid gives the F1 of the same runs made one after
the other, also when a task's process is killed after its first checkpoint (Ray retries it, it resumes); and
``zsner run --seeds N`` spreads its seeds on Ray with the same results."""
from __future__ import annotations

import json
import os

import pytest

from tests.synthetic import write_language, write_transfer_pair
from zsner.cli import main
from zsner.config import save_configs
from zsner.errors import ZsnerError
from zsner.grid.plan import expand
from zsner.grid.spec import GridSpec, read_spec
from zsner.grid.tasks import KILL_DIR, attempt_command

SPEC = {"name": "t", "pairs": ["en-es", "en-nl"], "modes": ["shared", "augmented"], "seeds": 2, "first_seed": 3,
        "flags": {"epochs": 10, "eval-every": 300, "figures": False, "aux": ["li", "cl"]},
        "settings": {"tied": {"shared-lstm": True}, "untied": "--shared-lstm false"}}
SPEC_YAML = """name: t
backend: transformer
pairs: [en-es, en-nl]
modes: [zero-shot]
seeds: 2
first_seed: 3
flags: {epochs: 10, eval-every: 300, model: MODEL, aux: [li, cl]}
settings:
  frozen: {freeze-layers: 3}
  free: --freeze-layers -1
"""


def test_a_spec_expands_into_seeds_x_pairs_x_modes_x_settings(tmp_path):
    spec = read_spec(_write(tmp_path / "g.json", json.dumps({**SPEC, "flags": {"epochs": 10, "eval-every": 300,
                                                                              "figures": False}})))
    plan = expand(spec)
    kinds = [step.kind for step, _ in plan.steps]
    # settings x pairs x modes x seeds, and each Cross-Augmented seed's base before it
    assert kinds.count("run") == 2 * 2 * 2 * 2 + 2 * 2 * 2 and kinds.count("gather") == 2 * 2 * 2
    prepares = [(step.name, needs) for step, needs in plan.steps if step.kind == "prepare"]
    assert len(prepares) == 2 and all(not needs for _, needs in prepares)  # one word space per pair, in parallel
    runs = {step.name: (step, needs) for step, needs in plan.steps}
    base, needs = runs["en-nl-augmented-untied/seed4/shared"]
    assert base.folder == "runs/grid-t/en-nl-augmented-untied/seed4/shared" and needs == (prepares[1][0],)
    assert base.command[base.command.index("--base-only") + 1] == "true"
    names = [name for name in runs if name.startswith("en-nl-augmented-untied/")]
    assert names == ["en-nl-augmented-untied/seed3/shared", "en-nl-augmented-untied/seed4/shared",
                     "en-nl-augmented-untied/seed3", "en-nl-augmented-untied/seed4"]  # every base first
    step, needs = runs["en-nl-augmented-untied/seed4"]
    assert step.folder == "runs/grid-t/en-nl-augmented-untied/seed4" and needs == (base.name,)
    assert runs["en-nl-shared-untied/seed4"][1] == (prepares[1][0],)  # a shared run needs only its word space
    assert step.command == ("transfer", "--src", "en", "--tgt", "nl", "--mode", "augmented", "--epochs", "10",
                            "--eval-every", "300", "--figures", "false", "--shared-lstm", "false", "--out",
                            "runs/grid-t/en-nl-augmented-untied", "--seed", "4", "--seeds", "1", "--figures", "false",
                            "--no-progress", "--threads", "1", "--eval-overlap", "off")  # a task is one CPU
    gather, needs = runs["en-nl-augmented-untied"]
    assert needs == ("en-nl-augmented-untied/seed3", "en-nl-augmented-untied/seed4")
    assert gather.command[-11:] == ("--out", "runs/grid-t/en-nl-augmented-untied", "--seed", "3", "--seeds", "2",
                                    "--no-progress", "--threads", "1", "--eval-overlap", "off")
    assert plan.results_folders() == [s.folder for s, _ in plan.steps if s.kind == "gather"]


def test_yaml_and_json_specs_are_the_same_grid(tmp_path):
    pytest.importorskip("yaml")
    spec = {**SPEC, "backend": "transformer", "modes": ["zero-shot"],
            "flags": {"epochs": 10, "eval-every": 300, "model": str(tmp_path), "aux": ["li", "cl"]},
            "settings": {"frozen": {"freeze-layers": 3}, "free": "--freeze-layers -1"}}
    from_json = read_spec(_write(tmp_path / "g.json", json.dumps(spec)))
    assert from_json == read_spec(_write(tmp_path / "g.yaml", SPEC_YAML.replace("MODEL", str(tmp_path))))
    plan = expand(from_json)
    assert [step.kind for step, _ in plan.steps] == ["run"] * 8  # transformer runs need nothing before them
    step = plan.steps[0][0]
    assert step.folder == "runs/grid-t/en-es-transformer-zero-shot-frozen-seed3"
    assert step.command[-7:] == ("--seed", "3", "--out", step.folder, "--no-progress", "--threads", "1")
    assert plan.results_folders() == [s.folder for s, _ in plan.steps]


@pytest.fixture
def en_es(tmp_path, monkeypatch):
    """Tiny en / es data on the search path ($ZSNER_DATA; 300-d vectors, --word-dim's default): the dry run checks
    the runs' files first."""
    data = tmp_path / "data"
    for lang in ("en", "es"):
        write_language(data, lang, sizes=(5, 3, 3), dim=300)
    monkeypatch.setenv("ZSNER_DATA", str(data))
    return data


def test_flags_without_a_file_and_the_dry_run(capsys, en_es):
    assert main(["grid", "--pairs", "en-es", "--modes", "mono", "--seeds", "2", "--flags", "--epochs 1",
                 "--name", "x", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("]")[0] for line in lines] == ["[run en-es-mono/seed1", "[run en-es-mono/seed2",
                                                      "[gather en-es-mono"]  # mono maps nothing
    assert lines[0].startswith("[run en-es-mono/seed1] zsner transfer --src en --tgt es --mode mono --epochs 1 ")
    assert lines[2].endswith("# after en-es-mono/seed1, en-es-mono/seed2")


def test_language_lists_in_pairs_make_multilingual_and_round_robin_runs(tmp_path):
    spec = GridSpec(name="moon", backend="transformer", pairs="en+es+nl+de-en+es+nl+de,es+nl+de-en",
                    flags=f"--model {tmp_path}", out=str(tmp_path / "g"))
    steps = [step for step, _ in expand(spec).steps]
    assert [step.name for step in steps] == ["en+es+nl+de-en+es+nl+de-zero-shot/seed1", "es+nl+de-en-zero-shot/seed1"]
    assert steps[1].folder == str(tmp_path / "g" / "es+nl+de-en-transformer-zero-shot-seed1")
    assert steps[1].command[:5] == ("transformer", "--src", "es,nl,de", "--tgt", "en")
    assert steps[0].command[1:5] == ("--src", "en,es,nl,de", "--tgt", "en,es,nl,de")


def test_settings_flag_runs_part_of_a_spec_file(tmp_path, capsys, en_es):
    path = _write(tmp_path / "g.json", json.dumps({**SPEC, "flags": {"epochs": 1}}))
    assert main(["grid", str(path), "--settings", "untied", "--pairs", "en-es", "--modes", "shared", "--dry-run"]) == 0
    names = [line.split("]")[0].split(" prepare/")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["[prepare", "[run en-es-shared-untied/seed3", "[run en-es-shared-untied/seed4",
                     "[gather en-es-shared-untied"], names
    assert main(["grid", str(path), "--settings", "tied,loose", "--dry-run", "--out", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and "'loose' is not a setting" in captured.err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content, fragment", [
    ('{"seeds": 2,\n "pairs": [en-es]}', "not valid JSON"),
    ('{"sedes": 2}', "unknown field 'sedes'"),
    ('{"seeds": "two"}', "seeds must be an integer"),
    ('{"flags": {"seed": 3}}', "--seed is set by the grid"),
    ('{"settings": {"a": {"out": "x"}}}', "settings.a: --out is set by the grid"),
    ('{"backend": "gpu"}', "backend must be one of classic, transformer"),
    ('{"modes": ["zero-shot"]}', "classic mode must be one of mono"),
    ('{"pairs": "enes"}', "'enes' is not SRC-TGT"),
    ('{"pairs": "en+-es", "backend": "transformer"}', "'en+-es' is not SRC-TGT"),
    ('{"pairs": "en+es-nl"}', "the classic backend transfers from one language to one"),
    ('{"flags": "--no-such-flag 1"}', "unrecognized arguments: --no-such-flag 1"),
    ('[1, 2]', "a grid spec is an object")])
def test_a_bad_spec_is_one_line_naming_the_file(tmp_path, capsys, content, fragment):
    path = _write(tmp_path / "bad.json", content)
    assert main(["grid", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"zsner grid: error: {path}") and fragment in captured.err, captured.err
    assert not (tmp_path / "out").exists()


def test_a_transformer_attempt_resumes_restarts_or_reuses_by_its_folder(tmp_path):
    from zsner.config import apply_overrides
    from zsner.grid.plan import parse_command
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig

    folder = tmp_path / "run"
    command = ("transformer", "--model", str(tmp_path), "--epochs", "1", "--seed", "2", "--out", str(folder),
               "--threads", "1")
    assert attempt_command(command, folder) == command  # nothing there: a fresh run
    args = parse_command(command)
    folder.mkdir()
    save_configs(folder / "config.json", model=apply_overrides(TransformerConfig(), args),
                 train=apply_overrides(TransformerTrainConfig(), args))
    assert attempt_command(command, folder) == (*command, "--overwrite")  # died before its first checkpoint
    (folder / "checkpoint.pt").write_bytes(b"")
    assert attempt_command(command, folder) == ("transformer", "--resume", str(folder), "--no-progress",
                                                "--threads", "1")
    (folder / "metrics.json").write_text("{}")
    assert attempt_command(command, folder) is None  # finished: reused
    with pytest.raises(ZsnerError, match="another configuration"):
        attempt_command((*command, "--epochs", "2"), folder)
    transfer = ("transfer", "--src", "en")
    assert attempt_command(transfer, folder) == transfer  # a classic run resumes by itself


def _changed(config):
    """``config`` with every field moved off its default (a negative int, a float that needs repr, a string
    that starts with a dash)."""
    import dataclasses

    new = {}
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        new[item.name] = (not value if isinstance(value, bool) else -value - 3 if isinstance(value, int)
                          else value * 2 + 1 / 3 if isinstance(value, float) else f"-{value} x")
    return dataclasses.replace(config, **new)


def test_override_flags_rebuild_a_config_through_the_zsner_parser():
    from zsner.config import apply_overrides, override_flags
    from zsner.grid.plan import parse_command
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig

    assert override_flags(TransformerConfig()) == [] and override_flags(TransformerTrainConfig()) == []
    model, train = _changed(TransformerConfig()), _changed(TransformerTrainConfig())
    words = [*override_flags(model), *override_flags(train)]
    assert len(words) == len(vars(model)) + len(vars(train))
    args = parse_command(("transformer", *words))
    assert apply_overrides(TransformerConfig(), args) == model
    assert apply_overrides(TransformerTrainConfig(), args) == train
    one = apply_overrides(TransformerTrainConfig(), parse_command(("transformer", "--epochs=7", "--amp=false")))
    assert override_flags(one) == ["--epochs=7", "--amp=false"]
    from zsner.mapping.config import MappingConfig

    with pytest.raises(ZsnerError, match="eval_ks has no command-line form"):
        override_flags(MappingConfig(eval_ks=(1, 5)))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- on local Ray (skipped where Ray is not installed)

TINY = ["--epochs", "2", "--eval-every", "15", "--batch-size", "8", "--word-dim", "20", "--char-dim", "8",
        "--char-hidden", "8", "--word-hidden", "16", "--dense-dim", "16", "--figures", "false", "--no-progress"]


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """Ray on 2 CPUs for this module, its workers started with the kill hook's folder in their environment."""
    ray = pytest.importorskip("ray")
    import logging

    kill_dir = tmp_path_factory.mktemp("kill")
    old = os.environ.get(KILL_DIR)
    os.environ[KILL_DIR] = str(kill_dir)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)
    yield kill_dir
    ray.shutdown()
    os.environ.pop(KILL_DIR) if old is None else os.environ.__setitem__(KILL_DIR, old)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """Tiny en->es data with a ready mapping, and `zsner transfer --seeds 2` on it, run in this process."""
    root = tmp_path_factory.mktemp("grid-data")
    write_transfer_pair(root)
    flags = ["--data-dir", str(root), "--mapping-dir", str(root / "mapping"), "--cache-dir", str(root / "cache"),
             *TINY]
    assert main(["transfer", "--src", "en", "--tgt", "es", "--mode", "shared", "--seeds", "2", *flags, "--out",
                 str(root / "sequential")]) == 0
    return root, flags


def _same_runs(folder, reference, seeds=(1, 2)):
    for seed in seeds:
        ours, theirs = (json.loads((base / f"seed{seed}" / "metrics.json").read_text()) for base in (folder, reference))
        assert ours["criteria"] == theirs["criteria"], seed
        losses = [[row.split("\t")[:6] for row in (base / f"seed{seed}" / "loss.tsv").read_text().splitlines()]
                  for base in (folder, reference)]  # the columns after the sixth are timings
        assert losses[0] == losses[1] and len(losses[0]) > 3, seed
    assert json.loads((folder / "results.json").read_text())["summaries"]["shared"]["seeds"] == list(seeds)


def test_grid_on_local_ray_equals_sequential_runs_and_a_killed_run_resumes(local_ray, sequential, tmp_path, capsys):
    root, flags = sequential
    (local_ray / "en-es-shared_seed2.log.kill").write_text("")  # seed 2 dies after its first checkpoint
    spec = GridSpec(name="tiny", pairs="en-es", modes="shared", seeds=2, out=str(tmp_path / "grid"),
                    flags=" ".join(flags))
    path = _write(tmp_path / "tiny.json", json.dumps({k: v for k, v in spec.__dict__.items() if k != "settings"}))
    assert main(["grid", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| classic | BiLSTM-CRF shared | en→es | 2 |" in out
    assert (local_ray / "en-es-shared_seed2.log.killed").exists()
    _same_runs(tmp_path / "grid" / "en-es-shared", root / "sequential")
    results = json.loads((tmp_path / "grid" / "results.json").read_text())
    attempts = {step["name"]: step["attempts"] for step in results["steps"]}
    assert attempts == {"en-es-shared/seed1": 1, "en-es-shared/seed2": 2, "en-es-shared": 1}
    assert "resumed at step" in (tmp_path / "grid" / "en-es-shared" / "training.log").read_text()
    assert "gathered 2 finished runs" in (tmp_path / "grid" / "logs" / "en-es-shared.log").read_text()  # only that
    for log in (tmp_path / "grid" / "logs").iterdir():  # workers are shared: no command's handler outlives it
        text = log.read_text()
        firsts = text.count("[zsner] stage mapping") + text.count("[zsner] gathered")  # a command's first line
        assert firsts == text.count("=== attempt "), log.name
    assert (tmp_path / "grid" / "results.md").read_text() in out  # (Ray may print its retry notice too)


def test_zsner_run_seeds_train_in_parallel_on_ray(local_ray, sequential, tmp_path, capsys):
    from zsner.runner import main as run

    root, flags = sequential
    assert run(["en", "es", "--mode", "shared", "--seeds", "2", *flags, "--out", str(tmp_path / "run")]) == 0
    assert "Cross-Shared | 2 |" in capsys.readouterr().out  # the table, gathered as one sequential call prints it
    _same_runs(tmp_path / "run", root / "sequential")
    assert sorted(p.name for p in (tmp_path / "run" / "logs").iterdir()) == ["seeds_seed1.log", "seeds_seed2.log"]
