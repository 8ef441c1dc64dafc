"""Devices in one place: the ``--device`` flag resolved once, every tensor moved by one function, values read
back to the host by one function each, and mixed precision switched on and off here.

``auto`` is CUDA when present, else the CPU. Run folders keep the requested value (``auto``) in ``config.json``
so a re-run on another machine still matches; the resolved device goes into metrics and logs. Training steps never
read a tensor back: losses stay on the device and ``host_float`` reads them once per evaluation.
"""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext

import numpy as np
import torch

from .errors import ZsnerError

AUTOCAST_TYPES = ("cpu", "cuda")  # device types whose autocast state the CRF must switch off


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a usable ``torch.device`` (else one-line ``ZsnerError``)."""
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ZsnerError(f"unknown --device {name!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ZsnerError(f"--device {name}: no CUDA device is available here (use --device auto or cpu)")
        if device.index is not None and device.index >= count:
            raise ZsnerError(f"--device {name}: only {count} CUDA device(s) here (cuda:0 to cuda:{count - 1})")
    return device


def resolved(config):
    """A copy of a config dataclass with its ``device`` field resolved (for the run; save the original)."""
    return dataclasses.replace(config, device=str(resolve_device(config.device)))


def to_device(obj, device):
    """``obj`` on ``device``: a tensor, a module, a batch (anything with ``.to``), or a dict/list/tuple of them."""
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(value, device) for value in obj)
    if hasattr(obj, "to"):
        return obj.to(device)
    return obj


def model_device(model: torch.nn.Module) -> torch.device:
    """Where a model's parameters are: tasks and decoders send batches there (one decision, at the edge)."""
    return next(model.parameters()).device


def to_host(tensor: torch.Tensor) -> np.ndarray:
    """The one way an array comes back to the host (decoded paths)."""
    return tensor.detach().cpu().numpy()


def host_float(tensor) -> float:
    """The one way a scalar comes back to the host (logged losses): a synchronisation, so not per batch."""
    return float(tensor.detach().cpu()) if isinstance(tensor, torch.Tensor) else float(tensor)


def autocast(device, enabled: bool):
    """Mixed precision on CUDA (bf16 where supported, else fp16) when ``enabled``; fp32 elsewhere."""
    if enabled and torch.device(device).type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


def full_precision(device):
    """Switch off any autocast the caller opened on ``device``'s type (the CRF runs in float32)."""
    kind = torch.device(device).type
    return torch.autocast(kind, enabled=False) if kind in AUTOCAST_TYPES else nullcontext()
