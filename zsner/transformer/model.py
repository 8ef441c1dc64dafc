"""A pretrained encoder with our word-level heads: softmax or CRF tagging, language identification, cloze.

Word scores are read at each word's first sub-token (Devlin et al.); the other pieces get no label. The CRF head
(``zsner.crf``) runs on those word-level scores. Auxiliary heads: a linear language classifier on the mean of the
window's piece vectors (LI), and a masked-token head (dense + GELU + LayerNorm, output tied to the input
embeddings, as BERT's) shared by random cloze (CL) and predictive cloze (PC). Models are any local Hugging Face
folder; nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..crf import CRF
from ..data.tags import allowed_transitions
from ..errors import ZsnerError
from .align import IGNORE, Batch, PieceTokenizer
from .config import TransformerConfig
from .losses import token_loss, weighted_nll


def load_pretrained(path: str, cached_tokenizer: bool = False):
    """``(tokenizer, encoder)`` from a local folder, offline; a missing or unreadable folder is a ``ZsnerError``.
    ``cached_tokenizer``: the tokenizer through ``tokenizer_cache`` (inference: it encodes only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(path).expanduser() if path else None
    if folder is None or not (folder / "config.json").is_file():
        raise ZsnerError("no Hugging Face model folder (config.json missing): give a local folder of a pretrained "
                         "encoder as save_pretrained writes it (nothing is downloaded) with --model PATH, or, for a "
                         "trained run whose base folder moved, --model-folder PATH", path or "''")
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from .tokenizer_cache import load_tokenizer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    def transformers_tokenizer():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    try:
        tokenizer = load_tokenizer(folder, transformers_tokenizer) if cached_tokenizer else transformers_tokenizer()
        encoder = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except ImportError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged file of the folder: transformers raises many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else "damaged file"
        raise ZsnerError(f"cannot load the model folder ({type(err).__name__}: {first})", folder) from None
    try:  # a damaged tokenizer config (its unknown token, length limit...) loads, then fails on the first words
        tokenizer(["a", "Zsner\u2603"], add_special_tokens=False)
    except Exception as err:  # noqa: BLE001
        raise ZsnerError(f"the model folder's tokenizer does not work ({type(err).__name__})", folder) from None
    rows = encoder.get_input_embeddings().num_embeddings if encoder.get_input_embeddings() is not None else 0
    if len(tokenizer) > rows:
        raise ZsnerError(f"the tokenizer has {len(tokenizer)} pieces but the encoder only {rows} embeddings "
                         "(files of two models in one folder?)", folder)
    try:  # a damaged config.json (heads, layers, sizes...) can load and fail on the first batch
        with torch.no_grad():
            encoder(input_ids=torch.zeros((1, 2), dtype=torch.long))
    except Exception as err:  # noqa: BLE001
        raise ZsnerError(f"the model folder's encoder does not run ({type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0] if str(err).strip() else 'no message'})", folder) from None
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # unused: keeps it out of the optimizer, the checkpoints and the parameter count
    return tokenizer, encoder


def encoder_parts(encoder) -> tuple[nn.Module, list[nn.Module]]:
    """The embedding module and the list of transformer layers, bottom first."""
    embeddings = getattr(encoder, "embeddings", None)
    for owner, name in (("encoder", "layer"), ("transformer", "layer"), ("", "layers")):
        holder = getattr(encoder, owner, None) if owner else encoder
        layers = getattr(holder, name, None) if holder is not None else None
        if isinstance(layers, nn.ModuleList) and embeddings is not None:
            return embeddings, list(layers)
    raise ZsnerError(f"cannot find the embeddings and layers of a {type(encoder).__name__} to freeze")


def freeze(encoder, layers: int) -> list[str]:
    """Freeze the embeddings (``layers >= 0``) and the lowest ``layers`` layers; returns the frozen names."""
    if layers < 0:
        return []
    embeddings, stack = encoder_parts(encoder)
    if layers > len(stack):
        raise ZsnerError(f"--freeze-layers {layers}: the model has only {len(stack)} layers")
    frozen = []
    for module in [embeddings, *stack[:layers]]:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    names = {id(p): name for name, p in encoder.named_parameters()}
    for module in [embeddings, *stack[:layers]]:
        frozen.extend(names[id(p)] for p in module.parameters())
    return frozen


class ClozeHead(nn.Module):
    """Masked-piece prediction with the output matrix tied to the encoder's input embeddings."""

    def __init__(self, hidden: int, embedding: nn.Embedding, eps: float = 1e-12):
        super().__init__()
        self.transform = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))
        self._embedding = [embedding]  # a list: not registered twice as a submodule

    def forward(self, states: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[N, V]`` over the whole vocabulary, or ``[N, C]`` over ``candidates`` (sorted piece ids)."""
        states = self.norm(F.gelu(self.transform(states)))
        weight, bias = self._embedding[0].weight, self.bias
        if candidates is not None:
            weight, bias = weight.index_select(0, candidates), bias.index_select(0, candidates)
        return states @ weight.t() + bias


class TransformerTagger(nn.Module):
    """Encoder + dropout + linear word scores (+ CRF), with optional LI and cloze heads."""

    def __init__(self, encoder, tags: list[str], config: TransformerConfig, languages: list[str] | None = None,
                 cloze: bool = False):
        super().__init__()
        self.encoder = encoder
        self.tags = list(tags)
        self.languages = list(languages or [])
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(hidden, len(self.tags))
        self.crf = None
        if config.head == "crf":
            constraints = allowed_transitions(self.tags, config.scheme) if config.constrained else None
            self.crf = CRF(len(self.tags), constraints)
        self.language_head = nn.Linear(hidden, len(self.languages)) if len(self.languages) > 1 else None
        eps = getattr(encoder.config, "layer_norm_eps", 1e-12)
        self.cloze_head = ClozeHead(hidden, encoder.get_input_embeddings(), eps) if cloze else None

    # ------------------------------------------------------------------------------------------ encoder
    def hidden(self, batch: Batch, input_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Last-layer piece vectors ``[B, P, H]`` (``input_ids`` overrides the batch's, e.g. masked ones)."""
        ids = batch.input_ids if input_ids is None else input_ids
        return self.encoder(input_ids=ids, attention_mask=batch.attention_mask).last_hidden_state

    def word_scores(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Tag scores of each word at its first piece, ``[B, W, T]``."""
        index = batch.word_index.unsqueeze(2).expand(-1, -1, hidden.shape[2])
        return self.classifier(self.dropout(hidden.gather(1, index))).float()

    # ------------------------------------------------------------------------------------------ NER
    def ner_loss(self, batch: Batch, kind: str = "ce", gamma: float = 4.0, hidden=None) -> torch.Tensor:
        """Mean word-level loss (softmax) or per-window sequence loss (CRF) against ``batch.labels``."""
        hidden = self.hidden(batch) if hidden is None else hidden
        scores = self.word_scores(hidden, batch)
        if self.crf is None:
            return token_loss(scores, batch.labels, kind, gamma)
        log_p = self.crf.log_likelihood(scores, batch.labels.clamp(min=0), batch.word_mask)
        return weighted_nll(log_p, kind, gamma)

    @torch.no_grad()
    def predict(self, batch: Batch) -> list[list[int]]:
        """Best tag ids of the words of each window."""
        scores = self.word_scores(self.hidden(batch), batch)
        if self.crf is None:
            best = scores.argmax(-1)
        else:
            best = self.crf.decode(scores, batch.word_mask)
        counts = batch.word_mask.sum(1).tolist()
        return [row[:count] for row, count in zip(best.tolist(), counts)]

    @torch.no_grad()
    def word_probabilities(self, batch: Batch) -> list:
        """Per window, a ``[words, tags]`` float32 array of each word's tag distribution: the softmax of its first
        piece's scores (softmax head) or the CRF marginals within the window (CRF head)."""
        scores = self.word_scores(self.hidden(batch), batch)
        if self.crf is None:
            probabilities = scores.softmax(-1)
        else:
            probabilities = self.crf.marginals(scores, batch.word_mask)
        array = probabilities.float().cpu().numpy()
        return [array[row, :count] for row, count in enumerate(batch.word_mask.sum(1).tolist())]

    @torch.no_grad()
    def predict_distributions(self, batch: Batch) -> list[list[tuple[int, torch.Tensor]]]:
        """Per window, each word's best tag id and its tag distribution: softmax probabilities (softmax head) or
        CRF marginals within the window (CRF head)."""
        scores = self.word_scores(self.hidden(batch), batch)
        if self.crf is None:
            best, probabilities = scores.argmax(-1), scores.softmax(-1)
        else:
            best, probabilities = self.crf.decode(scores, batch.word_mask), self.crf.marginals(scores, batch.word_mask)
        counts = batch.word_mask.sum(1).tolist()
        probabilities = probabilities.float().cpu()
        return [list(zip(best_row[:count], probabilities[row, :count]))
                for row, (best_row, count) in enumerate(zip(best.tolist(), counts))]

    # ------------------------------------------------------------------------------------------ auxiliary
    def language_loss(self, hidden: torch.Tensor, batch: Batch, language: torch.Tensor) -> torch.Tensor:
        """LI: cross-entropy of the language of each window from its mean piece vector (special tokens out)."""
        if self.language_head is None:
            raise ValueError("language identification needs a model built with two or more languages")
        content = (batch.piece_word >= 0).unsqueeze(2).to(hidden.dtype)
        pooled = (hidden * content).sum(1) / content.sum(1).clamp(min=1.0)
        return F.cross_entropy(self.language_head(self.dropout(pooled)).float(), language)

    def cloze_loss(self, batch: Batch, masked_ids: torch.Tensor, targets: torch.Tensor,
                   candidates: torch.Tensor | None = None) -> torch.Tensor:
        """CL / PC: cross-entropy of the original pieces at the positions where ``targets != IGNORE``."""
        if self.cloze_head is None:
            raise ValueError("cloze tasks need a model built with cloze=True")
        where = targets != IGNORE
        hidden = self.hidden(batch, masked_ids)
        logits = self.cloze_head(hidden[where], candidates).float()
        gold = targets[where]
        if candidates is not None:
            gold = torch.searchsorted(candidates, gold)
        return F.cross_entropy(logits, gold)

    # ------------------------------------------------------------------------------------------ checkpoints
    def trainable_state(self) -> dict:
        """Every head tensor plus the encoder tensors that can change (frozen ones come from the base model)."""
        state = {}
        for name, parameter in self.named_parameters():
            if parameter.requires_grad or not name.startswith("encoder."):
                state[name] = parameter.detach().cpu().clone()
        return state

    def load_trainable(self, state: dict) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        bad = [name for name in missing if not name.startswith("encoder.")]
        if unexpected or bad:
            raise ZsnerError(f"checkpoint does not fit the model (unexpected {unexpected[:3]}, missing {bad[:3]})")


def build(config: TransformerConfig, tags: list[str], languages: list[str] | None = None, cloze: bool = False,
          cached_tokenizer: bool = False):
    """``(model, PieceTokenizer)`` for a model folder, with the configured layers frozen (``cached_tokenizer``: see
    ``load_pretrained``)."""
    tokenizer, encoder = load_pretrained(config.model, cached_tokenizer)
    freeze(encoder, config.freeze_layers)
    tokens = PieceTokenizer(tokenizer, min(config.max_word_pieces, config.window - 2))
    if cloze and tokens.mask_id is None:
        raise ZsnerError("the tokenizer has no mask token: cloze tasks (cl, pc) are impossible with this model")
    return TransformerTagger(encoder, tags, config, languages, cloze), tokens
