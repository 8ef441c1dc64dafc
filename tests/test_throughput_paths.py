"""Speed paths that must not change results: the row-moving reversal (bitwise equal to the gather it replaced,
values and gradients), grouped character LSTM calls at decoding (equal to one call), and the roofline's FLOP
count (known values)."""
import importlib.util
from pathlib import Path

import pytest
import torch

from zsner.config import TaggerConfig
from zsner.nn.lstm import BiLSTM, ReverseRows, reversal_rows, reverse_index
from zsner.nn.tagger import CharEncoder

torch.set_num_threads(1)


def gather_reversal(inputs, lengths):
    index = reverse_index(lengths, inputs.shape[1]).unsqueeze(2).expand_as(inputs)
    return inputs.gather(1, index)


def test_reverse_rows_is_bitwise_the_gather_reversal_forward_and_backward():
    torch.manual_seed(0)
    lengths = torch.tensor([5, 1, 3, 5, 2])
    inputs = torch.randn(5, 5, 7, requires_grad=True)
    weights = torch.randn(5, 5, 7)
    rows = reversal_rows(lengths, 5)
    ours = ReverseRows.apply(inputs, rows)
    (grad_ours,) = torch.autograd.grad((ours * weights).sum(), inputs)
    theirs = gather_reversal(inputs, lengths)
    (grad_theirs,) = torch.autograd.grad((theirs * weights).sum(), inputs)
    assert torch.equal(ours, theirs) and torch.equal(grad_ours, grad_theirs)
    assert torch.equal(ReverseRows.apply(ours, rows), inputs)  # an involution: padding stays in place


@pytest.mark.parametrize("tied", [False, True])
def test_bilstm_gradients_match_explicit_runs_on_each_sequence(tied):
    torch.manual_seed(1)
    model = BiLSTM(4, 3, tied=tied)
    lengths = torch.tensor([4, 2, 3])
    inputs = torch.randn(3, 4, 4, requires_grad=True)
    outputs, final = model(inputs, lengths)
    mask = (torch.arange(4)[None] < lengths[:, None]).unsqueeze(2)
    (grad,) = torch.autograd.grad((outputs * mask).sum() + final.sum(), inputs)
    backward = model.forward_lstm if tied else model.backward_lstm
    for b, n in enumerate(lengths.tolist()):
        sequence = inputs[b: b + 1, :n].detach().requires_grad_(True)
        forward_out, _ = model.forward_lstm(sequence)
        backward_out, _ = backward(sequence.flip(1))
        total = forward_out.sum() + backward_out.sum() + forward_out[0, -1].sum() + backward_out[0, -1].sum()
        (expected,) = torch.autograd.grad(total, sequence)
        assert torch.allclose(grad[b, :n], expected[0], atol=1e-6)
        assert torch.all(grad[b, n:] == 0)


def test_grouped_character_lstm_at_decoding_equals_one_call():
    torch.manual_seed(2)
    encoder = CharEncoder(num_chars=30, char_dim=5, hidden=4, tied=False)
    encoder.FORMS_PER_GROUP = 8  # 40 forms -> 4 groups
    lengths = torch.randint(1, 12, (40,))
    chars = torch.randint(1, 30, (40, 12)) * (torch.arange(12)[None] < lengths[:, None])
    one_call = encoder(chars, lengths)  # gradients on: one call
    with torch.no_grad():
        grouped = encoder(chars, lengths)
    assert grouped.shape == one_call.shape
    assert torch.allclose(grouped, one_call, atol=1e-6)
    encoder.MAX_GROUPS = 1
    with torch.no_grad():
        assert torch.equal(encoder(chars, lengths), one_call.detach())


def load_roofline():
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_roofline.py"
    spec = importlib.util.spec_from_file_location("bench_roofline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roofline_flop_count_of_known_shapes():
    roofline = load_roofline()
    forward = roofline.flops_by_part(roofline.lstm_products("w", 2, 3, 5, 4, 0, backward=False))
    assert forward == {"w input proj": 2 * (2 * 2 * 3 * 5 * 16), "w recurrence": 2 * (2 * 2 * 3 * 4 * 16)}
    backward = roofline.flops_by_part(roofline.lstm_products("w", 2, 3, 5, 4, 1, backward=True))
    # forward + dW_ih + dX (1 input column) ; forward + dW_hh + dh, per direction
    assert backward["w input proj"] == 2 * 2 * 2 * 3 * 16 * (5 + 5 + 1)
    assert backward["w recurrence"] == 2 * 2 * 2 * 3 * 16 * (4 + 4 + 4)

    class Batch:
        words = torch.zeros(16, 10, dtype=torch.long)
        chars = torch.zeros(100, 8, dtype=torch.long)
        char_lengths = torch.full((100,), 8)

    config = TaggerConfig()
    decode = roofline.flops_by_part(roofline.batch_products(config, 17, Batch, backward=False))
    assert decode["word input proj"] == 2 * 2 * 160 * 350 * 400
    assert decode["crf"] == 2 * 16 * 17 * 17 * 9
    assert decode["char input proj"] == 2 * 2 * 800 * 25 * 100
    Batch.chars, Batch.char_lengths = torch.zeros(600, 8), torch.tensor([2] * 300 + [8] * 300)  # 2 groups
    decode = roofline.flops_by_part(roofline.batch_products(config, 17, Batch, backward=False))
    assert decode["char input proj"] == 2 * 2 * (300 * 2 + 300 * 8) * 25 * 100
