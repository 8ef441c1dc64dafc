"""int8 for the transformer on the CPU: exactly the LayerNorm-fed linear layers are quantized (attention's
query/key/value and the feed-forward's first layer), the feed-forward's second layer and attention's output stay
float, and an encoder with none of those layers is refused in one line."""
from __future__ import annotations

import pytest
import torch

from zsner.errors import ZsnerError
from zsner.tagging.transformer import quantize_encoder
from zsner.transformer.model import load_pretrained
from zsner.transformer.tiny import build_tiny_model


def _linears(encoder):
    return {name: type(module).__module__ for name, module in encoder.named_modules()
            if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Linear"}


def test_only_layer_norm_fed_layers_are_int8(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny", ["uno", "dos", "Madrid", "Juan"], layers=2)
    _, encoder = load_pretrained(str(folder))
    quantized = quantize_encoder(encoder.eval())
    kinds = _linears(quantized)
    int8 = {name for name, module in kinds.items() if "quantized" in module}
    fed = {name for name in kinds if name.endswith(("query", "key", "value", "intermediate.dense"))}
    assert fed and int8 == fed
    assert all("quantized" not in kinds[name] for name in kinds if name.endswith("output.dense"))
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    with torch.no_grad():  # int8 stays close to float on the same input (not equal: it is a quantization)
        close = torch.nn.functional.cosine_similarity(quantized(input_ids=ids).last_hidden_state,
                                                      encoder(input_ids=ids).last_hidden_state, dim=-1)
    assert close.min() > 0.95


def test_unknown_architecture_refused():
    encoder = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.raises(ZsnerError, match="layer names"):
        quantize_encoder(encoder)
