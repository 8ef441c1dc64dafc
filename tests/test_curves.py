"""`zsner curves` on fake run folders whose loss.tsv rows are known: the series are the rows, labels come from the
config field that differs, the PNG is a PNG, and bad input stops with exit 2 and nothing written."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest

from zsner.cli import main
from zsner.curves import labels, load_curves, read_loss_tsv
from zsner.errors import ZsnerError

HEADER = ["step", "epoch", "phase", "lr", "loss", "ner", "li", "cl", "pc", "src_dev_f1", "tgt_dev_f1", "train_seconds"]
CLASSIC_HEADER = ["step", "epoch", "lr", "loss", "src-dev_f1", "tgt-dev_f1", "tgt-test_f1"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_tsv(path: Path, header: list[str], rows: list[list]) -> None:
    """The format both backends write (``"\\t".join(map(str, row))`` under the header)."""
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows))


def transformer_run(root: Path, name: str, freeze: int, rows: list[list], seed: int = 1, tgt: str = "es",
                    threads: int = 1) -> Path:
    folder = root / name
    folder.mkdir()
    config = {"model": {"model": "/models/multilingual-e5-small", "head": "softmax", "freeze_layers": freeze},
              "train": {"src": "en", "tgt": tgt, "mode": "augmented", "seed": seed, "threads": threads}}
    (folder / "config.json").write_text(json.dumps(config))
    write_tsv(folder / "loss.tsv", HEADER, rows)
    return folder


def row(step, epoch, phase, src, tgt, loss=0.5):
    return [step, epoch, phase, "5e-05", loss, loss, "", "", "", src, tgt, 10.0]


ROWS = {  # freeze -> rows: source F1 rises while target F1 drifts down; one evaluation without a target score
    0: [row(10, 0.5, "zero-shot", 80.0, 60.0), row(20, 1.0, "zero-shot", 85.5, 58.25),
        row(30, 1.5, "pseudo-1", 86.0, "")],
    3: [row(10, 0.5, "zero-shot", 79.0, 62.0), row(20, 1.0, "zero-shot", 84.0, 61.5)],
    6: [row(10, 0.5, "zero-shot", 75.0, 63.0), row(20, 1.0, "zero-shot", 80.0, 63.5),
        row(30, 1.5, "pseudo-1", 81.0, 64.75)],
}


@pytest.fixture
def runs(tmp_path):
    # threads differs too: a runtime field, which must not enter the default labels
    return [transformer_run(tmp_path, f"frz{k}", k, rows, threads=k + 1) for k, rows in ROWS.items()]


def test_fixture_header_is_what_runs_write():
    from zsner.transformer.train import LOSS_COLUMNS

    assert HEADER == LOSS_COLUMNS


def test_series_are_the_rows_and_labels_the_differing_field(runs):
    loaded = [load_curves(folder) for folder in runs]
    for run, rows in zip(loaded, ROWS.values()):
        assert list(run["series"]) == ["source dev: en", "target dev: es"]
        assert run["series"]["source dev: en"] == ([r[0] for r in rows], [r[9] for r in rows])
        kept = [r for r in rows if r[10] != ""]
        assert run["series"]["target dev: es"] == ([r[0] for r in kept], [r[10] for r in kept])
    assert labels(loaded) == ["freeze_layers=0", "freeze_layers=3", "freeze_layers=6"]
    assert labels(loaded, ["seed"]) == ["seed=1 (frz0)", "seed=1 (frz3)", "seed=1 (frz6)"]
    assert labels(loaded, ["head", "model"]) == [f"head=softmax, model=multilingual-e5-small (frz{k})" for k in ROWS]
    assert labels(loaded[:1]) == ["frz0"]  # nothing differs: the folder name
    epochs = load_curves(runs[0], x="epoch")["series"]["source dev: en"][0]
    assert epochs == [0.5, 1.0, 1.5]


def test_cli_writes_one_png_and_a_summary(runs, tmp_path, capsys):
    out = tmp_path / "figures" / "frz.png"
    assert main(["curves", *map(str, runs), "--out", str(out), "--title", "frz"]) == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    assert [p.name for p in out.parent.iterdir()] == ["frz.png"]  # no temporary file left
    table = capsys.readouterr().out
    assert "| freeze_layers=0 | target dev: es | 2 | 60.00 (10) | 58.25 |" in table
    assert "| freeze_layers=6 | source dev: en | 3 | 81.00 (30) | 81.00 |" in table


def test_per_language_columns_and_classic_folders(tmp_path):
    multi = tmp_path / "multi"
    multi.mkdir()
    (multi / "config.json").write_text(json.dumps({"train": {"src": "en", "tgt": "es,nl"}}))
    write_tsv(multi / "loss.tsv", ["step", "epoch", "src_dev_f1", "tgt_dev_f1", "tgt_dev_f1_es", "tgt_dev_f1_nl"],
              [[5, 1.0, 80.0, 61.0, 60.0, 62.0], [9, 2.0, 81.0, 60.0, 59.0, 61.0]])
    series = load_curves(multi)["series"]
    assert series == {"source dev: en": ([5, 9], [80.0, 81.0]), "target dev: es": ([5, 9], [60.0, 59.0]),
                      "target dev: nl": ([5, 9], [62.0, 61.0])}
    mean_only = transformer_run(tmp_path, "mean", 3, [row(10, 1.0, "zero-shot", 80.0, 55.5)], tgt="es,nl,de")
    assert load_curves(mean_only)["series"]["target dev: mean of es,nl,de"] == ([10], [55.5])
    classic = tmp_path / "classic"
    classic.mkdir()
    (classic / "config.json").write_text(json.dumps({"train": {"lang": "en", "seed": 1},
                                                     "transfer": {"src": "en", "tgt": "es", "variant": "shared"}}))
    write_tsv(classic / "loss.tsv", CLASSIC_HEADER, [[300, 0, 0.1, 5.3, 83.9, 58.5, 59.72],
                                                     [600, 1, 0.09901, 3.5, 84.06, 60.64, 59.33]])
    assert load_curves(classic)["series"] == {"source dev: en": ([300, 600], [83.9, 84.06]),
                                              "target dev: es": ([300, 600], [58.5, 60.64])}
    out = tmp_path / "mixed.png"
    assert main(["curves", str(multi), str(classic), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def _break(folder: Path, case: str) -> Path:
    tsv, config = folder / "loss.tsv", folder / "config.json"
    if case == "no-folder":
        return folder.parent / "absent"
    if case == "no-loss":
        tsv.unlink()
        return tsv
    if case == "no-config":
        config.unlink()
        return config
    if case == "bad-json":
        config.write_text("{not json")
        return config
    if case == "ragged":
        tsv.write_text(tsv.read_text() + "40\t2.0\n")
        return tsv
    if case == "not-a-number":
        write_tsv(tsv, HEADER, [row(10, 0.5, "zero-shot", "high", 60.0)])
        return tsv
    if case == "no-f1":
        write_tsv(tsv, ["step", "epoch", "loss"], [[10, 0.5, 0.4]])
        return tsv
    if case == "header-only":
        write_tsv(tsv, HEADER, [])
        return tsv
    if case == "not-utf8":
        tsv.write_bytes(b"step\tsrc_dev_f1\n1\t\xff\n")
        return tsv
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no-folder", "no-loss", "no-config", "bad-json", "ragged", "not-a-number", "no-f1",
                                  "header-only", "not-utf8"])
def test_bad_input_exits_2_and_writes_nothing(runs, tmp_path, capsys, case):
    named = _break(runs[1], case)
    target = named if case == "no-folder" else runs[1]
    out = tmp_path / "figures" / "frz.png"
    assert main(["curves", str(runs[0]), str(target), str(runs[2]), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"zsner curves: error: {named}")
    assert not out.parent.exists()
    with pytest.raises(ZsnerError):
        load_curves(target)


def test_bad_options_exit_2(runs, tmp_path, capsys):
    out = tmp_path / "frz.png"
    assert main(["curves", *map(str, runs), "--out", str(out), "--label-by", "nonexistent"]) == 2
    assert f"{runs[0] / 'config.json'}: no config field 'nonexistent'" in capsys.readouterr().err
    assert main(["curves", str(runs[0]), "--out", str(tmp_path / "frz.svg")]) == 2
    assert not any(tmp_path.glob("frz.*"))


def test_read_loss_tsv_names_the_line(tmp_path):
    path = tmp_path / "loss.tsv"
    path.write_text("step-x\tsrc-dev_f1\n")
    with pytest.raises(ZsnerError, match=r"loss.tsv:1: loss.tsv header has no step column"):
        read_loss_tsv(path)
    path.write_text("step\tsrc-dev_f1\n1\t80\n2\tnan\n")
    with pytest.raises(ZsnerError, match=r"loss.tsv:3: src_dev_f1 is not finite"):
        read_loss_tsv(path)
