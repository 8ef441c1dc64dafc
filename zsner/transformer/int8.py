"""int8 inference on the CPU: the encoder's linear layers with int8 weights and int8 activations.

Each ``nn.Linear`` ``y = x W^T + b`` becomes :class:`Int8Linear`:

- **equalisation** (SmoothQuant with alpha = 0, no calibration data): input channel ``j`` of ``x`` is multiplied
  by ``c_j = max_i |W_ij|`` and column ``j`` of ``W`` divided by it, which leaves ``y`` unchanged and gives every
  weight column the same range;
- **weights** in int8 with one scale per output row (``max |row| / 127``, symmetric);
- **activations** in int8 with one scale per token (``max |x_t| / 127``, computed on the fly), so a token's output
  never depends on the other tokens of its batch -- unlike torch's dynamic quantization, whose single activation
  scale per batch tensor is set by its outlier tokens;
- the product in int32 (``torch._int_mm``, exact), then ``acc * token_scale * row_scale + b`` in float32.

On multilingual-e5-small (Spanish test as raw text) per-tensor dynamic int8 of every layer cost 10.4 F1 and per-token
int8 with equalisation 0.2 (docs/results/tagging.md §12.7).
"""
from __future__ import annotations

import torch

from ..errors import ZsnerError

EPS = 1e-8
MIN_INPUTS = 8  # narrower layers stay float: nothing to gain (and torch._int_mm is wrong for one input column)


class Int8Linear(torch.nn.Module):
    """A float ``nn.Linear`` as int8 weights and per-token int8 activations (module docstring)."""

    def __init__(self, linear: torch.nn.Linear, equalize: bool = True):
        super().__init__()
        if linear.in_features < MIN_INPUTS:
            raise ValueError(f"Int8Linear needs at least {MIN_INPUTS} input features, not {linear.in_features}")
        weight = linear.weight.detach().float()
        column = weight.abs().amax(0).clamp(min=EPS) if equalize else torch.ones(weight.shape[1])
        weight = weight / column
        row_scale = weight.abs().amax(1).clamp(min=EPS) / 127
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("column", column)
        self.register_buffer("weight", torch.round(weight / row_scale[:, None]).to(torch.int8))
        self.register_buffer("row_scale", row_scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, self.in_features) * self.column  # a new tensor: quantized in place below
        scale = torch.maximum(x.amax(1, keepdim=True), x.amin(1, keepdim=True).neg_()).clamp_(min=EPS).div_(127)
        product = torch._int_mm(x.div_(scale).round_().to(torch.int8), self.weight.t())
        out = product.float().mul_(scale)
        out = out.mul_(self.row_scale) if self.bias is None else torch.addcmul(self.bias, out, self.row_scale, out=out)
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_encoder(encoder: torch.nn.Module, equalize: bool = True) -> torch.nn.Module:
    """``encoder`` (in place) with every linear layer except the pooler's (and any narrower than ``MIN_INPUTS``) as
    :class:`Int8Linear`."""
    names = [name for name, module in encoder.named_modules() if isinstance(module, torch.nn.Linear)
             and "pooler" not in name and module.in_features >= MIN_INPUTS]
    if not names:
        raise ZsnerError(f"--quantize int8 converts linear layers; this encoder ({type(encoder).__name__}) has "
                         "none: tag without --quantize")
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = encoder.get_submodule(parent) if parent else encoder
        setattr(owner, child, Int8Linear(getattr(owner, child), equalize))
    return encoder
