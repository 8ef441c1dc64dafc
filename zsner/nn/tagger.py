"""The char+word BiLSTM-CRF tagger (Lample et al. 2016, as used by Bari et al. 2020).

tokens -> [word embedding (pretrained, frozen by default) ; char BiLSTM final states] -> dropout -> word BiLSTM
-> dropout -> point-wise dense layer (the paper's "common encoder", tanh) -> tag scores -> CRF.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import TaggerConfig
from ..crf import CRF
from ..data.batches import Batch
from .lstm import BiLSTM


class CharEncoder(nn.Module):
    """Character BiLSTM: one vector per distinct word form (forward final ; backward final).

    Without gradients on CPU (decoding), a batch of many forms runs as up to ``MAX_GROUPS`` groups of similar
    length, each padded only to its own longest form: most LSTM steps over padding (~60% of an evaluation
    batch's character steps) vanish. The vectors equal one call's up to float rounding (~1e-7; the same tags on
    eng.testa/testb). With gradients (training) it is one call, bitwise as before.
    """

    FORMS_PER_GROUP = 256
    MAX_GROUPS = 4

    def __init__(self, num_chars: int, char_dim: int, hidden: int, tied: bool):
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.lstm = BiLSTM(char_dim, hidden, tied)
        self.output_dim = 2 * hidden

    @classmethod
    def groups(cls, forms: int) -> int:
        """How many length groups a decoding call over ``forms`` word forms runs in (below 2: one call)."""
        return min(cls.MAX_GROUPS, forms // cls.FORMS_PER_GROUP)

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        groups = self.groups(len(lengths))
        if groups < 2 or torch.is_grad_enabled() or chars.is_cuda:
            return self.lstm(self.embedding(chars), lengths)[1]
        order = torch.argsort(lengths, stable=True)
        finals = []
        for rows in order.tensor_split(groups):
            group_lengths = lengths[rows]
            group_chars = chars[rows, : int(group_lengths.max())]
            finals.append(self.lstm(self.embedding(group_chars), group_lengths)[1])
        return torch.cat(finals).index_select(0, torch.argsort(order))


class SentenceEncoder(nn.Module):
    """Char + word BiLSTM encoder with the dense layer on top: a batch -> features ``[B, L, dense_dim]``.

    ``char_embedding`` may be passed in to share one character embedding matrix between encoders.
    """

    def __init__(self, config: TaggerConfig, num_words: int, num_chars: int, char_embedding: nn.Embedding | None = None):
        super().__init__()
        self.config = config
        self.word_embedding = nn.Embedding(num_words, config.word_dim, padding_idx=0)
        self.word_embedding.weight.requires_grad_(not config.freeze_embeddings)
        self.chars = None
        input_dim = config.word_dim
        if config.use_chars:
            self.chars = CharEncoder(num_chars, config.char_dim, config.char_hidden, config.shared_lstm)
            if char_embedding is not None:
                self.chars.embedding = char_embedding
            input_dim += self.chars.output_dim
        self.dropout = nn.Dropout(config.dropout)
        self.word_lstm = BiLSTM(input_dim, config.word_hidden, config.shared_lstm)
        self.dense = nn.Linear(2 * config.word_hidden, config.dense_dim)

    def set_word_embeddings(self, matrix: torch.Tensor) -> None:
        """Swap the word-embedding table (e.g. target-language vectors in the common space)."""
        self.word_embedding = nn.Embedding.from_pretrained(matrix, freeze=self.config.freeze_embeddings, padding_idx=0)

    def forward(self, batch: Batch) -> torch.Tensor:
        inputs = self.word_embedding(batch.words)
        if self.chars is not None:
            per_form = self.chars(batch.chars, batch.char_lengths)
            inputs = torch.cat([inputs, per_form[batch.form_positions]], 2)
        lengths = batch.mask.sum(1)
        hidden, _ = self.word_lstm(self.dropout(inputs), lengths)
        return torch.tanh(self.dense(self.dropout(hidden)))


class Tagger(nn.Module):
    """Encoder + tag-score layer + CRF; ``loss`` for training, ``decode`` for Viterbi paths."""

    def __init__(self, config: TaggerConfig, num_words: int, num_chars: int, num_tags: int, constraints=None):
        super().__init__()
        self.encoder = SentenceEncoder(config, num_words, num_chars)
        self.scores = nn.Linear(config.dense_dim, num_tags)
        self.crf = CRF(num_tags, constraints if config.constrained else None)

    def emissions(self, batch: Batch) -> torch.Tensor:
        return self.scores(self.encoder(batch))

    def loss(self, batch: Batch) -> torch.Tensor:
        return self.crf(self.emissions(batch), batch.tags, batch.mask)

    @torch.no_grad()
    def decode(self, batch: Batch) -> torch.Tensor:
        return self.crf.decode(self.emissions(batch), batch.mask)

    def tagging_head(self, batch: Batch):
        """``(emissions, crf)`` that tag a batch (the Cross-Augmented model answers with its target head)."""
        return self.emissions(batch), self.crf


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Parameters of a module (either backend): only those training updates, unless ``trainable_only`` is off."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
