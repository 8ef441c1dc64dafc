"""Word-level losses: cross-entropy and the reverse-focal re-weighted loss for pseudo-labels.

Focal loss weights a token's ``-log p_t`` by ``(1 - p_t)^gamma`` (hard tokens up). The reverse-focal loss uses
``(1 + p_t)^gamma`` instead, so tokens the model finds hard -- for pseudo-labels, likely the wrong ones -- weigh
relatively less than confident ones; ``gamma = 0`` gives plain cross-entropy. The weight is part of the loss (not
detached), as in focal loss. For a CRF head the same weight is applied per sentence with ``p`` the probability of
the whole (pseudo-)label sequence.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .align import IGNORE

LOSSES = ("ce", "reverse-focal")


def token_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str = "ce", gamma: float = 4.0) -> torch.Tensor:
    """Mean loss over labelled positions; ``logits [..., T]``, ``labels [...]`` with ``IGNORE`` at padding."""
    flat_logits, flat_labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    keep = flat_labels != IGNORE
    if not bool(keep.any()):
        return flat_logits.sum() * 0.0
    log_p = F.log_softmax(flat_logits[keep].float(), dim=-1).gather(1, flat_labels[keep].unsqueeze(1)).squeeze(1)
    return weighted_nll(log_p, kind, gamma)


def weighted_nll(log_p: torch.Tensor, kind: str = "ce", gamma: float = 4.0) -> torch.Tensor:
    """Mean of ``-w(p) log p`` over items: ``w = 1`` for ``ce``, ``(1 + p)^gamma`` for ``reverse-focal``."""
    if kind == "ce":
        return -log_p.mean()
    if kind == "reverse-focal":
        return -((1.0 + log_p.exp()) ** gamma * log_p).mean()
    raise ValueError(f"unknown loss {kind!r} (use {' or '.join(LOSSES)})")
