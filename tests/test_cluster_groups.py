"""`zsner groups`: groupings as runs (shared groups trained once), the Table 3 / Table 4 arithmetic on known
values, and grouped training end to end on tiny WikiAnn-format data with a tiny random BERT."""
from __future__ import annotations

import json
import os

import pytest
import torch

from tests.synthetic import write_wikiann
from zsner.cli import main
from zsner.errors import ZsnerError
from zsner.groups.config import GroupsConfig
from zsner.groups.families import LINEAGE, lineage_groups
from zsner.groups.plan import group_runs, make_plan
from zsner.groups.tables import markdown, table3, table4
from zsner.resources import WIKIANN_LANGS
from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
from zsner.transformer.tiny import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


def write_groups(path, majority: dict):
    path.write_text(json.dumps({"majority": majority}))
    return path


def test_families_cover_the_15_languages():
    assert sorted(LINEAGE) == sorted(WIKIANN_LANGS)
    assert lineage_groups(list(WIKIANN_LANGS), "family") == [
        ["ar", "he"], ["da", "de", "en", "es", "fr", "hi", "it", "ru"], ["ja"], ["ko"], ["sw", "yo"], ["zh"]]
    assert ["da", "de", "en"] in lineage_groups(list(WIKIANN_LANGS), "genus")


def test_plan_runs_each_group_once(tmp_path):
    clusters = write_groups(tmp_path / "groups.json", {"en": 0, "de": 0, "sw": 0, "yo": 0, "ja": 1, "zh": 1})
    config = GroupsConfig(grouping=f"per-language,family,cluster:{clusters},all", langs="en,de,sw,yo,ja,zh",
                          seeds="1,2")
    plan = make_plan(config)
    assert plan.groupings["cluster"] == [["en", "de", "sw", "yo"], ["ja", "zh"]]
    assert plan.groupings["family"] == [["en", "de"], ["sw", "yo"], ["ja"], ["zh"]]
    assert plan.zero_shot == (["en", "de"], ["sw", "yo"])  # the biggest cluster without sw and yo
    runs = group_runs(plan, TransformerConfig(model="m"), TransformerTrainConfig(), max_train=7, max_eval=3)
    names = [name for name, _ in runs]
    # 6 per language + en-de, sw-yo (family) + en-de-sw-yo, ja-zh (cluster) + all + zero-shot, per seed
    assert len(names) == len(set(names)) == 12 * 2
    configs = dict(runs)
    _, train = configs["en-de-to-sw-yo/seed2"]
    assert (train.src, train.tgt, train.seed, train.train_limit, train.eval_limit) == (
        "wikiann:en,wikiann:de", "wikiann:sw,wikiann:yo", 2, 7, 3)
    assert configs["ja/seed1"][1].src == configs["ja/seed1"][1].tgt == "wikiann:ja"


@pytest.mark.parametrize("grouping, langs, fragment", [
    ("per-language,nope", "sw,yo", "unknown grouping 'nope'"),
    ("all", "sw,xx", "unknown WikiAnn language 'xx'"),
    ("cluster:{groups}", "sw,yo,ja", "no group for ja"),
])
def test_plan_rejects_bad_input(tmp_path, grouping, langs, fragment):
    groups = write_groups(tmp_path / "groups.json", {"sw": 0, "yo": 1})
    with pytest.raises(ZsnerError, match=fragment):
        make_plan(GroupsConfig(grouping=grouping.format(groups=groups), langs=langs))


def fake_metrics(f1: dict) -> dict:
    return {"selection": {"src-dev": {"test": {f"wikiann:{lang}": {"micro": {"f1": value}}
                                               for lang, value in f1.items()}}}}


def test_tables_on_known_values(tmp_path):
    clusters = write_groups(tmp_path / "groups.json", {"sw": 0, "yo": 0, "ja": 0})
    plan = make_plan(GroupsConfig(grouping=f"per-language,cluster:{clusters}", langs="sw,yo,ja", seeds="1,2"))
    results = {"sw/seed1": fake_metrics({"sw": 10}), "sw/seed2": fake_metrics({"sw": 20}),
               "yo/seed1": fake_metrics({"yo": 30}), "yo/seed2": fake_metrics({"yo": 30}),
               "ja/seed1": fake_metrics({"ja": 50}), "ja/seed2": fake_metrics({"ja": 70}),
               "sw-yo-ja/seed1": fake_metrics({"sw": 40, "yo": 41, "ja": 42}),
               "sw-yo-ja/seed2": fake_metrics({"sw": 40, "yo": 41, "ja": 44}),
               "ja-to-sw-yo/seed1": fake_metrics({"sw": 5, "yo": 6}),
               "ja-to-sw-yo/seed2": fake_metrics({"sw": 7, "yo": 6})}
    rows = table3(plan, results)
    assert rows["sw"]["per-language"] == {"mean": 15.0, "std": 7.07, "values": [10, 20]}
    assert rows["ja"]["cluster"]["values"] == [42, 44]
    assert rows["mean"]["per-language"]["values"] == [30, 40]  # mean over languages, per seed
    assert rows["mean"]["cluster"]["mean"] == 41.33
    assert "| sw | 15.00 ± 7.07 | 40.00 ± 0.00 |" in markdown(rows, "Table 3")
    zero = table4(plan, results)
    assert list(zero) == ["sw", "yo"]
    assert list(zero["sw"]) == ["per-language", "cluster", "zero-shot from ja"]
    assert zero["sw"]["zero-shot from ja"] == {"mean": 6.0, "std": 1.41, "values": [5, 7]}
    assert zero["yo"]["cluster"]["values"] == [41, 41]


def test_groups_command_end_to_end(tmp_path, capsys, monkeypatch):
    import zsner.transformer.train

    monkeypatch.setattr(zsner.transformer.train, "plot_curves", lambda *args: None)  # 2 PNGs per run: 1 s
    langs = ("sw", "yo", "ja")
    data = write_wikiann(tmp_path / "data", langs, sizes=(8, 4, 4))
    words = [line.split("\t")[0].split(":", 1)[1] for lang in langs
             for line in (data / "wikiann" / lang / "train").read_text().splitlines() if line]
    model = build_tiny_model(tmp_path / "model", words, layers=1, hidden=8)
    clusters = write_groups(tmp_path / "groups.json", {"sw": 0, "yo": 1, "ja": 0})
    out = tmp_path / "out"
    argv = ["groups", "--model", model, "--langs", ",".join(langs), "--grouping",
            f"per-language,family,cluster:{clusters},all", "--max-train", "8", "--max-eval", "4", "--epochs", "1",
            "--batch-size", "8", "--window", "16", "--overlap", "2", "--data-dir", data, "--out", out,
            "--no-progress", "--save-checkpoints", "false", "--device", "cpu"]
    assert main([str(arg) for arg in argv]) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["groupings"] == {"per-language": [["sw"], ["yo"], ["ja"]], "family": [["sw", "yo"], ["ja"]],
                                    "cluster": [["sw", "ja"], ["yo"]], "all": [["sw", "yo", "ja"]]}
    assert results["runs"] == ["sw/seed1", "yo/seed1", "ja/seed1", "sw-yo/seed1", "sw-ja/seed1", "sw-yo-ja/seed1",
                               "ja-to-sw-yo/seed1"]
    folder = {"per-language": "{lang}", "family": {"sw": "sw-yo", "yo": "sw-yo", "ja": "ja"},
              "cluster": {"sw": "sw-ja", "yo": "yo", "ja": "sw-ja"}, "all": "sw-yo-ja"}
    for grouping, where in folder.items():
        for lang in langs:
            name = where.format(lang=lang) if isinstance(where, str) else where[lang]
            metrics = json.loads((out / "runs" / name / "seed1" / "metrics.json").read_text())
            f1 = metrics["selection"]["src-dev"]["test"][f"wikiann:{lang}"]["micro"]["f1"]
            assert results["table3"][lang][grouping] == {"mean": round(f1, 2), "std": 0.0, "values": [f1]}
    assert set(results["table4"]) == {"sw", "yo"} and "zero-shot from ja" in results["table4"]["yo"]
    tables = (out / "tables.md").read_text()
    assert "Table 3" in tables and "Table 4" in tables and "| **mean** |" in tables
    assert "one seed, 1" in tables and "±" not in tables  # one seed: no spread of 0.00 shown

    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")}
    assert main([str(arg) for arg in argv]) == 0  # every run reused
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")} == stamps


def test_groups_on_local_ray_give_the_same_runs_in_the_same_folders(tmp_path, capsys):
    pytest.importorskip("ray")
    langs = ("sw", "yo")
    data = write_wikiann(tmp_path / "data", langs, sizes=(8, 4, 4))
    words = [line.split("\t")[0].split(":", 1)[1] for lang in langs
             for line in (data / "wikiann" / lang / "train").read_text().splitlines() if line]
    model = build_tiny_model(tmp_path / "model", words, layers=1, hidden=8)
    argv = ["groups", "--model", model, "--langs", ",".join(langs), "--grouping", "per-language,all",
            "--max-train", "8", "--max-eval", "4", "--epochs", "1", "--batch-size", "8", "--window", "16",
            "--overlap", "2", "--data-dir", data, "--no-progress", "--device", "cpu", "--threads", "1"]
    ray_out, here = tmp_path / "ray", tmp_path / "here"
    assert main([str(arg) for arg in (*argv, "--out", ray_out, "--address", "127.0.0.1:1")]) == 2
    assert "no Ray cluster answers at 127.0.0.1:1" in capsys.readouterr().err and not ray_out.exists()
    assert main([str(arg) for arg in (*argv, "--out", ray_out, "--ray", "--cpus", "2")]) == 0, capsys.readouterr()
    assert main([str(arg) for arg in (*argv, "--out", here)]) == 0
    on_ray, in_process = (json.loads((out / "results.json").read_text()) for out in (ray_out, here))
    assert on_ray == in_process and on_ray["runs"] == ["sw/seed1", "yo/seed1", "sw-yo/seed1"]
    assert sorted(path.name for path in (ray_out / "logs").iterdir()) == ["sw-yo_seed1.log", "sw_seed1.log",
                                                                          "yo_seed1.log"]
    for name in on_ray["runs"]:  # the same training, step by step (all but the timing column)
        rows = [[row.split("\t") for row in (out / "runs" / name / "loss.tsv").read_text().splitlines()]
                for out in (ray_out, here)]
        timing = rows[0][0].index("train_seconds")
        losses = [[row[:timing] + row[timing + 1:] for row in table] for table in rows]
        assert losses[0] == losses[1] and len(losses[0]) > 1 and float(losses[0][1][4]) > 0, name
    stamps = {p: p.stat().st_mtime_ns for p in (ray_out / "runs").rglob("metrics.json")}
    assert main([str(arg) for arg in (*argv, "--out", ray_out)]) == 0  # in process: Ray's runs are reused
    assert {p: p.stat().st_mtime_ns for p in (ray_out / "runs").rglob("metrics.json")} == stamps
