"""`zsner compare` on fake classic (``zsner transfer``) and transformer (``zsner transformer``) run folders with
known numbers, and the argument handling of ``run.sh --backend transformer|both`` (dry run: nothing is trained)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synthetic import write_language
from zsner.cli import main
from zsner.compare import compare_rows, compare_runs, load_run
from zsner.errors import ZsnerError

REPO = Path(__file__).resolve().parents[1]


def seed_metrics(mode, seed, f1s, speed=None):
    criteria = {c: {"step": 100 * seed, "tgt_test_f1": f1, "tgt_dev_f1": f1 + 1, "src_dev_f1": 80.0, "tgt_test": {}}
                for c, f1 in zip(("src-dev", "tgt-dev", "tgt-test"), f1s)}
    run = {"mode": mode, "seed": seed, "criteria": criteria, "parameters": 1234567, "train_seconds": 50.0}
    if speed is not None:
        run["inference_sentences_per_second"] = speed
    return run


def classic_folder(root: Path, name: str, src: str, tgt: str, summaries: dict, runs: dict | None = None) -> Path:
    folder = root / name
    folder.mkdir()
    results = {"config": {"src": src, "tgt": tgt, "mode": list(summaries)[-1], "seeds": 2}, "direction": "s2t",
               "mapping": None, "summaries": summaries, "runs": runs or {}, "timings_seconds": {}}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def summary(seeds, means, stds, parameters=1234567, train_seconds=123.44):
    out = {"seeds": seeds, "parameters": parameters, "train_seconds": train_seconds}
    for criterion, mean, std in zip(("src-dev", "tgt-dev", "tgt-test"), means, stds):
        out[criterion] = {"mean": mean, "std": std, "max": mean + std, "values": [mean] * len(seeds)}
    return out


def transformer_folder(root: Path, name: str, src="en", tgt="es", seed=1, f1=(68.4, 70.1), mode="zero-shot",
                       model="multilingual-e5-small", freeze=6, inference=14.4, train_seconds=3600.0,
                       lr=5e-5) -> Path:
    folder = root / name
    folder.mkdir()
    criteria = {c: {"step": 10, "tgt_test_f1": value, "tgt_dev_f1": 1.0, "src_dev_f1": 2.0, "tgt_test": {}}
                for c, value in zip(("src-dev", "tgt-dev"), f1)}
    metrics = {"backend": "transformer", "model": f"/models/{model}", "model_name": model, "head": "softmax",
               "freeze_layers": freeze, "mode": mode, "src": [src], "tgt": [tgt], "aux": [], "pseudo_loss": None,
               "seed": seed, "criteria": criteria, "parameters": 10652937, "parameters_total": 117500000,
               "train_seconds": train_seconds,
               "speed": {"train_seconds": train_seconds, "train_sentences_per_second": 13.1, "seconds_per_epoch": 900,
                         "inference_sentences_per_second": inference, "threads": 1, "device": "cpu"}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    config = {"model": {"model": f"/models/{model}", "freeze_layers": freeze},
              "train": {"src": src, "tgt": tgt, "mode": mode, "lr": lr, "seed": seed, "threads": 1}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


@pytest.fixture
def runs(tmp_path):
    es_classic = classic_folder(tmp_path, "en-es-augmented", "en", "es", {
        "shared": summary([1, 2], (71.5, 72.25, 74.0), (1.2, 0.5, 0.25)),
        "augmented": summary([1, 2], (73.0, 74.0, 75.5), (0.4, 0.3, 0.2), parameters=2345678, train_seconds=80.0)},
        runs={"shared": [seed_metrics("shared", 1, (70, 72, 74), 200.0),
                         seed_metrics("shared", 2, (73, 72, 74), 300.0)],
              "augmented": [seed_metrics("augmented", 1, (73, 74, 75)), seed_metrics("augmented", 2, (73, 74, 76))]})
    word = summary([1], (60.0, 61.0, 62.0), (0, 0, 0))
    word["inference_sentences_per_second"] = 512.3  # a summary that records the speed itself
    nl_classic = classic_folder(tmp_path, "en-nl-word", "en", "nl", {"word": word})
    es_transformer = transformer_folder(tmp_path, "en-es-transformer-zero-shot")
    nl_transformer = transformer_folder(tmp_path, "en-nl-transformer", tgt="nl", f1=(55.0, 56.5), inference=None)
    return {"es-classic": es_classic, "nl-classic": nl_classic, "es-xfmr": es_transformer, "nl-xfmr": nl_transformer}


def test_table_cells_and_grouping(runs):
    # input order mixes pairs and backends; the table groups by pair (first appearance), classic rows first
    markdown = compare_runs([runs["es-classic"], runs["nl-xfmr"], runs["es-xfmr"], runs["nl-classic"]])
    rows = table_rows(markdown)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("classic", "BiLSTM-CRF shared", "en→es"), ("classic", "BiLSTM-CRF augmented", "en→es"),
        ("transformer", "multilingual-e5-small (zero-shot, freeze 6) †", "en→es"),
        ("classic", "BiLSTM-CRF word", "en→nl"),
        ("transformer", "multilingual-e5-small (zero-shot, freeze 6) †", "en→nl")]
    shared, augmented, xfmr_es, word, xfmr_nl = rows
    # backend | model | pair | seeds | src-dev | tgt-dev | tgt-test | params | train s | inference
    assert shared[3:] == ["2", "71.50 ± 1.20", "72.25 ± 0.50", "74.00 ± 0.25", "1,234,567", "123.4", "250.0"]
    assert augmented[3:] == ["2", "73.00 ± 0.40", "74.00 ± 0.30", "75.50 ± 0.20", "2,345,678", "80.0", "–"]
    assert xfmr_es[3:] == ["1", "68.40", "70.10", "–", "10,652,937 (of 117,500,000)", "3600.0", "14.4"]
    assert word[3:] == ["1", "60.00", "61.00", "62.00", "1,234,567", "123.4", "512.3"]
    assert xfmr_nl[3:] == ["1", "55.00", "56.50", "–", "10,652,937 (of 117,500,000)", "3600.0", "–"]
    assert "not mBERT or XLM-R" in markdown
    # a transformer not named e5 carries no such note
    assert "not mBERT" not in compare_runs([runs["es-classic"]])


def test_transformer_seeds_pool_and_other_configs_stay_apart(tmp_path):
    first = transformer_folder(tmp_path, "s1", seed=1, f1=(60.0, 64.0), model="xlm-roberta-base", freeze=-1,
                               inference=10.0, train_seconds=100.0)
    second = transformer_folder(tmp_path, "s2", seed=2, f1=(62.0, 66.0), model="xlm-roberta-base", freeze=-1,
                                inference=20.0, train_seconds=200.0)
    other_lr = transformer_folder(tmp_path, "s3", seed=3, f1=(50.0, 51.0), model="xlm-roberta-base", freeze=-1,
                                  lr=1e-4)
    same_seed = transformer_folder(tmp_path, "s1-again", seed=1, f1=(40.0, 41.0), model="xlm-roberta-base", freeze=-1)
    rows = table_rows(compare_runs([first, second, other_lr, same_seed]))
    assert [r[1] for r in rows] == ["xlm-roberta-base (zero-shot)"] * 3
    assert rows[0][3:] == ["2", "61.00 ± 1.41", "65.00 ± 1.41", "–", "10,652,937 (of 117,500,000)", "150.0", "15.0"]
    assert rows[1][3:6] == ["1", "50.00", "51.00"]
    assert rows[2][3:6] == ["1", "40.00", "41.00"]


def test_multi_target_transformer_run_gives_one_row_per_target(tmp_path):
    folder = transformer_folder(tmp_path, "en-xx", f1=(60.5, 61.0))
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["tgt"] = ["es", "nl", "de"]
    scores = {"src-dev": {"es": 60.5, "nl": 66.2, "de": 58.4}, "tgt-dev": {"es": 61.0, "nl": 65.0, "de": 59.9}}
    metrics["selection"] = {c: {"step": 10, "test": {lang: {"micro": {"f1": f1}} for lang, f1 in values.items()}}
                            for c, values in scores.items()}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    rows = table_rows(compare_runs([folder]))
    assert [(r[2], r[4], r[5]) for r in rows] == [("en→es", "60.50", "61.00"), ("en→nl", "66.20", "65.00"),
                                                  ("en→de", "58.40", "59.90")]


def test_json_output(runs, tmp_path, capsys):
    out = tmp_path / "report" / "en-es-compare.md"
    assert main(["compare", str(runs["es-classic"]), str(runs["es-xfmr"]), "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.with_suffix(".json").read_text())
    assert printed["criteria"] == ["src-dev", "tgt-dev", "tgt-test"]
    shared, augmented, xfmr = printed["rows"]
    assert shared["f1"]["src-dev"] == {"mean": 71.5, "std": 1.2, "values": [71.5, 71.5]}
    assert shared["inference_sentences_per_second"] == 250.0 and augmented["inference_sentences_per_second"] is None
    assert (xfmr["backend"], xfmr["src"], xfmr["tgt"], xfmr["seeds"]) == ("transformer", "en", "es", [1])
    assert xfmr["f1"]["tgt-test"] is None and xfmr["f1"]["tgt-dev"]["mean"] == 70.1
    assert xfmr["run_dirs"] == [str(runs["es-xfmr"])]
    assert table_rows(out.read_text(encoding="utf-8"))[2][1].startswith("multilingual-e5-small")
    # Markdown on stdout without --json, and the Python API writes JSON when asked
    assert main(["compare", str(runs["nl-classic"])]) == 0
    assert table_rows(capsys.readouterr().out)[0][1] == "BiLSTM-CRF word"
    compare_runs([runs["nl-classic"]], json_path=tmp_path / "rows.json")
    assert json.loads((tmp_path / "rows.json").read_text())["rows"][0]["mode"] == "word"


@pytest.mark.parametrize("case", ["missing", "empty", "training-run", "bad-json", "no-pair", "malformed"])
def test_unrecognised_folder_is_one_line_error(runs, tmp_path, capsys, case):
    folder = tmp_path / case
    if case != "missing":
        folder.mkdir()
    if case == "training-run":  # a `zsner train` folder: metrics.json without criteria
        (folder / "metrics.json").write_text(json.dumps({"dev": {}, "test": {}}))
    if case == "bad-json":
        (folder / "results.json").write_text("{not json")
    if case == "no-pair":
        (folder / "results.json").write_text(json.dumps({"config": {}, "summaries": {}}))
    if case == "malformed":
        (folder / "results.json").write_text(json.dumps({"config": {"src": "en", "tgt": "es"}, "summaries": {"a": 5}}))
    assert main(["compare", str(runs["es-classic"]), str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"zsner compare: error: {folder}")
    with pytest.raises(ZsnerError):
        load_run(folder)
    with pytest.raises(ZsnerError):
        compare_rows([])


@pytest.fixture
def bash_run(tmp_path):
    """``run.sh en es ARGS`` from a copy in an empty folder (its runs/ is then empty), in this interpreter's
    environment (ZSNER_PYTHON); every case here stops before training: argument errors, or ZSNER_DRY_RUN=1
    printing the commands."""
    script = tmp_path / "repo" / "run.sh"
    script.parent.mkdir()
    data = write_language(write_language(tmp_path / "data", "en", sizes=(5, 3, 3), dim=300), "es", sizes=(5, 3, 3),
                          dim=300)  # the dry run checks the languages' files (and --word-dim) before it prints
    shutil.copy(REPO / "run.sh", script)
    (script.parent / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "env.sh", script.parent / "scripts")

    def run(*arguments, dry=True):
        env = {k: v for k, v in os.environ.items() if k != "ZSNER_DRY_RUN"}
        env["ZSNER_PYTHON"] = sys.executable
        env["ZSNER_DATA"] = str(data)
        if dry:
            env["ZSNER_DRY_RUN"] = "1"
        return subprocess.run(["bash", str(script), "en", "es", *arguments], capture_output=True, text=True,
                              env=env, timeout=30)

    return run


def test_run_sh_rejects_unknown_backend_and_missing_model(bash_run, tmp_path):
    result = bash_run("--backend", "gpu", dry=False)
    assert result.returncode == 2 and "unknown --backend 'gpu'" in result.stderr and result.stdout == ""
    result = bash_run("--backend", "transformer", "--mode", "zero-shot", dry=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("run.sh: --backend transformer needs --model PATH "
                                     "(a local Hugging Face model folder)")
    for arguments, message in [(["--backend", "both"], "--backend both needs --model PATH"),
                               (["--backend", "transformer", "--model", str(tmp_path / "nope")], "is not a folder"),
                               (["--backend", "transformer", "--model"], "--model needs a value"),
                               (["--backend", "transformer", "--model", str(tmp_path), "--mode", "word"],
                                "transformer --mode must be zero-shot or augmented"),
                               (["--backend", "transformer", "--model", str(tmp_path), "--seeds", "3"], "--seeds"),
                               (["--backend", "both", "--model", str(tmp_path), "--out", "x"], "--out is not used")]:
        result = bash_run(*arguments, dry=False)
        assert result.returncode == 2 and message in result.stderr, (arguments, result.stderr)


def test_run_sh_maps_flags_to_the_backends(bash_run, tmp_path):
    model = tmp_path / "my model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')  # a Hugging Face folder
    result = bash_run("--backend", "transformer", "--model", str(model), "--mode=augmented", "--freeze-layers", "6",
                      "--out", "runs/x y")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"python3 -m zsner.cli transformer --model {str(model).replace(' ', chr(92) + ' ')} --src en --tgt es "
        "--mode augmented --freeze-layers 6 --out runs/x\\ y"]
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')  # a Hugging Face folder
    result = bash_run("--backend", "both", "--model", str(model), "--mode", "zero-shot", "--seeds", "3", "--seed", "2",
                      "--classic", "--epochs", "5", "--transformer", "--mode", "augmented", "--freeze-layers", "6")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "python3 -m zsner.cli transfer --src en --tgt es --mode shared --seeds 3 --epochs 10 --eval-every 300 --seed 2 "
        "--epochs 5 "
        "--out runs/en-es-shared",
        f"python3 -m zsner.cli transformer --model {model} --src en --tgt es --mode augmented --seed 2 "
        "--freeze-layers 6 --out runs/en-es-transformer-augmented",
        "python3 -m zsner.cli compare runs/en-es-shared runs/en-es-transformer-augmented --out runs/en-es-compare.md"]
    result = bash_run("--backend", "both", "--model", str(model))
    assert result.stdout.splitlines()[0].endswith(
        "--mode augmented --epochs 10 --eval-every 300 --out runs/en-es-augmented")  # the CPU schedule
    assert "--mode zero-shot --out runs/en-es-transformer-zero-shot" in result.stdout
    result = bash_run("--backend", "both", "--model", str(model), "--schedule", "paper")
    assert result.stdout.splitlines()[0].endswith("--mode augmented --out runs/en-es-augmented")
    result = bash_run("--backend", "both", "--model", str(model), "--schedule", "fast", dry=False)
    assert result.returncode == 2 and "unknown --schedule 'fast'" in result.stderr


def test_run_sh_both_passes_no_progress_to_commands_that_accept_it(bash_run, tmp_path):
    """`--backend both --no-progress` once failed in the transformer step, after the whole classic run."""
    from zsner.cli import build_parser

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')  # a Hugging Face folder
    result = bash_run("--backend", "both", "--model", str(model), "--no-progress")
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    for command in commands[:2]:  # transfer, transformer: each must parse what run.sh gives it
        words = command.split()[3:]
        assert "--no-progress" in words
        args = build_parser().parse_args(words)
        assert args.no_progress
