"""Tag schemes IOB1, IOB2 and IOBES: chunking, lossless conversion, repair, and allowed transitions.

One chunker reads all three schemes: a chunk starts at ``B-``/``S-``, or at an ``I-``/``E-`` whose previous
token is ``O``, of another type, or closed a chunk (``E-``/``S-``). A stray ``I-X`` start is thus read as
``B-X`` (the repair CoNLL files need), and IOB1, where ``I-`` starts chunks, is read exactly.
"""
from __future__ import annotations

from typing import Iterable

SCHEMES = ("iob1", "iob2", "iobes")


def split_tag(tag: str) -> tuple[str, str | None]:
    if tag == "O":
        return "O", None
    return tag[0], tag[2:]


def chunks(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entity chunks as ``(type, start, end_exclusive)`` from tags in any of the three schemes."""
    found: list[tuple[str, int, int]] = []
    current: list | None = None  # [type, start]
    prev_prefix, prev_type = "O", None
    for position, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "O":
            starts = False
        else:
            starts = prefix in "BS" or prev_prefix in "OES" or kind != prev_type
        if current is not None and (prefix == "O" or starts):
            found.append((current[0], current[1], position))
            current = None
        if prefix != "O" and starts:
            current = [kind, position]
        prev_prefix, prev_type = prefix, kind
    if current is not None:
        found.append((current[0], current[1], len(tags)))
    return found


def from_chunks(spans: Iterable[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """Write chunks as tags of ``scheme``."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}")
    tags = ["O"] * length
    previous_end, previous_type = -1, None
    for kind, start, end in sorted(spans, key=lambda span: span[1]):
        for position in range(start, end):
            tags[position] = f"I-{kind}"
        if scheme == "iob2":
            tags[start] = f"B-{kind}"
        elif scheme == "iobes":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
        elif previous_end == start and previous_type == kind:  # iob1: B- only between touching same-type chunks
            tags[start] = f"B-{kind}"
        previous_end, previous_type = end, kind
    return tags


def convert(tags: list[str], scheme: str) -> list[str]:
    """Convert a tag sequence (any scheme, stray ``I-`` starts repaired) to ``scheme``."""
    return from_chunks(chunks(tags), len(tags), scheme)


def detect_scheme(tag_sequences: Iterable[list[str]]) -> dict:
    """Guess the scheme of a corpus and count chunks that start with ``I-`` (repaired as ``B-``)."""
    i_starts = b_starts = es_tags = b_touching = 0
    for tags in tag_sequences:
        if any(tag[0] in "ES" for tag in tags):
            es_tags += 1
        for kind, start, _ in chunks(tags):
            prefix = tags[start][0]
            if prefix == "I":
                i_starts += 1
            elif prefix == "B":
                b_starts += 1
                previous = tags[start - 1] if start else "O"
                if previous != "O" and split_tag(previous)[1] == kind:
                    b_touching += 1
    if es_tags:
        scheme = "iobes"
    elif i_starts > b_starts - b_touching:
        scheme = "iob1"
    else:
        scheme = "iob2"
    stray = i_starts if scheme in ("iob2", "iobes") else b_starts - b_touching
    return {"scheme": scheme, "chunk_starts_with_I": i_starts, "stray_starts": stray}


def tag_set(types: Iterable[str], scheme: str = "iobes") -> list[str]:
    """All tags of ``scheme`` over entity ``types``: ``O`` first, then per type in sorted order."""
    prefixes = {"iob1": "BI", "iob2": "BI", "iobes": "BIES"}[scheme]
    return ["O"] + [f"{prefix}-{kind}" for kind in sorted(set(types)) for prefix in prefixes]


def allowed_transitions(tags: list[str], scheme: str = "iobes"):
    """Hard constraints as boolean lists: ``(start[T], transitions[T][T] from->to, end[T])``."""
    parsed = [split_tag(tag) for tag in tags]

    def can_follow(prev, nxt):
        (p_prefix, p_type), (n_prefix, n_type) = prev, nxt
        if scheme == "iobes":
            if p_prefix in "BI":
                return n_prefix in "IE" and n_type == p_type
            return n_prefix in "OBS"
        if scheme == "iob2":
            return n_prefix != "I" or (p_prefix in "BI" and p_type == n_type)
        return n_prefix != "B" or (p_prefix in "BI" and p_type == n_type)  # iob1: B only after same type

    start = [(prefix in "OBS") if scheme == "iobes" else (prefix != "I" if scheme == "iob2" else prefix != "B")
             for prefix, _ in parsed]
    end = [(prefix in "OES") if scheme == "iobes" else True for prefix, _ in parsed]
    transitions = [[can_follow(prev, nxt) for nxt in parsed] for prev in parsed]
    return start, transitions, end


def is_valid(tags: list[str], scheme: str = "iobes") -> bool:
    """Whether a sequence obeys the scheme's transition constraints."""
    if not tags:
        return True
    if any(split_tag(tag)[0] not in ("OBIES" if scheme == "iobes" else "OBI") for tag in tags):
        return False  # E-/S- tags do not belong to IOB1/IOB2
    vocabulary = sorted(set(tags))
    index = {tag: i for i, tag in enumerate(vocabulary)}
    start, transitions, end = allowed_transitions(vocabulary, scheme)
    if not start[index[tags[0]]] or not end[index[tags[-1]]]:
        return False
    return all(transitions[index[a]][index[b]] for a, b in zip(tags, tags[1:]))


class BatchChunker:
    """``chunks`` and ``convert(..., "iob2")`` for a whole batch of tag-id paths at once (numpy, no loop over
    tokens), equal to the per-sentence functions on any sequence, valid or not (tested against them)."""

    _CODES = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}

    def __init__(self, names: list[str]):
        import numpy as np

        split = [split_tag(name) for name in names]
        self.kinds = sorted({kind for _, kind in split if kind is not None})
        index = {kind: position for position, kind in enumerate(self.kinds)}
        self.prefix = np.array([self._CODES[prefix] for prefix, _ in split] + [0], dtype=np.int8)  # last: padding
        self.kind = np.array([index[kind] if kind is not None else -1 for _, kind in split] + [-1], dtype=np.int64)
        self.iob2 = np.array(["O"] + [f"B-{kind}" for kind in self.kinds] + [f"I-{kind}" for kind in self.kinds],
                             dtype=object)

    def __call__(self, paths, lengths):
        """``paths`` (batch, time) tag ids, ``lengths`` per row: ``(IOB2 tags per row, spans)`` where ``spans`` are
        ``(row, start, end_exclusive, type)`` in row order, then position order (as ``chunks`` gives them)."""
        import numpy as np

        lengths = np.asarray(lengths, dtype=np.int64)
        rows, width = paths.shape
        padded = np.full((rows, width + 1), len(self.prefix) - 1, dtype=np.int64)  # one padding column at least
        valid = np.arange(width + 1)[None, :] < lengths[:, None]
        padded[:, :width] = np.where(valid[:, :width], paths, len(self.prefix) - 1)
        prefix, kind = self.prefix[padded], self.kind[padded]
        before_prefix = np.concatenate([np.zeros((rows, 1), np.int8), prefix[:, :-1]], axis=1)
        before_kind = np.concatenate([np.full((rows, 1), -1), kind[:, :-1]], axis=1)
        inside = prefix != 0
        starts = inside & ((prefix == 1) | (prefix == 4) | (before_prefix == 0) | (before_prefix >= 3)
                           | (kind != before_kind))
        breaks = np.flatnonzero(~inside | starts)  # a chunk runs from its start to the next break (O, start, pad)
        first = np.flatnonzero(starts)
        last = breaks[np.searchsorted(breaks, first, side="right")]
        span_rows, span_starts = np.divmod(first, width + 1)
        spans = list(zip(span_rows.tolist(), span_starts.tolist(), (last - span_rows * (width + 1)).tolist(),
                         [self.kinds[k] for k in kind.reshape(-1)[first].tolist()]))
        codes = np.where(inside, 1 + kind + np.where(starts, 0, len(self.kinds)), 0)
        tags = [self.iob2[codes[row, :length]].tolist() for row, length in enumerate(lengths.tolist())]
        return tags, spans
