"""Encoder states of words at chosen layers (0 = the embedding layer's output, k = transformer layer k).

- ``isolated``: each word fed alone, ``[CLS] word [SEP]``; its vector is the mean of its pieces' states.
- ``in_context``: the mean of a word's piece states over up to ``max_occurrences`` of its occurrences in running
  text (words matched lowercased); words never seen in the text keep no context vector (``counts == 0``).

Words are batched by piece count (little padding) and pooled with one masked sum per batch: no per-word Python
work inside the forward loop. ``isolated`` writes each chunk of words to a ``ChunkCache`` so that a killed run
resumes where it stopped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..transformer.align import PieceTokenizer
from .cache import ChunkCache


@dataclass
class Encoder:
    """A loaded Hugging Face encoder with its piece tokenizer."""

    tokens: PieceTokenizer
    model: torch.nn.Module
    device: str = "cpu"

    @property
    def layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def states(self, ids: torch.Tensor, attention: torch.Tensor, layers: list[int]) -> torch.Tensor:
        """Hidden states ``[len(layers), batch, length, dim]`` (float32, on the CPU)."""
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=attention.to(self.device),
                             output_hidden_states=True)
        return torch.stack([out.hidden_states[layer].float() for layer in layers]).cpu()


def _pad(rows: list[list[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[batch, width]`` ids and the mask of real positions."""
    lengths = torch.tensor([len(row) for row in rows])
    width = int(lengths.max())
    ids = torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)
    return ids, (torch.arange(width)[None, :] < lengths[:, None]).long()


def _isolated_batch(encoder: Encoder, pieces: list[list[int]], layers: list[int]) -> np.ndarray:
    tokens = encoder.tokens
    ids, attention = _pad([[tokens.cls_id, *word, tokens.sep_id] for word in pieces], tokens.pad_id)
    pool = attention.float()
    pool[:, 0] = 0  # [CLS]
    lengths = torch.tensor([len(word) for word in pieces])
    pool[torch.arange(len(pieces)), lengths + 1] = 0  # [SEP]
    states = encoder.states(ids, attention, layers)
    summed = (states * pool[None, :, :, None]).sum(2)
    return (summed / lengths[None, :, None].float()).numpy()


def isolated(words: list[str], encoder: Encoder, layers: list[int], cache: ChunkCache | None = None,
             batch_size: int = 256, chunk_words: int = 8192, progress: bool = True) -> np.ndarray:
    """``[len(layers), len(words), dim]`` float32 states of each word fed alone."""
    pieces = encoder.tokens.word_pieces(words)
    out = np.zeros((len(layers), len(words), encoder.dim), dtype=np.float32)
    bar = tqdm(total=len(words), desc="words", unit="w", disable=not progress)
    for chunk, begin in enumerate(range(0, len(words), chunk_words)):
        end = min(begin + chunk_words, len(words))
        stored = cache.load(chunk) if cache is not None else None
        if stored is None:
            order = sorted(range(begin, end), key=lambda index: len(pieces[index]))
            block = np.zeros((len(layers), end - begin, encoder.dim), dtype=np.float32)
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                block[:, np.asarray(rows) - begin] = _isolated_batch(encoder, [pieces[i] for i in rows], layers)
                bar.update(len(rows))
            if cache is not None:
                cache.store(chunk, block)
            stored = block
        else:
            bar.update(end - begin)
        out[:, begin:end] = stored
    bar.close()
    return out


def in_context(words: list[str], sentences: list[list[str]], encoder: Encoder, layers: list[int],
               max_occurrences: int = 10, max_pieces: int = 256, batch_size: int = 32,
               progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(``[len(layers), len(words), dim]`` mean contextual states, occurrence counts per word)."""
    index = {word: row for row, word in enumerate(words)}
    counts = np.zeros(len(words), dtype=np.int64)
    picked = []  # (sentence, [(position, word row)]) for sentences that still contribute an occurrence
    for number, sentence in enumerate(sentences):
        hits = []
        for position, token in enumerate(sentence):
            row = index.get(token.lower())
            if row is not None and counts[row] < max_occurrences:
                counts[row] += 1
                hits.append((position, row))
        if hits:
            picked.append((number, hits))
    sums = torch.zeros(len(layers), len(words), encoder.dim)
    seen = torch.zeros(len(words))  # occurrences actually pooled (a truncated sentence loses its tail)
    tokens = encoder.tokens
    bar = tqdm(total=len(picked), desc="contexts", unit="sent", disable=not progress)
    for start in range(0, len(picked), batch_size):
        batch = picked[start:start + batch_size]
        rows, piece_word, targets = [], [], []  # piece ids per sentence; flat slot of each piece; slot -> word row
        slot = 0
        for number, hits in batch:
            wanted = dict(hits)
            ids, owner = [tokens.cls_id], [-1]
            for position, word in enumerate(tokens.word_pieces(sentences[number])):
                if len(ids) + len(word) >= max_pieces - 1:
                    break
                ids.extend(word)
                owner.extend([slot if position in wanted else -1] * len(word))
                if position in wanted:
                    targets.append(wanted[position])
                    slot += 1
            rows.append(ids + [tokens.sep_id])
            piece_word.append(owner + [-1])
        ids, attention = _pad(rows, tokens.pad_id)
        owners = _pad(piece_word, -1)[0].flatten()
        keep = owners >= 0
        states = encoder.states(ids, attention, layers).flatten(1, 2)[:, keep]  # [L, pieces kept, dim]
        slot_sum = torch.zeros(len(layers), slot, encoder.dim).index_add_(1, owners[keep], states)
        slot_len = torch.zeros(slot).index_add_(0, owners[keep], torch.ones(int(keep.sum())))
        targets = torch.tensor(targets, dtype=torch.long)
        sums.index_add_(1, targets, slot_sum / slot_len[None, :, None])
        seen.index_add_(0, targets, torch.ones(len(targets)))
        bar.update(len(batch))
    bar.close()
    return (sums / seen.clamp_min(1)[None, :, None]).numpy(), seen.long().numpy()


def unit_length(matrix: np.ndarray) -> np.ndarray:
    """Each row (last axis) scaled to unit length; zero rows stay zero."""
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def unit_centre_unit(matrix: np.ndarray) -> np.ndarray:
    """Unit length, centred, unit length (the MUSE-style normalisation the encoder vectors are aligned under)."""
    out = unit_length(matrix)
    return unit_length(out - out.mean(axis=-2, keepdims=True)).astype(np.float32)
