"""`zsner cluster`: Ward clustering against a brute-force Ward, the majority vote on a hand case, LID fine-tuning
that learns, and the command end to end on tiny WikiAnn-format data with a tiny random BERT."""
from __future__ import annotations

import json
import os
from itertools import combinations

import numpy as np
import pytest
import torch

from tests.synthetic import write_wikiann
from zsner.cli import main
from zsner.cluster.config import ClusterConfig
from zsner.cluster.grouping import adjusted_rand, language_groups, ward_clusters
from zsner.cluster.pipeline import cluster_setting, read_inputs
from zsner.transformer.tiny import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
LANGS = ("sw", "yo", "ja", "zh")


def brute_force_ward(points: np.ndarray, k: int) -> set:
    """Merge, step by step, the two clusters whose union raises the within-cluster sum of squares least."""
    def sse(rows):
        block = points[rows]
        return float(((block - block.mean(0)) ** 2).sum())

    clusters = [[i] for i in range(len(points))]
    while len(clusters) > k:
        a, b = min(combinations(range(len(clusters)), 2),
                   key=lambda p: sse(clusters[p[0]] + clusters[p[1]]) - sse(clusters[p[0]]) - sse(clusters[p[1]]))
        clusters[a] += clusters.pop(b)
    return {frozenset(cluster) for cluster in clusters}


@pytest.mark.parametrize("seed", range(6))
def test_ward_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(11, 3)) + rng.integers(0, 3, size=(11, 1)) * 2.0
    for k in (1, 2, 3, 5):
        labels = ward_clusters(points, k)
        assert {frozenset(np.flatnonzero(labels == c).tolist()) for c in set(labels)} == brute_force_ward(points, k)
        assert labels[0] == 0 and sorted(set(labels)) == list(range(k))  # numbered by first row


def test_majority_vote_hand_case():
    clusters = np.array([0, 0, 1, 1, 1, 0, 2, 2, 2, 0, 1])
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3])
    result = language_groups(clusters, labels, ["a", "b", "c", "d"], k=4)
    assert result["shares"] == {"a": [0.6667, 0.3333, 0, 0], "b": [0.3333, 0.6667, 0, 0], "c": [0, 0, 1.0, 0],
                                "d": [0.5, 0.5, 0, 0]}
    assert result["majority"] == {"a": 0, "b": 1, "c": 2, "d": 0}  # d's tie goes to the lower cluster
    assert result["groups"] == [["a", "d"], ["b"], ["c"], []]  # cluster 3 won no language


def test_adjusted_rand_of_groupings():
    assert adjusted_rand({"a": 0, "b": 0, "c": 1, "d": 2}, {"a": 5, "b": 5, "c": 3, "d": 1}) == 1.0  # same partition
    assert adjusted_rand({"a": 0, "b": 0, "c": 1, "d": 1}, {"a": 0, "b": 1, "c": 0, "d": 1}) < 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    data = write_wikiann(root / "data", LANGS, sizes=(30, 12, 3))
    words = [line.split("\t")[0].split(":", 1)[1] for lang in LANGS
             for line in (data / "wikiann" / lang / "train").read_text().splitlines() if line]
    return root, data, build_tiny_model(root / "model", words, layers=1, hidden=16)


def test_lid_fine_tuning_learns_the_languages(tiny):
    _, data, model = tiny
    config = ClusterConfig(model=str(model), langs=",".join(LANGS), k=2, held_out=12, epochs=4, batch_size=10,
                           lr=3e-3, data_dir=str(data), progress=False, device="cpu")
    result = cluster_setting(config, read_inputs(config), seed=1, cap=30)
    assert result["losses"][-1] < result["losses"][0]
    assert result["accuracy"]["overall"] >= 0.75  # chance: 0.25
    assert result["lid"]["vectors"].shape == (48, 16) and result["plain"]["vectors"].shape == (48, 16)


def test_cluster_command_end_to_end(tiny, capsys):
    root, data, model = tiny
    out = root / "out"
    argv = ["cluster", "--model", model, "--langs", ",".join(LANGS), "--k", "2", "--caps", "10,20", "--seeds", "1,2",
            "--held-out", "8", "--epochs", "1", "--batch-size", "8", "--data-dir", data, "--out", out,
            "--no-progress", "--device", "cpu"]
    assert main([str(arg) for arg in argv]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    main_files = ["config.json", "groups.json", "lid_accuracy.json", "map.png", "dendrogram.png",
                  "baseline/groups.json", "baseline/map.png", "baseline/dendrogram.png"]
    for folder in ["stability/seed2-cap10/", "stability/seed1-cap20/", "stability/seed2-cap20/"]:
        for name in ("groups.json", "lid_accuracy.json", "baseline/groups.json"):
            assert (out / folder / name).is_file(), folder + name
    for name in main_files + ["stability.json", "summary.md", "training.log"]:
        assert (out / name).stat().st_size > 0, name
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG" and not list(out.rglob("*.tmp"))

    for name in ("groups.json", "baseline/groups.json"):
        groups = json.loads((out / name).read_text())
        assert groups["langs"] == list(LANGS) and groups["sentences"] == dict.fromkeys(LANGS, 8)
        for lang, shares in groups["shares"].items():
            assert len(shares) == 2 and abs(sum(shares) - 1) < 1e-3
            assert groups["majority"][lang] == int(np.argmax(shares))
        assert sorted(lang for group in groups["groups"] for lang in group) == sorted(LANGS)
    accuracy = json.loads((out / "lid_accuracy.json").read_text())
    assert accuracy["train_sentences"] == dict.fromkeys(LANGS, 10) and len(accuracy["epoch_losses"]) == 1
    assert set(accuracy["per_language"]) == set(LANGS) and 0 <= accuracy["overall"] <= 1

    stability = json.loads((out / "stability.json").read_text())
    assert list(stability["settings"]) == ["seed1-cap10", "seed2-cap10", "seed1-cap20", "seed2-cap20"]
    assert len(stability["pairs"]) == 6
    from sklearn.metrics import adjusted_rand_score

    for pair in stability["pairs"]:
        a, b = stability["settings"][pair["a"]]["lid"], stability["settings"][pair["b"]]["lid"]
        assert pair["lid"] == round(adjusted_rand_score([a[x] for x in LANGS], [b[x] for x in LANGS]), 4)
    assert stability["settings"]["seed1-cap10"]["lid"] == json.loads((out / "groups.json").read_text())["majority"]

    before = {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.name != "training.log"}
    assert main([str(arg) for arg in argv]) == 0  # the same config: reused, nothing recomputed
    assert capsys.readouterr().out == printed
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.name != "training.log"} == before
    assert main([str(arg) for arg in argv[:-2] + ["--k", "3"]]) == 2  # another config: refused
    assert "k 2 -> 3" in capsys.readouterr().err
