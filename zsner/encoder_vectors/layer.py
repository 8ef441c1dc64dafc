"""Choosing the layer without labels or dictionaries: the mapping's unsupervised criterion between two languages.

For every layer, the most frequent words of both languages are normalised (unit, centre, unit) and compared
through the identity: the criterion is the mean cosine between source words and their CSLS translations
(``mapping.retrieval.mean_cosine_criterion``, the quantity MUSE validates mappings with). The layer where the two
languages' words meet best is chosen. A dictionary, when given, only *reports* P@1 per layer beside it.
"""
from __future__ import annotations

import numpy as np
import torch

from ..mapping.retrieval import mean_cosine_criterion, precision_at_k
from .extract import unit_centre_unit


def layer_scores(source: np.ndarray, target: np.ndarray, pairs: np.ndarray | None = None) -> list[dict]:
    """``source``/``target``: ``[layers, words, dim]`` raw states, frequent words first. One row per layer."""
    rows = []
    for layer, (x, y) in enumerate(zip(unit_centre_unit(source), unit_centre_unit(target))):
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        row = {"layer": layer, "criterion": round(mean_cosine_criterion(x, y, n_queries=len(x), max_rank=len(x)), 5)}
        if pairs is not None:
            row["P@1 csls"] = precision_at_k(x, y, pairs, ks=(1,), method="csls")["P@1"]
            row["P@1 nn"] = precision_at_k(x, y, pairs, ks=(1,), method="nn")["P@1"]
        rows.append(row)
    return rows


def best_layer(rows: list[dict]) -> int:
    return max(rows, key=lambda row: row["criterion"])["layer"]
