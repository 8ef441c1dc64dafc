"""bfloat16 inference on the CPU: the encoder's matrix products on the CPU's bfloat16 units (AMX, AVX512-BF16).

Every ``nn.Linear`` weight of the encoder is stored in bfloat16 once (half the memory, no cast per batch) and the
forward pass runs under ``torch.autocast("cpu", bfloat16)``: linear layers (the tag head's too) and attention (SDPA)
multiply in bfloat16 with float32 accumulation; the embeddings, the residual sums, LayerNorm and the softmax over
tags stay float32. On a CPU without bfloat16 units torch emulates it, slower than float32, so
:func:`check_supported` refuses it there.

multilingual-e5-small, Spanish test as raw text, one thread: see docs/results/tagging.md §12.10.

Training (``zsner transformer --cpu-precision bf16``) runs its forward passes, evaluations and pseudo-labelling under
the same autocast while the weights, gradients and optimizer stay float32 (mixed precision, as ``--amp`` on CUDA).
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

from ..errors import ZsnerError


def supported() -> bool:
    """Whether this CPU multiplies bfloat16 natively (oneDNN's check: AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_supported() -> None:
    if not supported():
        raise ZsnerError("bfloat16 needs a CPU with bfloat16 units (AVX512-BF16 or AMX; see lscpu): this one "
                         "would emulate it, slower than float32 (use float32, or --quantize int8 to tag)")


def bf16_linears(encoder: torch.nn.Module) -> torch.nn.Module:
    """``encoder`` (in place) with every ``nn.Linear``'s weight and bias in bfloat16; run it under :func:`autocast`."""
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return encoder


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def check_training(precision: str, device) -> None:
    """``--cpu-precision bf16`` needs the CPU as the run's (resolved) device, and one with bfloat16 units."""
    if precision != "bf16":
        return
    if torch.device(device).type != "cpu":
        raise ZsnerError("--cpu-precision bf16 is for training on the CPU (on CUDA, --amp gives mixed precision)")
    check_supported()


def training_precision(precision: str):
    """The context a transformer run trains and evaluates in (checked by :func:`check_training`): bfloat16 autocast
    for ``precision`` "bf16", else none (float32 on the CPU; CUDA's own mixed precision is ``--amp``)."""
    if precision != "bf16":
        return nullcontext()
    # no weight cache: autocast keeps its bfloat16 copies of the weights until the outermost context exits, which
    # for a whole run would freeze the forward pass at the initial weights (the loss then does not fall)
    return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)
