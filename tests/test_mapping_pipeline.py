"""The whole mapping pipeline on synthetic embeddings: the target set is a rotated, noised copy of the source
set, so the known rotation must come back, with adversarial and with identical-strings initialisation."""
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from zsner.cli import main
from zsner.embeddings import WordVectors, load_vectors, save_vec
from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import learn_mapping

torch.set_num_threads(1)
N, D = 1500, 20

# small discriminator and short schedule: a few seconds on one CPU core
FAST = dict(dis_hid_dim=64, epoch_size=6000, n_epochs=2, bf16=False, dico_max_rank=N, criterion_queries=1000,
            n_refinement=3, chance_margin=0.05)


def synthetic(seed=0, angle=1.2, noise=0.02, shared=0):
    """Clustered source vectors, target = source rotated by ``expm(angle * A)`` (A skew) + noise. Words differ
    between the sides except the first ``shared`` ones."""
    g = np.random.default_rng(seed)
    centers = g.normal(size=(8, D)) * 2
    x = centers[g.integers(0, 8, N)] + g.normal(size=(N, D)) * 0.6
    skew = g.normal(size=(D, D))
    skew = skew - skew.T
    rotation = scipy.linalg.expm(angle * skew / np.abs(np.linalg.eigvals(skew)).max())
    y = x @ rotation.T + g.normal(size=(N, D)) * noise
    src_words = [f"w{i}" if i < shared else f"s{i}" for i in range(N)]
    tgt_words = [f"w{i}" if i < shared else f"t{i}" for i in range(N)]
    return WordVectors(src_words, x.astype(np.float32)), WordVectors(tgt_words, y.astype(np.float32)), rotation


def write_dictionary(path, src, tgt, rows):
    path.write_text("".join(f"{src.words[i]} {tgt.words[i]}\n" for i in rows), encoding="utf-8")
    return path


def test_adversarial_pipeline_recovers_rotation(tmp_path):
    src, tgt, rotation = synthetic(seed=0)
    assert np.abs(rotation - np.eye(D)).max() > 0.4  # far from the identity start
    result = learn_mapping(src, tgt, MappingConfig(**FAST, fallback="none"),
                           eval_dict=write_dictionary(tmp_path / "d.txt", src, tgt, range(0, N, 3)), progress=False)
    adversarial = result.metrics["adversarial"]
    assert not adversarial["failed"] and adversarial["criterion"] > adversarial["chance_criterion"] + 0.1
    assert np.abs(result.w - rotation).max() < 0.01
    assert result.metrics["final"]["csls"]["P@1"] == 100.0
    assert adversarial["csls"]["P@1"] < result.metrics["final"]["csls"]["P@1"]  # refinement did the last mile


def test_identical_init_recovers_rotation_t2s(tmp_path):
    src, tgt, rotation = synthetic(seed=1, angle=3.0, shared=60)
    dico = write_dictionary(tmp_path / "d.txt", src, tgt, range(200, 500))
    result = learn_mapping(src, tgt, MappingConfig(**FAST, init="identical", direction="t2s"), dico,
                           out_dir=tmp_path / "run", progress=False)
    assert result.metrics["identical"]["pairs"] == 60
    assert "adversarial" not in result.metrics
    np.testing.assert_allclose(result.w, rotation.T, atol=0.01)  # t2s maps target rows back onto the source
    assert result.metrics["identical"]["csls"]["P@1"] == 100.0  # src -> tgt retrieval in the common space
    assert json.loads((tmp_path / "run" / "config.json").read_text())["cache_key"] is None  # in-memory vectors
    np.testing.assert_allclose(load_vectors(tmp_path / "run" / "tgt.mapped.vec").matrix, tgt.matrix @ result.w.T,
                               atol=1e-4)
    np.testing.assert_allclose(load_vectors(tmp_path / "run" / "src.mapped.vec").matrix, src.matrix, atol=1e-4)


def test_failed_adversarial_is_detected_and_falls_back_to_identical_strings():
    src, tgt, rotation = synthetic(seed=2, angle=3.0, shared=60)
    config = MappingConfig(**{**FAST, "n_epochs": 0, "fallback": "on-failure"})  # W stays the identity: a guess
    result = learn_mapping(src, tgt, config, progress=False)
    assert result.failed and result.metrics["final"]["init"] == "identical"
    assert set(result.metrics["refinement"]) == {"adversarial", "identical"}
    assert np.abs(result.w - rotation).max() < 0.01
    # without the fallback the failed start stays wrong
    result = learn_mapping(src, tgt, config.replace(fallback="none"), progress=False)
    assert result.failed and set(result.metrics["refinement"]) == {"adversarial"}
    assert np.abs(result.w - rotation).max() > 0.1


def test_successful_adversarial_competes_with_identical_strings_on_the_criterion():
    src, tgt, rotation = synthetic(seed=0, shared=60)
    result = learn_mapping(src, tgt, MappingConfig(**FAST, fallback="on-failure"), progress=False)
    assert not result.failed and set(result.metrics["refinement"]) == {"adversarial"}
    result = learn_mapping(src, tgt, MappingConfig(**FAST), progress=False)  # default: fallback "always"
    chains = result.metrics["refinement"]
    assert set(chains) == {"adversarial", "identical"}
    best = {name: max(step["criterion"] for step in chain["steps"]) for name, chain in chains.items()}
    assert result.metrics["final"]["criterion"] == max(best.values())
    assert np.abs(result.w - rotation).max() < 0.01


def test_identical_chain_beside_adversarial_training_gives_the_in_line_result(tmp_path, monkeypatch):
    """fallback "always" with a spare core: the identical-strings chain runs in a second thread; the mapping,
    every chain's history, P@k and the final choice equal the one-thread run's (only the clocks differ)."""
    import zsner.mapping.pipeline as pipeline

    src, tgt, _ = synthetic(seed=3, angle=3.0, shared=60)
    dico = write_dictionary(tmp_path / "d.txt", src, tgt, range(200, 500))
    config = MappingConfig(**{**FAST, "n_epochs": 1})
    results = {}
    for beside in (True, False):
        monkeypatch.setattr(pipeline, "_identical_beside", lambda _config, _candidate, beside=beside: beside)
        results[beside] = learn_mapping(src, tgt, config, dico, progress=False)
    timing = {beside: results[beside].metrics.pop("timing") for beside in results}
    for result in results.values():  # clocks differ
        for epoch in result.metrics["adversarial"]["epochs"]:
            epoch.pop("seconds")
    assert set(timing[True]) == set(timing[False])  # the chain's stages are timed either way
    assert set(results[True].metrics["refinement"]) == {"adversarial", "identical"}
    assert "csls" in results[True].metrics["identical"]  # the chain's initial P@k was merged back
    assert results[True].metrics == results[False].metrics
    np.testing.assert_array_equal(results[True].w, results[False].w)


def test_cli_writes_run_folder_and_exports_full_cased_vocabulary(tmp_path, capsys):
    src, tgt, rotation = synthetic(seed=3, angle=2.0, shared=80)
    extra = np.random.default_rng(9).normal(size=(1, D)).astype(np.float32) * 3
    save_vec(tmp_path / "src.vec", src.words + ["W5"], np.vstack([src.matrix, extra]))  # cased, collides with w5
    save_vec(tmp_path / "tgt.vec", tgt.words, tgt.matrix)
    dico = write_dictionary(tmp_path / "d.txt", src, tgt, range(100, 400))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**FAST, "normalize": "renorm,center"}))
    out = tmp_path / "run"
    code = main(["map", "--src-emb", str(tmp_path / "src.vec"), "--tgt-emb", str(tmp_path / "tgt.vec"),
                 "--config", str(config), "--init", "identical", "--eval-dict", str(dico), "--out", str(out),
                 "--quiet", "--threads", "1"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["P@1_csls"] == 100.0
    assert {p.name for p in out.iterdir()} >= {"config.json", "mapping.npy", "metrics.json", "training.log",
                                               "normalization.npz", "src.mapped.vec", "tgt.mapped.vec"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dictionary"]["pairs_in_vocab"] == 300 and "total" in metrics["timing"]
    assert json.loads((out / "config.json").read_text())["config"]["normalize"] == "renorm,center"
    assert "refinement from identical step 3" in (out / "training.log").read_text()
    w = np.load(out / "mapping.npy")
    mapped = load_vectors(out / "src.mapped.vec")
    assert mapped.words[-1] == "W5" and len(mapped) == N + 1
    full = np.vstack([src.matrix, extra])
    unit = full / np.linalg.norm(full, axis=1, keepdims=True)
    train_mean = unit[:N].mean(0)  # training vocabulary: "W5" lowercases onto w5 and is left out
    np.testing.assert_allclose(mapped.matrix[-1], (unit[-1] - train_mean) @ w.T, atol=1e-4)
    target = load_vectors(out / "tgt.mapped.vec")
    tgt_unit = tgt.matrix / np.linalg.norm(tgt.matrix, axis=1, keepdims=True)
    np.testing.assert_allclose(target.matrix, tgt_unit - tgt_unit.mean(0), atol=1e-4)
    # in the common space, translations are nearest neighbours
    assert np.abs(w - rotation).max() < 0.01


def test_cli_user_errors(tmp_path, capsys):
    assert main(["map", "--src-emb", str(tmp_path / "missing.vec"), "--tgt", "es", "--out", str(tmp_path)]) == 2
    assert "no such embedding file" in capsys.readouterr().err
    save_vec(tmp_path / "a.vec", ["x"], np.ones((1, 2)))
    assert main(["map", "--src-emb", str(tmp_path / "a.vec"), "--tgt-emb", str(tmp_path / "a.vec"),
                 "--out", str(tmp_path / "r"), "--direction", "s2t", "--normalize", "whiten"]) == 2
    assert "normalize step" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [{"restarts": 0}, {"dico_build": "both"}, {"dis_smooth": 0.7}])
def test_config_rejects_bad_values(bad):
    from zsner.errors import ZsnerError

    with pytest.raises(ZsnerError):
        MappingConfig(**bad)


def test_identity_init_refines_a_nearly_shared_space(tmp_path):
    """Spaces that already share axes up to a small rotation (like encoder vectors): refinement from the
    identity closes the gap, and the criterion prefers the refined mapping over the identity."""
    src, tgt, rotation = synthetic(seed=2, angle=0.15)
    assert 0.02 < np.abs(rotation - np.eye(D)).max() < 0.5
    dico = write_dictionary(tmp_path / "d.txt", src, tgt, range(0, N, 3))
    result = learn_mapping(src, tgt, MappingConfig(**FAST, init="identity"), dico, progress=False)
    assert "adversarial" not in result.metrics and "identical" not in result.metrics["refinement"]
    assert result.metrics["final"]["init"] == "identity" and result.metrics["final"]["refinement_step"] > 0
    assert np.abs(result.w - rotation).max() < 0.01
    assert result.metrics["final"]["csls"]["P@1"] >= result.metrics["identity"]["csls"]["P@1"]


def names_and_numbers_pair(seed=0, names=150, name_dim=4, noise=1.0):
    """Refinement drift (issue 9): the only identical strings are names and numbers, living in a few directions
    of their own, while the rest of the vocabulary is far from isomorphic (target = rotated source + strong
    noise). Procrustes on such a seed fixes those directions and nothing else."""
    g = np.random.default_rng(seed)
    centers = g.normal(size=(8, D)) * 2
    x = centers[g.integers(0, 8, N)] + g.normal(size=(N, D)) * 0.6
    basis = np.linalg.qr(g.normal(size=(D, name_dim)))[0]
    x[:names] = g.normal(size=(names, name_dim)) @ basis.T + 3.0 * basis[:, 0]
    skew = g.normal(size=(D, D))
    skew = skew - skew.T
    y = x @ scipy.linalg.expm(3.0 * skew / np.abs(np.linalg.eigvals(skew)).max()).T
    y[names:] += g.normal(size=(N - names, D)) * noise
    y[:names] += g.normal(size=(names, D)) * 0.02
    src = WordVectors([f"n{i}" if i < names else f"s{i}" for i in range(N)], x.astype(np.float32))
    tgt = WordVectors([f"n{i}" if i < names else f"t{i}" for i in range(N)], y.astype(np.float32))
    return src, tgt, names


def test_refinement_does_not_drift_away_from_a_names_and_numbers_seed(tmp_path):
    """MUSE's rule (S2T dictionaries, no anchors, best criterion) lets the criterion rise while the mapping
    forgets the seed's translations; the guarded refinement keeps them, and says where it stopped."""
    src, tgt, names = names_and_numbers_pair()
    dico = tmp_path / "names.txt"  # evaluation only: every identical string is its own translation
    dico.write_text("".join(f"n{i} n{i}\n" for i in range(names)), encoding="utf-8")
    base = dict(init="identical", fallback="none", dico_max_rank=N, criterion_queries=1000, n_refinement=5)
    old = learn_mapping(src, tgt, MappingConfig(**base, dico_build="S2T", anchor_seed=False,
                                                drift_tolerance=1e9, mutual_tolerance=1.0), dico,
                        progress=False).metrics
    new = learn_mapping(src, tgt, MappingConfig(**base), dico, progress=False).metrics
    seed_p1 = new["identical"]["csls"]["P@1"]
    assert seed_p1 > 90
    old_steps = old["refinement"]["identical"]["steps"]
    assert old_steps[-1]["criterion"] > old_steps[0]["criterion"]  # the criterion rises ...
    assert old["final"]["refinement_step"] == 5 and old["final"]["csls"]["P@1"] < seed_p1 - 20  # ... P@1 falls
    validation = new["refinement"]["identical"]["validation"]  # held-out names watch a refinement on the rest
    stop = validation["stopped_by_drift"]
    assert stop is not None and validation["allowed_steps"] == stop - 1
    assert all(step["watch_P@1"] >= validation["steps"][0]["watch_P@1"] - 1.0 for step in validation["steps"][:stop])
    assert len(new["refinement"]["identical"]["steps"]) == validation["allowed_steps"] + 1
    assert new["final"]["csls"]["P@1"] >= seed_p1 - 2.0
