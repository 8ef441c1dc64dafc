"""int8 for the transformer on the CPU (zsner.transformer.int8): Int8Linear equals a brute-force integer reference
of its own scheme, stays close to the float layer even with outlier channels and tokens, gives each token an output
that does not depend on the other tokens of its batch, and quantize_encoder converts every linear layer of a real
encoder (the pooler's apart); an encoder without linear layers is refused in one line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from zsner.errors import ZsnerError
from zsner.transformer.int8 import Int8Linear, quantize_encoder
from zsner.transformer.model import load_pretrained
from zsner.transformer.tiny import build_tiny_model


def _reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, equalize: bool) -> np.ndarray:
    """The scheme in numpy: equalise columns, int8 rows, int8 tokens (these in float32, as IEEE rounds them),
    the integer product in int64, the rescaling in float64."""
    tiny = np.float32(1e-8)
    column = np.maximum(np.abs(weight).max(0), tiny) if equalize else np.ones(weight.shape[1], np.float32)
    weight, x = weight / column, x * column
    row_scale = np.maximum(np.abs(weight).max(1), tiny) / np.float32(127)
    token_scale = np.maximum(np.abs(x).max(1, keepdims=True), tiny) / np.float32(127)
    weight_q = np.round(weight / row_scale[:, None]).astype(np.int64)
    x_q = np.round(x / token_scale).astype(np.int64)
    return (x_q @ weight_q.T) * token_scale.astype(np.float64) * row_scale + bias


def _layer(rng, rows_in: int, rows_out: int, outliers: int):
    linear = torch.nn.Linear(rows_in, rows_out)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(rng.normal(0, 0.1, (rows_out, rows_in))))
    x = rng.normal(0, 1, (9, rows_in))
    x[:, :outliers] *= 40  # outlier channels
    x[0] *= 25  # an outlier token
    return linear, x.astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows_in=st.integers(8, 48), rows_out=st.integers(1, 48),
       outliers=st.integers(0, 3), equalize=st.booleans())
def test_int8_linear_equals_the_integer_reference(seed, rows_in, rows_out, outliers, equalize):
    rng = np.random.default_rng(seed)
    linear, x = _layer(rng, rows_in, rows_out, min(outliers, rows_in))
    got = Int8Linear(linear, equalize)(torch.from_numpy(x)).detach().numpy()
    weight, bias = linear.weight.detach().numpy(), linear.bias.detach().double().numpy()
    want = _reference(x, weight, bias, equalize)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_close_to_float_with_outliers_and_token_independent():
    rng = np.random.default_rng(0)
    linear, x = _layer(rng, 64, 32, 3)
    layer = Int8Linear(linear)
    inputs = torch.from_numpy(x)
    exact = linear(inputs).detach()
    got = layer(inputs)
    assert (torch.linalg.norm(got - exact) / torch.linalg.norm(exact)) < 0.02
    alone = torch.cat([layer(inputs[i:i + 1]) for i in range(len(inputs))])  # one token at a time
    assert torch.equal(alone, got)
    batched = layer(inputs.reshape(3, 3, 64))
    assert batched.shape == (3, 3, 32) and torch.equal(batched.reshape(9, 32), got)


def test_every_linear_layer_of_an_encoder_is_int8(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny", ["uno", "dos", "Madrid", "Juan"], layers=2)
    _, encoder = load_pretrained(str(folder))
    _, reference = load_pretrained(str(folder))
    linears = {name for name, module in encoder.named_modules() if isinstance(module, torch.nn.Linear)}
    quantize_encoder(encoder.eval())
    kinds = {name: type(module).__name__ for name, module in encoder.named_modules()}
    assert {name for name, kind in kinds.items() if kind == "Int8Linear"} == {n for n in linears if "pooler" not in n}
    assert any(name.endswith("output.dense") and "attention" not in name for name in linears)
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 6, 2, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        close = torch.nn.functional.cosine_similarity(
            hidden, reference.eval()(input_ids=ids, attention_mask=mask).last_hidden_state, dim=-1)
        alone = encoder(input_ids=ids[1:, :3], attention_mask=mask[1:, :3]).last_hidden_state
    assert close.min() > 0.99
    torch.testing.assert_close(alone, hidden[1:, :3], rtol=1e-5, atol=1e-5)  # padding and batch change nothing


def test_encoder_without_linear_layers_refused_and_narrow_layers_stay_float():
    with pytest.raises(ZsnerError, match="linear layers"):
        quantize_encoder(torch.nn.Sequential(torch.nn.Conv1d(4, 4, 1), torch.nn.ReLU(), torch.nn.Linear(1, 4)))
    mixed = quantize_encoder(torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Linear(16, 4)))
    assert [type(module).__name__ for module in mixed] == ["Linear", "Int8Linear"]
