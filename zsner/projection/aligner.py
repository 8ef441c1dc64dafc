"""The entity-alignment model: ``[CLS] entity [SEP] target sentence [SEP]`` -> inside/outside the translated
entity for each target word (read at its first sub-token), on a pretrained encoder.

A target sentence too long for one input goes through overlapping windows of whole words (``plan_windows`` of the
transformer backend, with the entity's pieces taking part of the budget); each word is read from the window that
owns it. An entity longer than half a window is not aligned (its projection fails as ``length``). Training is a
short self-contained fine-tuning loop: AdamW, linear warm-up (10%) and decay, clipping at 1.0, length-bucketed
shuffled batches, seeded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data.batches import bucketed_order
from ..device import autocast, host_float
from ..train.trainer import clip_gradients, seed_everything
from ..transformer.align import IGNORE, PieceTokenizer, Window, plan_windows
from ..transformer.model import freeze, load_pretrained


@dataclass
class AlignBatch:
    input_ids: torch.Tensor  # [B, P]
    attention_mask: torch.Tensor  # [B, P]
    token_type_ids: torch.Tensor  # [B, P] 0 for the entity part, 1 for the target part
    word_index: torch.Tensor  # [B, W] first piece of each target word of the window
    labels: torch.Tensor  # [B, W] 1 inside, 0 outside, IGNORE at padding (and for unlabelled inputs)
    windows: list[Window]


class AlignerInputs:
    """(entity, target sentence, optional gold span) triples as piece ids and windows (``Window.sentence`` is the
    input's index)."""

    def __init__(self, tokens: PieceTokenizer, entities: list[list[str]], targets: list[list[str]],
                 spans: list[tuple[int, int] | None] | None = None, window: int = 128, overlap: int = 16):
        self.tokens, self.targets = tokens, targets
        self.spans = spans
        self.entity_pieces: list[list[int] | None] = []
        self.target_pieces = [tokens.word_pieces(words) for words in targets]
        self.windows: list[Window] = []
        for index, entity in enumerate(entities):
            pieces = [piece for word in tokens.word_pieces(entity) for piece in word]
            fits = len(pieces) <= window // 2
            self.entity_pieces.append(pieces if fits else None)
            if fits:
                counts = [len(word) for word in self.target_pieces[index]]
                for start, end, own_start, own_end in plan_windows(counts, window - len(pieces) - 1, overlap):
                    self.windows.append(Window(index, start, end, own_start, own_end))

    def sizes(self) -> np.ndarray:
        return np.array([len(self.entity_pieces[w.sentence])
                         + sum(map(len, self.target_pieces[w.sentence][w.start:w.end])) for w in self.windows],
                        dtype=np.int64)

    def _labels(self, item: Window) -> list[int]:
        if self.spans is None:
            return [IGNORE] * (item.end - item.start)
        span = self.spans[item.sentence]
        return [int(span is not None and span[0] <= word < span[1]) for word in range(item.start, item.end)]

    def batch(self, indices, device="cpu") -> AlignBatch:
        tokens, rows, types, firsts, labels = self.tokens, [], [], [], []
        windows = [self.windows[i] for i in indices]
        for item in windows:
            entity = self.entity_pieces[item.sentence]
            ids, starts = [tokens.cls_id, *entity, tokens.sep_id], []
            for word in self.target_pieces[item.sentence][item.start:item.end]:
                starts.append(len(ids))
                ids.extend(word)
            ids.append(tokens.sep_id)
            rows.append(ids)
            types.append([0] * (len(entity) + 2) + [1] * (len(ids) - len(entity) - 2))
            firsts.append(starts)
            labels.append(self._labels(item))
        width, words = max(map(len, rows)), max(map(len, firsts))
        shape = (len(rows), width)
        input_ids = torch.full(shape, tokens.pad_id, dtype=torch.long)
        attention, token_types = torch.zeros(shape, dtype=torch.long), torch.zeros(shape, dtype=torch.long)
        word_index = torch.zeros((len(rows), words), dtype=torch.long)
        label_tensor = torch.full((len(rows), words), IGNORE, dtype=torch.long)
        for row, ids in enumerate(rows):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
            token_types[row, :len(ids)] = torch.tensor(types[row])
            word_index[row, :len(firsts[row])] = torch.tensor(firsts[row])
            label_tensor[row, :len(firsts[row])] = torch.tensor(labels[row])
        moved = [t.to(device) for t in (input_ids, attention, token_types, word_index, label_tensor)]
        return AlignBatch(*moved, windows)


class EntityAligner(nn.Module):
    """Encoder + dropout + a linear inside/outside classifier on each target word's first piece."""

    def __init__(self, folder: str, freeze_layers: int = -1, dropout: float = 0.1, max_word_pieces: int = 16):
        super().__init__()
        tokenizer, self.encoder = load_pretrained(folder)
        freeze(self.encoder, freeze_layers)
        self.tokens = PieceTokenizer(tokenizer, max_word_pieces)
        self.use_types = getattr(self.encoder.config, "type_vocab_size", 0) >= 2
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.encoder.config.hidden_size, 2)

    def forward(self, batch: AlignBatch) -> torch.Tensor:
        extra = {"token_type_ids": batch.token_type_ids} if self.use_types else {}
        hidden = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask, **extra).last_hidden_state
        index = batch.word_index.unsqueeze(2).expand(-1, -1, hidden.shape[2])
        return self.classifier(self.dropout(hidden.gather(1, index))).float()


def train_aligner(model: EntityAligner, inputs: AlignerInputs, *, epochs: int, lr: float, batch_size: int,
                  seed: int, device="cpu", progress: bool = False) -> dict:
    """Fine-tune on labelled inputs; returns the mean loss of each epoch and the step count."""
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    model.to(device).train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    sizes = inputs.sizes()
    total = epochs * math.ceil(len(sizes) / batch_size)
    warmup = max(1, round(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: (k + 1) / warmup if k < warmup else max(0.0, (total - k) / max(1, total - warmup)))
    losses = []
    for epoch in range(epochs):
        running, batches = torch.zeros((), device=device), 0
        for indices in tqdm(bucketed_order(sizes, batch_size, rng), desc=f"aligner epoch {epoch + 1}/{epochs}",
                            disable=not progress, leave=False):
            batch = inputs.batch(indices.tolist(), device)
            with autocast(device, True):
                logits = model(batch)
            loss = F.cross_entropy(logits.reshape(-1, 2), batch.labels.reshape(-1), ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(parameters, 1.0)
            optimizer.step()
            schedule.step()
            running, batches = running + loss.detach(), batches + 1
        losses.append(round(host_float(running) / max(batches, 1), 5))
    model.eval()
    return {"epochs": epochs, "steps": total, "loss_per_epoch": losses}


@torch.no_grad()
def inside_probabilities(model: EntityAligner, inputs: AlignerInputs, batch_size: int = 32, device="cpu",
                         progress: bool = False) -> list[list[float] | None]:
    """p(inside) of every target word of every input (None for an entity too long to align)."""
    model.to(device).eval()
    result: list[list[float] | None] = [None if pieces is None else [0.0] * len(inputs.targets[index])
                                        for index, pieces in enumerate(inputs.entity_pieces)]
    sizes = inputs.sizes()
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for start in tqdm(range(0, len(order), batch_size), desc="align entities", disable=not progress, leave=False):
        batch = inputs.batch(order[start:start + batch_size], device)
        with autocast(device, True):
            inside = model(batch).softmax(-1)[..., 1].cpu().tolist()
        for row, item in zip(inside, batch.windows):
            for word in range(item.own_start, item.own_end):
                result[item.sentence][word] = row[word - item.start]
    return result
