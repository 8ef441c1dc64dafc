"""Inputs of the auxiliary tasks on unlabelled target text: cloze masking (CL), predictive cloze (PC), LI labels.

CL masks a random ``p`` (0.15) of the content pieces the BERT way (80% mask token, 10% a random piece, 10% kept).
PC masks every piece of the words that the current model tags as part of an entity, so the model must recover
entity words from context. Both return ``(masked_ids, targets)`` with ``IGNORE`` wherever nothing is predicted.
"""
from __future__ import annotations

import torch

from .align import IGNORE, Batch


def random_cloze(batch: Batch, prob: float, mask_id: int, generator: torch.Generator,
                 replacements: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a random ``prob`` share of the content pieces (at least one per batch)."""
    content = batch.piece_word >= 0
    draw = torch.rand(content.shape, generator=generator) < prob
    chosen = draw.to(content.device) & content
    if not bool(chosen.any()):
        positions = content.nonzero()
        pick = positions[int(torch.randint(len(positions), (1,), generator=generator))]
        chosen[pick[0], pick[1]] = True
    targets = torch.where(chosen, batch.input_ids, torch.full_like(batch.input_ids, IGNORE))
    roll = torch.rand(content.shape, generator=generator).to(content.device)
    masked = batch.input_ids.clone()
    masked[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    if bool(swap.any()):
        picks = torch.randint(len(replacements), (int(swap.sum()),), generator=generator)
        masked[swap] = replacements[picks.to(replacements.device)].to(masked.device)
    return masked, targets


def entity_words(predicted: list[list[int]], tags: list[str], shape: tuple[int, int]) -> torch.Tensor:
    """``[B, W]`` bool: the words whose predicted tag is not ``O``."""
    marks = torch.zeros(shape, dtype=torch.bool)
    for row, labels in enumerate(predicted):
        for position, label in enumerate(labels):
            marks[row, position] = tags[label] != "O"
    return marks


def predictive_cloze(batch: Batch, entities: torch.Tensor, mask_id: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Mask all pieces of the marked words; ``None`` when no word is marked."""
    entities = entities.to(batch.piece_word.device)
    piece_word = batch.piece_word.clamp(min=0)
    chosen = (batch.piece_word >= 0) & entities.gather(1, piece_word)
    if not bool(chosen.any()):
        return None
    targets = torch.where(chosen, batch.input_ids, torch.full_like(batch.input_ids, IGNORE))
    return batch.input_ids.masked_fill(chosen, mask_id), targets
