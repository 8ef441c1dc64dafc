"""The hand-written CRF against brute-force enumeration, finite differences, constraints and pytorch-crf."""
import itertools

import pytest
import torch

from zsner.crf import CRF
from zsner.data.tags import allowed_transitions, is_valid, tag_set

torch.set_num_threads(1)


def random_case(batch, length, tags, seed):
    generator = torch.Generator().manual_seed(seed)
    emissions = torch.randn(batch, length, tags, generator=generator, dtype=torch.float64) * 2
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = torch.arange(length)[None] < lengths[:, None]
    return emissions, lengths, mask


def brute_force(crf, emissions, length):
    """All paths of one sequence: (log Z, best path, best score) by explicit enumeration."""
    start, transitions, end = crf._scores()
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=length):
        score = start[path[0]] + end[path[-1]] + sum(emissions[t, path[t]] for t in range(length))
        score = score + sum(transitions[path[t], path[t + 1]] for t in range(length - 1))
        scores[path] = score
    values = torch.stack(list(scores.values()))
    best = max(scores, key=lambda p: scores[p].item())
    return torch.logsumexp(values, 0), list(best), scores[best]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partition_and_viterbi_equal_brute_force_on_padded_batches(seed):
    crf = CRF(4).double()
    emissions, lengths, mask = random_case(5, 5, 4, seed)
    log_z = crf.log_partition(emissions, mask)
    paths, best = crf.viterbi(emissions, mask)
    for b in range(5):
        n = int(lengths[b])
        expected_z, expected_path, expected_best = brute_force(crf, emissions[b], n)
        assert log_z[b].item() == pytest.approx(expected_z.item(), abs=1e-9)
        assert paths[b, :n].tolist() == expected_path
        assert (paths[b, n:] == -1).all()
        assert best[b].item() == pytest.approx(expected_best.item(), abs=1e-9)


def test_path_score_and_likelihood_of_every_path_sum_to_one():
    crf = CRF(3).double()
    emissions, lengths, mask = random_case(1, 4, 3, 7)
    n = int(lengths[0])
    total = 0.0
    for path in itertools.product(range(3), repeat=n):
        tags = torch.tensor([list(path) + [0] * (4 - n)])
        total += crf.log_likelihood(emissions, tags, mask).exp().item()
    assert total == pytest.approx(1.0, abs=1e-9)


def test_nll_gradient_matches_finite_differences():
    crf = CRF(3).double()
    emissions, _, mask = random_case(3, 4, 3, 11)
    emissions.requires_grad_(True)
    tags = torch.randint(0, 3, (3, 4), generator=torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(lambda e, *params: crf(e, tags, mask),
                                    (emissions, crf.transitions, crf.start_transitions, crf.end_transitions))


def test_marginals_sum_to_one_and_match_enumeration():
    crf = CRF(3).double()
    emissions, lengths, mask = random_case(2, 3, 3, 5)
    marginals = crf.marginals(emissions, mask)
    assert torch.allclose(marginals.sum(2), mask.double())
    n = int(lengths[1])
    expected = torch.zeros(n, 3, dtype=torch.float64)
    log_z = crf.log_partition(emissions[1:2], mask[1:2])
    for path in itertools.product(range(3), repeat=n):
        tags = torch.tensor([list(path) + [0] * (3 - n)])
        p = (crf.path_score(emissions[1:2], tags, mask[1:2]) - log_z).exp()
        for t, tag in enumerate(path):
            expected[t, tag] += p[0]
    assert torch.allclose(marginals[1, :n], expected, atol=1e-9)


def test_constrained_decoding_never_emits_invalid_sequences():
    tags = tag_set(["PER", "LOC"], "iobes")
    crf = CRF(len(tags), allowed_transitions(tags, "iobes"))
    generator = torch.Generator().manual_seed(0)
    for param in crf.parameters():
        param.data.normal_(0, 3, generator=generator)  # strong random preferences for invalid moves
    emissions = torch.randn(200, 12, len(tags), generator=generator) * 5
    lengths = torch.randint(1, 13, (200,), generator=generator)
    mask = torch.arange(12)[None] < lengths[:, None]
    paths = crf.decode(emissions, mask)
    unconstrained = CRF(len(tags))
    unconstrained.load_state_dict(crf.state_dict())
    raw = unconstrained.decode(emissions, mask)
    invalid_raw = 0
    for b in range(200):
        n = int(lengths[b])
        assert is_valid([tags[i] for i in paths[b, :n].tolist()], "iobes")
        invalid_raw += not is_valid([tags[i] for i in raw[b, :n].tolist()], "iobes")
    assert invalid_raw > 50  # the constraint is what makes the difference


def test_long_sequences_are_numerically_stable():
    crf = CRF(5)
    emissions = torch.randn(2, 300, 5) * 30
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 150:] = False
    log_z = crf.log_partition(emissions, mask)
    reference = crf.double().log_partition(emissions.double(), mask)
    assert torch.isfinite(log_z).all()
    assert torch.allclose(log_z.double(), reference, rtol=1e-5)


def test_same_results_as_pytorch_crf_with_copied_parameters():
    torchcrf = pytest.importorskip("torchcrf")
    ours, theirs = CRF(6), torchcrf.CRF(6, batch_first=True)
    for name in ("transitions", "start_transitions", "end_transitions"):
        getattr(theirs, name).data.copy_(getattr(ours, name).data)
    emissions, lengths, mask = random_case(16, 9, 6, 21)
    emissions = emissions.float()
    gold = torch.randint(0, 6, (16, 9), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ours.log_likelihood(emissions, gold, mask), theirs(emissions, gold, mask, reduction="none"),
                          atol=1e-4)
    expected = theirs.decode(emissions, mask)
    got = ours.decode(emissions, mask)
    assert [got[b, : int(lengths[b])].tolist() for b in range(16)] == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segment_probabilities_equal_enumeration_on_padded_batches(seed):
    """p(y_first..y_last = the path's tags there | x), summed over every path, for every segment of each row."""
    crf = CRF(4).double()
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_(generator=torch.Generator().manual_seed(seed))
    emissions, lengths, mask = random_case(4, 5, 4, seed + 10)
    paths = crf.decode(emissions, mask)
    segments = [(b, first, last) for b in range(4) for first in range(int(lengths[b]))
                for last in range(first, int(lengths[b]))]
    found = crf.segment_probabilities(emissions, mask, paths, torch.tensor(segments))
    log_alpha, log_beta, log_z = crf.forward_backward(emissions, mask)
    assert torch.allclose(log_z, crf.log_partition(emissions, mask), atol=1e-9)
    for b in range(4):
        n = int(lengths[b])
        start, transitions, end = crf._scores()
        scores = {}
        for path in itertools.product(range(4), repeat=n):
            score = start[path[0]] + end[path[-1]] + sum(emissions[b, t, path[t]] for t in range(n))
            scores[path] = score + sum(transitions[path[t], path[t + 1]] for t in range(n - 1))
        total = torch.logsumexp(torch.stack(list(scores.values())), 0)
        for row, (_, first, last) in enumerate(segments):
            if segments[row][0] != b:
                continue
            wanted = paths[b, first:last + 1].tolist()
            hits = [s for path, s in scores.items() if list(path[first:last + 1]) == wanted]
            assert found[row].item() == pytest.approx((torch.logsumexp(torch.stack(hits), 0) - total).exp().item(),
                                                      abs=1e-9)
    assert crf.segment_probabilities(emissions, mask, paths, torch.zeros(0, 3, dtype=torch.long)).numel() == 0
