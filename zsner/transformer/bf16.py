"""bfloat16 inference on the CPU: the encoder's matrix products on the CPU's bfloat16 units (AMX, AVX512-BF16).

Every ``nn.Linear`` weight of the encoder is stored in bfloat16 once (half the memory, no cast per batch) and the
forward pass runs under ``torch.autocast("cpu", bfloat16)``: linear layers (the tag head's too) and attention (SDPA)
multiply in bfloat16 with float32 accumulation; the embeddings, the residual sums, LayerNorm and the softmax over
tags stay float32. On a CPU without
bfloat16 units torch emulates it, slower than float32, so :func:`check_supported` refuses it there.

multilingual-e5-small, Spanish test as raw text, one thread: see docs/results/tagging.md §12.10.
"""
from __future__ import annotations

import torch

from ..errors import ZsnerError


def supported() -> bool:
    """Whether this CPU multiplies bfloat16 natively (oneDNN's check: AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_supported() -> None:
    if not supported():
        raise ZsnerError("--quantize bf16 needs a CPU with bfloat16 units (AVX512-BF16 or AMX; see lscpu): this one "
                         "would emulate it, slower than float32: use --quantize int8 or none")


def bf16_linears(encoder: torch.nn.Module) -> torch.nn.Module:
    """``encoder`` (in place) with every ``nn.Linear``'s weight and bias in bfloat16; run it under :func:`autocast`."""
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return encoder


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)
