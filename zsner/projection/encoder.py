"""Word vectors of whole sentences from a pretrained encoder's hidden layer: each word is the mean of its
sub-word states. A sentence longer than one window goes through the backend's overlapping sub-token windows
(``transformer/align.py``), each word read from the window that owns it: nothing is cut."""
from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from ..device import autocast
from ..errors import ZsnerError
from ..transformer.align import PieceTokenizer, batches_in_order
from ..transformer.inference import encode
from ..transformer.model import encoder_parts, load_pretrained


class LayerEncoder:
    """A pretrained encoder kept up to ``layer`` (the layers above it are never run)."""

    def __init__(self, folder: str, layer: int, window: int, overlap: int, device="cpu", max_word_pieces: int = 16):
        tokenizer, encoder = load_pretrained(folder)
        _, stack = encoder_parts(encoder)
        if layer > len(stack):
            raise ZsnerError(f"--layer {layer}: the model has only {len(stack)} layers", folder)
        holder = getattr(encoder, "encoder", None)
        if isinstance(getattr(holder, "layer", None), nn.ModuleList):
            holder.layer = holder.layer[:layer]  # BERT-style stacks: the unused top layers cost nothing
        self.encoder = encoder.to(device).eval()
        self.tokens = PieceTokenizer(tokenizer, min(max_word_pieces, window - 2))
        self.layer, self.window, self.overlap, self.device = layer, window, overlap, device

    @torch.no_grad()
    def word_vectors(self, sentences: list[list[str]], batch_size: int = 32, progress: bool = False,
                     desc: str = "encode") -> list[torch.Tensor]:
        """``[words, hidden]`` float32 vectors (on the CPU) for every sentence."""
        corpus = encode(sentences, self.tokens, self.window, self.overlap, "")
        parts: list[list[torch.Tensor | None]] = [[None] * len(words) for words in sentences]
        for indices in tqdm(batches_in_order(corpus.windows, corpus.pieces, batch_size), desc=desc,
                            disable=not progress, leave=False):
            batch = corpus.batch(indices, self.device)
            with autocast(self.device, True):
                states = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                      output_hidden_states=True).hidden_states[self.layer].float()
            words = word_means(states, batch.piece_word, batch.word_mask.shape[1]).cpu()
            for row, item in zip(words, batch.windows):
                for word in range(item.own_start, item.own_end):
                    parts[item.sentence][word] = row[word - item.start]
        return [torch.stack(row) for row in parts]


def word_means(states: torch.Tensor, piece_word: torch.Tensor, words: int) -> torch.Tensor:
    """``[B, W, H]`` mean of the piece states of each word (``piece_word``: word position per piece, -1 for
    special tokens and padding)."""
    batch, _, hidden = states.shape
    index = piece_word + 1  # slot 0 collects the special tokens and padding (-1)
    sums = torch.zeros(batch, words + 1, hidden, dtype=states.dtype, device=states.device)
    sums.scatter_add_(1, index.unsqueeze(2).expand(-1, -1, hidden), states)
    counts = torch.zeros(batch, words + 1, dtype=states.dtype, device=states.device)
    counts.scatter_add_(1, index, torch.ones_like(index, dtype=states.dtype))
    return (sums / counts.clamp(min=1.0).unsqueeze(2))[:, 1:]
