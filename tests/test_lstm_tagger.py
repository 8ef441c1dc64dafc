"""BiLSTM (tied and untied) against explicit per-sequence runs; tagger parameter counts and gradient flow."""
import pytest
import torch
from torch import nn

from zsner.config import TaggerConfig
from zsner.nn.lstm import BiLSTM, reverse_index
from zsner.nn.tagger import Tagger, count_parameters

torch.set_num_threads(1)


def test_reverse_index_reverses_within_length_only():
    index = reverse_index(torch.tensor([3, 1, 4]), 4)
    assert index.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]


@pytest.mark.parametrize("tied", [False, True])
def test_bilstm_equals_separate_runs_on_each_unpadded_sequence(tied):
    torch.manual_seed(0)
    model = BiLSTM(5, 4, tied=tied)
    inputs = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 4])
    outputs, final = model(inputs, lengths)
    backward = model.forward_lstm if tied else model.backward_lstm
    for b in range(3):
        n = int(lengths[b])
        sequence = inputs[b: b + 1, :n]
        expected_forward, _ = model.forward_lstm(sequence)
        expected_backward, _ = backward(sequence.flip(1))
        expected_backward = expected_backward.flip(1)
        assert torch.allclose(outputs[b, :n, :4], expected_forward[0], atol=1e-6)
        assert torch.allclose(outputs[b, :n, 4:], expected_backward[0], atol=1e-6)
        assert torch.allclose(final[b, :4], expected_forward[0, -1], atol=1e-6)
        assert torch.allclose(final[b, 4:], expected_backward[0, 0], atol=1e-6)


def test_tied_lstm_halves_lstm_parameters():
    untied, tied = BiLSTM(10, 7), BiLSTM(10, 7, tied=True)
    one_direction = count_parameters(nn.LSTM(10, 7))
    assert count_parameters(untied) == 2 * one_direction
    assert count_parameters(tied) == one_direction


def test_tagger_parameter_count_matches_architecture():
    config = TaggerConfig(word_dim=300, freeze_embeddings=True)
    tagger = Tagger(config, num_words=1000, num_chars=50, num_tags=17)
    lstm = lambda i, h: 4 * h * (i + h) + 8 * h  # noqa: E731  (weights + two bias vectors)
    expected = (50 * 25 + 2 * lstm(25, 25) + 2 * lstm(350, 100) + 200 * 100 + 100 + 100 * 17 + 17
                + 17 * 17 + 2 * 17)
    assert count_parameters(tagger) == expected
    shared = Tagger(TaggerConfig(shared_lstm=True), 1000, 50, 17)
    assert count_parameters(tagger) - count_parameters(shared) == lstm(25, 25) + lstm(350, 100)
    assert not tagger.encoder.word_embedding.weight.requires_grad
