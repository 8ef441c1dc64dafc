"""Word <-> sub-token alignment, overlapping windows, batches, and mapping window predictions back to words.

Each word is tokenised on its own (as ``is_split_into_words`` does: the same pieces, the same word prefix), so a
sentence's pieces are the concatenation of its words' pieces and the first piece of every word is known exactly.
A word the tokenizer turns into no piece at all (empty or invisible characters) gets the unknown piece, and a word
longer than ``max_word_pieces`` keeps only its first pieces: no word is ever dropped.

Sentences longer than one window (``window`` pieces including the two special tokens; Moon et al.: 64) are cut into
windows of whole words that share about ``overlap`` pieces (Moon et al.: 8) with their neighbour. Every word is
*owned* by exactly one window -- the overlap is split in the middle -- and its prediction is read from that window,
so predictions map back to words one to one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.tags import convert
from ..errors import ZsnerError

IGNORE = -100  # label of padding positions (ignored by the losses)


class PieceTokenizer:
    """Word -> piece ids with a cache, plus the special ids a batch needs."""

    def __init__(self, tokenizer, max_word_pieces: int = 16):
        self.tokenizer = tokenizer
        self.max_word_pieces = max_word_pieces
        self.cls_id = _first_id(tokenizer, "cls_token_id", "bos_token_id")
        self.sep_id = _first_id(tokenizer, "sep_token_id", "eos_token_id")
        self.pad_id = _first_id(tokenizer, "pad_token_id")
        self.unk_id = _first_id(tokenizer, "unk_token_id")
        self.mask_id = getattr(tokenizer, "mask_token_id", None)
        self._cache: dict[str, list[int]] = {}

    def word_pieces(self, words: list[str]) -> list[list[int]]:
        """Piece ids of each word (never empty, at most ``max_word_pieces``)."""
        missing = sorted({word for word in words if word not in self._cache})
        if missing:
            encoded = self.tokenizer(missing, add_special_tokens=False)["input_ids"]
            for word, ids in zip(missing, encoded):
                self._cache[word] = list(ids[: self.max_word_pieces]) or [self.unk_id]
        return [self._cache[word] for word in words]


def _first_id(tokenizer, *names):
    for name in names:
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    raise ZsnerError(f"unusable tokenizer: it defines none of {', '.join(names)}",
                     getattr(tokenizer, "name_or_path", None) or None)


@dataclass(frozen=True)
class Window:
    """Words ``[start, end)`` of sentence ``sentence``; it owns (predicts) words ``[own_start, own_end)``."""

    sentence: int
    start: int
    end: int
    own_start: int
    own_end: int


def plan_windows(piece_counts: list[int], window: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(start, end, own_start, own_end)`` word ranges covering a sentence whose words have ``piece_counts``.

    A window holds at most ``window - 2`` pieces (room for the special tokens); each word must fit on its own.
    The next window starts at the earliest word that keeps at most ``overlap`` pieces shared (always at least one
    word further, and leaving room for the first unseen word), and ownership of the shared words is split in the
    middle.
    """
    budget = window - 2
    if any(count > budget for count in piece_counts):
        raise ValueError(f"a word has more pieces than a window holds ({budget})")
    n = len(piece_counts)
    if n == 0:
        return []
    spans: list[list[int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and used + piece_counts[end] <= budget:
            used += piece_counts[end]
            end += 1
        spans.append([start, end])
        if end >= n:
            break
        following, shared = end, 0
        while (following - 1 > start and shared + piece_counts[following - 1] <= overlap
               and shared + piece_counts[following - 1] + piece_counts[end] <= budget):
            following -= 1
            shared += piece_counts[following]
        start = following
    planned = []
    for index, (start, end) in enumerate(spans):
        own_start = 0 if index == 0 else planned[-1][3]
        own_end = n if index == len(spans) - 1 else (spans[index + 1][0] + end + 1) // 2
        planned.append((start, end, own_start, own_end))
    return planned


def make_windows(pieces: list[list[list[int]]], window: int, overlap: int) -> list[Window]:
    """All windows of a corpus given per-sentence, per-word piece ids (sentence order kept)."""
    windows = []
    for index, sentence in enumerate(pieces):
        for start, end, own_start, own_end in plan_windows([len(word) for word in sentence], window, overlap):
            windows.append(Window(index, start, end, own_start, own_end))
    return windows


@dataclass
class Batch:
    """Padded window batch. Word positions index the window's words; ``word_index`` points at their first piece."""

    input_ids: torch.Tensor  # [B, P]
    attention_mask: torch.Tensor  # [B, P] (long, 1 = real piece)
    word_index: torch.Tensor  # [B, W] position of each word's first piece (0 at padding)
    word_mask: torch.Tensor  # [B, W] bool
    piece_word: torch.Tensor  # [B, P] word position of every piece, -1 for special tokens and padding
    labels: torch.Tensor | None  # [B, W] tag ids, IGNORE at padding
    windows: list[Window]

    def to(self, device) -> "Batch":
        moved = {name: (value.to(device) if isinstance(value, torch.Tensor) else value)
                 for name, value in self.__dict__.items()}
        return Batch(**moved)


def window_labels(windows: list[Window], labels: list[list[int]], tags: list[str], scheme: str) -> list[list[int]]:
    """Each window's word tag ids; a window that cuts a sentence gets its slice re-written as a valid sequence of
    ``scheme`` (an entity entered in the middle starts with ``B-``; in IOBES one cut at the end ends with ``E-``)."""
    index = {tag: position for position, tag in enumerate(tags)}
    result = []
    for item in windows:
        ids = labels[item.sentence][item.start:item.end]
        if item.start > 0 or item.end < len(labels[item.sentence]):
            ids = [index[tag] for tag in convert([tags[i] for i in ids], scheme)]
        result.append(list(ids))
    return result


def collate(windows: list[Window], pieces: list[list[list[int]]], tokens: PieceTokenizer,
            labels: list[list[int]] | None = None) -> Batch:
    """Build the padded tensors of a batch of windows; ``labels`` are the windows' word tag ids (optional)."""
    rows, word_rows, piece_word_rows = [], [], []
    for item in windows:
        ids, starts, owner = [tokens.cls_id], [], [-1]
        for position, word in enumerate(pieces[item.sentence][item.start:item.end]):
            starts.append(len(ids))
            ids.extend(word)
            owner.extend([position] * len(word))
        ids.append(tokens.sep_id)
        owner.append(-1)
        rows.append(ids)
        word_rows.append(starts)
        piece_word_rows.append(owner)
    width, words = max(map(len, rows)), max(map(len, word_rows))
    input_ids = torch.full((len(rows), width), tokens.pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    piece_word = torch.full((len(rows), width), -1, dtype=torch.long)
    word_index = torch.zeros((len(rows), words), dtype=torch.long)
    word_mask = torch.zeros((len(rows), words), dtype=torch.bool)
    label_tensor = torch.full((len(rows), words), IGNORE, dtype=torch.long) if labels is not None else None
    for row, ids in enumerate(rows):
        if label_tensor is not None and len(labels[row]) != len(word_rows[row]):
            raise ValueError("a window's labels do not match its words")
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        piece_word[row, : len(ids)] = torch.tensor(piece_word_rows[row])
        count = len(word_rows[row])
        word_index[row, :count] = torch.tensor(word_rows[row])
        word_mask[row, :count] = True
        if label_tensor is not None:
            label_tensor[row, :count] = torch.tensor(labels[row])
    return Batch(input_ids, attention, word_index, word_mask, piece_word, label_tensor, list(windows))


def merge(windows: list[Window], window_labels: list[list[int]], lengths: list[int]) -> list[list[int]]:
    """Word labels per sentence from per-window word labels: each word takes its owning window's label."""
    merged: list[list[int | None]] = [[None] * length for length in lengths]
    for item, predicted in zip(windows, window_labels):
        if len(predicted) < item.end - item.start:
            raise ValueError("a window's prediction is shorter than the window")
        for word in range(item.own_start, item.own_end):
            if merged[item.sentence][word] is not None:
                raise ValueError(f"word {word} of sentence {item.sentence} is owned twice")
            merged[item.sentence][word] = predicted[word - item.start]
    for index, row in enumerate(merged):
        if any(value is None for value in row):
            raise ValueError(f"sentence {index} has words no window owns")
    return merged  # type: ignore[return-value]


def batches_in_order(windows: list[Window], pieces: list[list[list[int]]], batch_size: int):
    """Window index lists for inference: sorted by piece count (less padding), every window exactly once."""
    size = [sum(len(word) for word in pieces[w.sentence][w.start:w.end]) for w in windows]
    order = sorted(range(len(windows)), key=lambda index: size[index])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
