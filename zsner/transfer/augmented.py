"""Cross-Augmented model (Bari et al. 2020, Eq. 7): the source tagger θ_s plus a target encoder θ_t.

θ_t has the source encoder's architecture with its own character BiLSTM, word BiLSTM and dense layer; the
character *embedding matrix* and the (frozen, common-space) word table are shared with θ_s. On target text the
source features are augmented with the target features, ``[h_s ; h_t]``, and scored by a target tag layer and
CRF. The target model (θ_s's encoder + θ_t + target head) is what tags target sentences.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import TaggerConfig
from ..crf import CRF
from ..data.batches import Batch
from ..nn.tagger import SentenceEncoder, Tagger


class AugmentedTagger(nn.Module):
    def __init__(self, source: Tagger, config: TaggerConfig, num_tags: int, constraints=None):
        super().__init__()
        self.source = source
        shared_chars = source.encoder.chars.embedding if source.encoder.chars is not None else None
        num_words = source.encoder.word_embedding.num_embeddings
        num_chars = shared_chars.num_embeddings if shared_chars is not None else 1
        self.target_encoder = SentenceEncoder(config, num_words, num_chars, char_embedding=shared_chars)
        self.target_encoder.word_embedding = source.encoder.word_embedding  # one frozen common-space table
        self.target_scores = nn.Linear(source.encoder.dense.out_features + config.dense_dim, num_tags)
        self.target_crf = CRF(num_tags, constraints if config.constrained else None)

    @property
    def encoder(self) -> SentenceEncoder:
        """The source encoder (it owns the shared word table)."""
        return self.source.encoder

    def target_emissions(self, batch: Batch, source_features: torch.Tensor | None = None) -> torch.Tensor:
        if source_features is None:
            source_features = self.source.encoder(batch)
        return self.target_scores(torch.cat([source_features, self.target_encoder(batch)], 2))

    def joint_loss(self, source_batch: Batch, target_batch: Batch) -> torch.Tensor:
        """Eq. 7: L_s(θ_s) on labelled source + L_t(θ_s) + L_t(θ_t) on pseudo-labelled target."""
        loss = self.source.loss(source_batch)
        features = self.source.encoder(target_batch)
        loss = loss + self.source.crf(self.source.scores(features), target_batch.tags, target_batch.mask)
        emissions = self.target_emissions(target_batch, features)
        return loss + self.target_crf(emissions, target_batch.tags, target_batch.mask)

    @torch.no_grad()
    def decode(self, batch: Batch) -> torch.Tensor:
        """Tag target text with the target model."""
        return self.target_crf.decode(self.target_emissions(batch), batch.mask)

    def tagging_head(self, batch: Batch):
        """``(emissions, crf)`` of the target model, which tags target text."""
        return self.target_emissions(batch), self.target_crf

    @torch.no_grad()
    def decode_source(self, batch: Batch) -> torch.Tensor:
        return self.source.decode(batch)
