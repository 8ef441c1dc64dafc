"""Language identification on the encoder: a linear classifier on the last layer's [CLS] state, fine-tuned with
the encoder on the shared training loop (``train/trainer.py``); the same [CLS] state is the sentence embedding
that gets clustered, before fine-tuning (the plain-encoder baseline) and after it."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data.batches import bucketed_order, sequential_order
from ..device import to_device, to_host
from ..train.trainer import Trainer
from ..transformer.align import PieceTokenizer
from ..transformer.train import lr_factor, make_optimizer
from .config import ClusterConfig

log = logging.getLogger("zsner.cluster")


class LanguageClassifier(nn.Module):
    """Encoder + dropout + linear language scores on the [CLS] state."""

    def __init__(self, encoder, n_langs: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_langs)

    def cls_state(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.cls_state(ids, mask))).float()


def piece_ids(tokens: PieceTokenizer, sentences: list[list[str]], max_pieces: int) -> list[list[int]]:
    """``[CLS] pieces [SEP]`` per sentence, cut to ``max_pieces``."""
    rows = []
    for pieces in (tokens.word_pieces(words) for words in sentences):
        flat = [piece for word in pieces for piece in word][: max_pieces - 2]
        rows.append([tokens.cls_id, *flat, tokens.sep_id])
    return rows


def padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def fine_tune(model: LanguageClassifier, rows: list[list[int]], labels: np.ndarray, pad_id: int,
              config: ClusterConfig, seed: int, device) -> list[float]:
    """``config.epochs`` shuffled, length-bucketed passes of cross-entropy on the language labels (AdamW, linear
    warm-up and decay); returns the mean loss of each epoch."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(row) for row in rows])
    plans = [bucketed_order(lengths, config.batch_size, rng) for _ in range(config.epochs)]
    total = sum(len(plan) for plan in plans)
    warmup = int(round(config.warmup * total))
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    meter = SimpleNamespace(step=0, train_seconds=0.0, sentences_seen=0)
    trainer = Trainer(model, meter, eval_every=0, clip=1.0, device=device, progress=config.progress,
                      losses_per_pass=True)
    epoch_losses: list[float] = []

    def losses(batch):
        ids, mask = to_device(padded([rows[i] for i in batch], pad_id), device)
        target = to_device(torch.as_tensor(labels[batch]), device)
        return {"loss": F.cross_entropy(model(ids, mask), target)}, len(batch)

    def on_evaluate(means, *_):
        epoch_losses.append(round(means["loss"], 5))
        log.info("LID epoch %d: loss %.4f", len(epoch_losses), means["loss"])
        return True

    for epoch, plan in enumerate(plans):
        base = sum(len(p) for p in plans[:epoch])
        trainer.run_pass(plan, optimizer, losses, lambda k, base=base: config.lr * lr_factor(base + k, total, warmup),
                         on_evaluate, final=True, desc=f"LID epoch {epoch + 1}/{config.epochs}")
    model.eval()
    return epoch_losses


@torch.no_grad()
def embed(model: LanguageClassifier, rows: list[list[int]], pad_id: int, batch_size: int, device,
          progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``([CLS] states [N, H], predicted language [N])`` of every sentence, in input order."""
    model.eval()
    states, predicted = [None] * len(rows), np.zeros(len(rows), dtype=np.int64)
    for batch in tqdm(sequential_order(np.array([len(row) for row in rows]), batch_size), desc="embed",
                      disable=not progress, leave=False):
        ids, mask = to_device(padded([rows[i] for i in batch], pad_id), device)
        cls = model.cls_state(ids, mask)
        block, scores = to_host(cls.float()), to_host(model.head(cls).argmax(-1))
        for position, index in enumerate(batch):
            states[index], predicted[index] = block[position], scores[position]
    return np.stack(states), predicted


def accuracy(predicted: np.ndarray, labels: np.ndarray, langs: list[str]) -> dict:
    """Overall and per-language share of sentences whose language was identified."""
    per = {lang: round(float((predicted[labels == i] == i).mean()), 4) for i, lang in enumerate(langs)}
    return {"overall": round(float((predicted == labels).mean()), 4), "per_language": per}
