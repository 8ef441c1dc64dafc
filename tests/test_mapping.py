"""Unsupervised cross-lingual mapping: building blocks against direct computations, and the whole pipeline
recovering a known rotation between two synthetic embedding sets."""
import json

import numpy as np
import pytest
import torch

from zsner.embeddings import WordVectors, save_vec
from zsner.errors import ZsnerError
from zsner.mapping.adversarial import Discriminator, orthogonalize
from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import mapping_cache_key
from zsner.mapping.procrustes import build_dictionary, procrustes
from zsner.mapping.seed import identical_pairs, split_seed, watch_precision
from zsner.mapping.retrieval import (load_dictionary, mean_cosine_criterion, mean_knn_sim, precision_at_k,
                                     search, translate, unit_rows)
from zsner.mapping.space import training_space

torch.set_num_threads(1)


def random_rotation(d, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def direct_csls(x, y, k):
    """CSLS matrix from the definition, with numpy, no blocks."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    sims = x @ y.T
    r_x = np.sort(sims, axis=1)[:, -k:].mean(1)
    r_y = np.sort(sims, axis=0)[-k:, :].mean(0)
    return 2 * sims - r_x[:, None] - r_y[None, :]


# --- orthogonalisation and Procrustes -------------------------------------------------------------------

def test_orthogonalize_keeps_orthogonal_matrix_fixed_and_pulls_others_back():
    q = torch.tensor(random_rotation(20, 1), dtype=torch.float32)
    w = q.clone()
    orthogonalize(w, 0.001)
    assert torch.allclose(w, q, atol=1e-6)
    w = q + 0.01 * torch.randn(20, 20, generator=torch.Generator().manual_seed(0))
    defect = lambda m: float((m @ m.T - torch.eye(20)).abs().max())  # noqa: E731
    before = defect(w)
    for _ in range(3000):
        orthogonalize(w, 0.001)
    assert before > 1e-2 and defect(w) < 1e-3 < before / 10


def test_procrustes_recovers_random_rotation_exactly():
    x = torch.randn(500, 40, generator=torch.Generator().manual_seed(0))
    q = torch.tensor(random_rotation(40, 2), dtype=torch.float32)
    w = procrustes(x, x @ q.T)
    assert torch.allclose(w, q, atol=1e-5)
    assert torch.allclose(w @ w.T, torch.eye(40), atol=1e-5)


# --- retrieval -----------------------------------------------------------------------------------------

@pytest.fixture
def small_pair():
    g = np.random.default_rng(3)
    return g.normal(size=(23, 6)).astype(np.float32), g.normal(size=(17, 6)).astype(np.float32)


def test_mean_knn_sim_and_csls_match_direct_computation(small_pair):
    x, y = small_pair
    csls = direct_csls(x, y, 4)
    ux, uy = unit_rows(torch.tensor(x)), unit_rows(torch.tensor(y))
    sims = (ux @ uy.T).numpy()
    np.testing.assert_allclose(mean_knn_sim(ux, uy, 4, block_size=5).numpy(),
                               np.sort(sims, 1)[:, -4:].mean(1), atol=1e-6)
    penalty = mean_knn_sim(uy, ux, 4, block_size=3)
    scores, idx = search(ux, uy, 3, penalty, block_size=5)  # scores omit the query's own r term
    r_x = np.sort(sims, 1)[:, -4:].mean(1)
    np.testing.assert_allclose(scores.numpy() - r_x[:, None], np.sort(csls, 1)[:, ::-1][:, :3], atol=1e-5)
    np.testing.assert_array_equal(idx[:, 0].numpy(), csls.argmax(1))
    np.testing.assert_array_equal(translate(ux, uy, "csls", 4, 1, block_size=7)[:, 0].numpy(), csls.argmax(1))
    np.testing.assert_array_equal(translate(ux, uy, "nn", block_size=7)[:, 0].numpy(), sims.argmax(1))
    assert (csls.argmax(1) != sims.argmax(1)).any()  # the case distinguishes CSLS from NN


def test_criterion_is_mean_cosine_of_csls_translations(small_pair):
    x, y = small_pair
    ux, uy = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    csls = direct_csls(x[:15], y[:15], 4)  # candidates and neighbourhoods: the max_rank first rows of each side
    expected = (ux[:8] * uy[csls[:8].argmax(1)]).sum(1).mean()
    value = mean_cosine_criterion(torch.tensor(x), torch.tensor(y), n_queries=8, max_rank=15, k=4, block_size=6)
    assert value == pytest.approx(expected, abs=1e-6)


def test_build_dictionary_variants_match_direct_computation(small_pair):
    x, y = small_pair
    csls = direct_csls(x, y, 3)
    s2t = {(i, int(j)) for i, j in enumerate(csls.argmax(1))}
    t2s = {(int(i), j) for j, i in enumerate(csls.argmax(0))}
    expected = {"S2T": s2t, "T2S": t2s, "S2T|T2S": s2t | t2s, "S2T&T2S": s2t & t2s}
    for method, pairs in expected.items():
        dico, criterion, translations = build_dictionary(torch.tensor(x), torch.tensor(y), method, max_rank=100,
                                                         k=3, block_size=4, n_queries=10)
        assert translations.tolist() == csls.argmax(1).tolist()
        assert {tuple(map(int, p)) for p in dico} == pairs, method
    assert len(expected["S2T&T2S"]) < len(expected["S2T"]) < len(expected["S2T|T2S"])
    ux, uy = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    assert criterion == pytest.approx((ux[:10] * uy[csls[:10].argmax(1)]).sum(1).mean(), abs=1e-6)


def test_precision_at_k_on_toy_dictionary():
    # target i sits at angle 10*i degrees; source queries at chosen angles -> known rankings
    angles = np.radians(np.arange(10) * 10.0)
    tgt = np.stack([np.cos(angles), np.sin(angles)], 1)
    src_angles = np.radians([0.0, 16.0, 44.0, 90.0])  # rankings: 0.. | 2,1,.. | 4,5,3 | 9,8,7
    src = np.stack([np.cos(src_angles), np.sin(src_angles)], 1)
    pairs = np.array([[0, 0], [1, 1], [2, 3], [2, 7], [3, 7]])  # gold: query 0 @1, 1 @2, 2 @3, 3 @3
    got = precision_at_k(torch.tensor(src, dtype=torch.float32), torch.tensor(tgt, dtype=torch.float32),
                         pairs, ks=(1, 2, 3), method="nn", block_size=3)
    assert got == {"P@1": 25.0, "P@2": 50.0, "P@3": 100.0}


def test_load_dictionary_drops_oov_and_reports_errors(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("cat gato\ncat felino\ndog perro\nfish pez\n\nCat Gato\n", encoding="utf-8")
    pairs, stats = load_dictionary(path, {"cat": 0, "dog": 1}, {"gato": 5, "perro": 2, "felino": 9})
    assert pairs.tolist() == [[0, 5], [0, 9], [1, 2]]
    assert stats == {"pairs": 5, "pairs_in_vocab": 3, "source_words": 3, "source_words_in_vocab": 2}
    path.write_text("cat gato\nthree words here\n", encoding="utf-8")
    with pytest.raises(ZsnerError, match=r"d.txt:2: expected"):
        load_dictionary(path, {"cat": 0}, {"gato": 0})


# --- vocabularies ----------------------------------------------------------------------------------------

def test_training_space_lowercases_keeping_most_frequent_casing_and_replays_normalisation():
    g = np.random.default_rng(0)
    matrix = g.normal(size=(5, 4)).astype(np.float32) + 3
    vectors = WordVectors(["The", "the", "Paris", "THE", "paris"], matrix)
    space = training_space(vectors, max_vocab=2, lowercase=True, steps=["renorm", "center", "renorm"])
    assert space.words == ["the", "paris"]
    expected = matrix[[0, 2]] / np.linalg.norm(matrix[[0, 2]], axis=1, keepdims=True)
    expected = expected - expected.mean(0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(space.matrix.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(space.normalizer.apply(matrix[[0, 2]]), expected, atol=1e-6)


def test_identical_pairs():
    pairs = identical_pairs(["de", "la", "paris", "x"], ["paris", "y", "de", "de"])
    assert pairs.tolist() == [[0, 2], [2, 0]]


# --- config -------------------------------------------------------------------------------------------------

def test_config_round_trip_validation_and_cache_key(tmp_path):
    config = MappingConfig(direction="t2s", normalize="renorm,center")
    assert MappingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ZsnerError, match="direction"):
        MappingConfig(direction="both")
    with pytest.raises(ZsnerError, match="unknown field"):
        MappingConfig.from_dict({"epochs": 3})
    a, b = tmp_path / "a.vec", tmp_path / "b.vec"
    save_vec(a, ["x", "y"], np.eye(2))
    save_vec(b, ["x", "y"], -np.eye(2))
    key = mapping_cache_key(a, b, config)
    assert key == mapping_cache_key(a, b, config.replace(threads=2, block_size=7))
    assert key != mapping_cache_key(b, a, config)
    assert key != mapping_cache_key(a, b, config.replace(direction="s2t"))
    save_vec(b, ["x", "y"], 2 * np.eye(2))
    assert key != mapping_cache_key(a, b, config)


def test_discriminator_shape():
    net = Discriminator(8, layers=2, hid_dim=16)
    assert net(torch.zeros(5, 8)).shape == (5,)
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 3


def test_adversarial_restarts_keep_best_criterion_and_leave_global_rng_alone():
    from zsner.mapping.adversarial import train_adversarial

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g)
    config = MappingConfig(dis_hid_dim=16, epoch_size=320, n_epochs=2, restarts=2, seed=5, bf16=False,
                           criterion_queries=100, dico_max_rank=300)
    state = torch.get_rng_state()
    result = train_adversarial(x, y, config, progress=False)
    assert torch.equal(state, torch.get_rng_state())
    assert [(e["seed"], e["epoch"]) for e in result.history] == [(5, 0), (5, 1), (6, 0), (6, 1)]
    best = max(result.history, key=lambda e: e["criterion"])
    assert result.seed == best["seed"] and round(result.criterion, 5) == best["criterion"]
    assert torch.allclose(result.w @ result.w.T, torch.eye(8), atol=1e-5)  # nearest orthogonal matrix


def test_learning_rate_schedule_decays_and_halves_on_a_drop():
    from zsner.mapping.adversarial import _update_lr

    config = MappingConfig()
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    assert _update_lr(opt, config, value=0.5, best=0.4) == pytest.approx(0.098)
    assert _update_lr(opt, config, value=0.3, best=0.5) == pytest.approx(0.098 * 0.98 * 0.5)


def test_seed_split_is_a_deterministic_partition_by_word():
    words = [f"w{i}" for i in range(2000)]
    pairs = np.stack([np.arange(2000), np.arange(2000)[::-1]], axis=1)
    fit, watch = split_seed(pairs, words, 0.2)
    assert len(fit) + len(watch) == 2000 and not set(map(tuple, fit)) & set(map(tuple, watch))
    assert 0.15 < len(watch) / 2000 < 0.25
    shuffled = pairs[np.random.default_rng(0).permutation(2000)]  # the split follows the word, not its position
    assert {tuple(p) for p in split_seed(shuffled, words, 0.2)[1]} == {tuple(p) for p in watch}
    assert len(split_seed(pairs, words, 0.0)[1]) == 0


def test_watch_precision_counts_only_frequent_pairs():
    translations = torch.tensor([3, 1, 2])  # CSLS translations of the 3 most frequent mapped rows
    assert watch_precision(translations, np.array([[0, 3], [1, 0], [2, 2], [7, 7]])) == pytest.approx(66.67)
    assert watch_precision(translations, np.array([[5, 5]])) is None
    assert watch_precision(translations, np.zeros((0, 2), dtype=np.int64)) is None
