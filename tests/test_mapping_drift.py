"""Refinement drift seen by held-out frequent words (issue 30, item 6): the mutual-neighbour share against a
brute-force CSLS, the held-out split against the seed's, and a synthetic pair where the identical strings are
rare (the held-out identical strings watch nothing) and refinement from them drifts."""
import numpy as np
import pytest
import scipy.linalg
import torch

from tests.test_mapping import direct_csls
from zsner.embeddings import WordVectors
from zsner.errors import ZsnerError
from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import _choose_chain, learn_mapping
from zsner.mapping.procrustes import RefinementResult, build_dictionary, mutual_share
from zsner.mapping.seed import held_out_words, identical_pairs, split_seed

torch.set_num_threads(1)


@pytest.mark.parametrize("rank", [60, 200])
def test_mutual_share_is_the_share_of_rows_whose_csls_translation_translates_back(rank):
    g = np.random.default_rng(rank)
    x = g.normal(size=(200, 8)).astype(np.float32)
    y = (x @ np.linalg.qr(g.normal(size=(8, 8)))[0] + g.normal(size=(200, 8)) * 0.8).astype(np.float32)
    rows = np.sort(g.choice(rank, size=rank // 3, replace=False))
    csls = direct_csls(x[:rank], y[:rank], 5)
    s2t, t2s = csls.argmax(1), csls.argmax(0)
    expected = 100.0 * np.mean(t2s[s2t[rows]] == rows)
    assert 0 < expected < 100  # neither trivial case
    _, _, translations = build_dictionary(torch.from_numpy(x), torch.from_numpy(y), "S2T", rank, 5, 64, rank)
    np.testing.assert_array_equal(translations.numpy(), s2t)
    got = mutual_share(torch.from_numpy(x), torch.from_numpy(y), translations, torch.from_numpy(rows), 5, 64)
    assert got == pytest.approx(round(expected, 2))
    none = torch.zeros(0, dtype=torch.long)
    assert mutual_share(torch.from_numpy(x), torch.from_numpy(y), translations, none) is None


def test_held_out_words_are_the_watch_pairs_words_among_the_frequent_ones():
    words = [f"w{i}" for i in range(3000)]
    other = [f"w{i}" if i % 2 else f"v{i}" for i in range(3000)][::-1]  # every odd word is an identical string
    pairs = identical_pairs(words, other)
    _, watch = split_seed(pairs, words, 0.2)
    held = held_out_words(words, 0.2, 2000)
    assert held.dtype == bool and len(held) == 3000 and not held[2000:].any()
    assert 0.15 < held[:2000].mean() < 0.25
    frequent = pairs[pairs[:, 0] < 2000]
    np.testing.assert_array_equal(np.sort(watch[watch[:, 0] < 2000, 0]), np.sort(frequent[held[frequent[:, 0]], 0]))
    assert not held_out_words(words, 0.0, 2000).any()
    np.testing.assert_array_equal(held_out_words(words[:2500], 0.2, 2000), held[:2500])  # follows the word


def another_domain_pair(seed=0, n=1500, d=20, names=150, name_dim=4):
    """Identical strings are 150 rare names (the last rows: outside the 1,000 frequent words that refinement and
    the identical-strings watch look at) in a few directions of their own, related by a rotation; the frequent
    words of the target come from another domain (clusters of their own, unrelated to the source's). The seed
    translates the names; refinement can only fit the unrelated frequent words and loses them."""
    g = np.random.default_rng(seed)
    centers = g.normal(size=(8, d)) * 2
    x = centers[g.integers(0, 8, n)] + g.normal(size=(n, d)) * 0.6
    basis = np.linalg.qr(g.normal(size=(d, name_dim)))[0]
    rare = np.arange(n - names, n)
    x[rare] = g.normal(size=(names, name_dim)) @ basis.T + 3.0 * basis[:, 0]
    skew = g.normal(size=(d, d))
    skew = skew - skew.T
    y = x @ scipy.linalg.expm(3.0 * skew / np.abs(np.linalg.eigvals(skew)).max()).T
    y[:n - names] = (g.normal(size=(8, d)) * 2)[g.integers(0, 8, n - names)] + g.normal(size=(n - names, d)) * 0.6
    y[rare] += g.normal(size=(names, d)) * 0.02
    name = np.zeros(n, dtype=bool)
    name[rare] = True
    src = WordVectors([f"n{i}" if name[i] else f"s{i}" for i in range(n)], x.astype(np.float32))
    tgt = WordVectors([f"n{i}" if name[i] else f"t{i}" for i in range(n)], y.astype(np.float32))
    return src, tgt, rare


def test_refinement_from_rare_identical_strings_stops_where_held_out_words_lose_their_mutual_neighbours(tmp_path):
    """Today's guard watches no pair here (no identical string among the frequent words) and refinement loses
    the names (P@1 96 -> 3); the held-out frequent words' mutual-neighbour share falls at the validation split's
    first step, so the chain keeps the seed. One drawn pair (seed 0), pinned: a regression test, not a proof
    that the signal sees every drift (on a larger draw of this family the share rises while the names drift)."""
    src, tgt, rare = another_domain_pair(seed=0)
    dico = tmp_path / "names.txt"  # evaluation only
    dico.write_text("".join(f"n{i} n{i}\n" for i in rare), encoding="utf-8")
    base = dict(init="identical", fallback="none", dico_max_rank=1000, criterion_queries=1000, n_refinement=5)
    new = learn_mapping(src, tgt, MappingConfig(**base), dico, progress=False).metrics
    assert new["identical"]["watch_in_rank"] == 0 and new["identical"]["held_words"] > 150
    seed_p1 = new["identical"]["csls"]["P@1"]
    assert seed_p1 > 90
    validation = new["refinement"]["identical"]["validation"]
    assert all("watch_P@1" not in step for step in validation["steps"])  # nothing for the old watch to see
    held = [step["held_mutual"] for step in validation["steps"]]
    assert validation["stopped_by_drift"] == 1 and held[1] < 0.9 * held[0]
    assert "mutual neighbours" in validation["drift"] and validation["allowed_steps"] == 0
    assert new["final"]["refinement_step"] == 0 and new["final"]["csls"]["P@1"] >= seed_p1
    # the same split with the new signal switched off: all 5 steps, the names lost
    off = learn_mapping(src, tgt, MappingConfig(**base, mutual_tolerance=1.0), dico, progress=False).metrics
    assert off["refinement"]["identical"]["validation"]["allowed_steps"] == 5
    assert off["final"]["refinement_step"] == 5 and off["final"]["csls"]["P@1"] < seed_p1 - 50


def test_chains_are_compared_at_an_equal_number_of_refinement_steps():
    """en-nl, default configuration (2026-12-02): the identical chain stopped at its seed (criterion 0.40714);
    the failed adversarial one (P@1 0.07) reached 0.4701 after 5 steps but started at 0.37924."""
    def chain(criteria, best):
        return RefinementResult(torch.eye(2), best, [{"step": i, "criterion": c} for i, c in enumerate(criteria)])
    adversarial = chain([0.37924, 0.43078, 0.44931, 0.45958, 0.46592, 0.4701], 5)
    assert _choose_chain({"adversarial": adversarial, "identical": chain([0.40714], 0)}) == ("identical", 0)
    # both refined 5 steps: step 5 decides (en-es, §3: 0.53325 against 0.48859; the middle steps here are made up)
    identical = chain([0.40969, 0.48592, 0.50913, 0.5211, 0.52853, 0.53325], 5)
    failed = chain([0.40598, 0.44, 0.46, 0.47, 0.48, 0.48859], 5)
    assert _choose_chain({"adversarial": failed, "identical": identical}) == ("identical", 5)
    assert _choose_chain({"adversarial": adversarial, "identical": chain([0.30, 0.41, 0.42], 2)}) == ("adversarial", 2)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_mutual_tolerance_is_a_share(bad):
    with pytest.raises(ZsnerError, match="mutual_tolerance"):
        MappingConfig(mutual_tolerance=bad)
