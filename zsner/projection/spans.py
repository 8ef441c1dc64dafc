"""From the target words an entity is aligned to (or predicted in) to its projected span, and from a sentence's
projections to its target tags -- or to the reason the sentence is dropped.

Rules, per entity: no target word -> ``unaligned``; the span is ``[min, max]`` of those words, and a gap inside it
is taken in only when its words are aligned to nothing outside the entity (and ``fill_gaps`` is on), else
``broken``; source and target lengths with ``max > ratio * min + slack`` -> ``length``; spans of two entities
that overlap -> ``ambiguous`` (both). A sentence with any failed entity is dropped (its first failure's reason).
Optionally (``cased``), a projected span without a capitalised target word is written as O: the target's
guidelines tag proper names only (Spanish "español" is not an entity where English "Spanish" is MISC).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data.tags import from_chunks

REASONS = ("unaligned", "broken", "length", "ambiguous")


@dataclass
class Projection:
    """One source entity ``kind [start, end)`` and its target span ``[tgt_start, tgt_end)`` or failure reason."""

    kind: str
    start: int
    end: int
    tgt_start: int = -1
    tgt_end: int = -1
    reason: str = ""  # empty when projected
    gap_filled: bool = False
    covered: bool = False  # every source word of the entity is aligned into the span

    @property
    def ok(self) -> bool:
        return not self.reason

    @property
    def span(self) -> tuple[int, int]:
        return self.tgt_start, self.tgt_end


def plausible_length(source: int, target: int, ratio: float, slack: int) -> bool:
    return max(source, target) <= ratio * min(source, target) + slack


def project_entity(kind: str, start: int, end: int, targets: set[int], outside: set[int], *, fill_gaps: bool,
                   ratio: float, slack: int) -> Projection:
    """The span of one entity from ``targets`` (its aligned target words) and ``outside`` (target words aligned to
    source words outside the entity)."""
    result = Projection(kind, start, end)
    if not targets:
        result.reason = "unaligned"
        return result
    low, high = min(targets), max(targets) + 1
    gap = set(range(low, high)) - targets
    if gap and (not fill_gaps or gap & outside):
        result.reason = "broken"
        return result
    result.tgt_start, result.tgt_end, result.gap_filled = low, high, bool(gap)
    if not plausible_length(end - start, high - low, ratio, slack):
        result.reason = "length"
    return result


def mark_overlaps(projections: list[Projection]) -> list[Projection]:
    """Projected spans that share a target word are ``ambiguous`` (both of them)."""
    done = [p for p in projections if p.ok]
    for index, first in enumerate(done):
        for second in done[index + 1:]:
            if first.tgt_start < second.tgt_end and second.tgt_start < first.tgt_end:
                first.reason = second.reason = "ambiguous"
    return projections


def from_alignment(entities: list[tuple[str, int, int]], aligned, *, fill_gaps: bool, ratio: float,
                   slack: int) -> list[Projection]:
    """Every entity of a sentence projected through a boolean alignment matrix ``[source words, target words]``."""
    projections = []
    for kind, start, end in entities:
        inside_rows = aligned[start:end]
        targets = set(inside_rows.any(axis=0).nonzero()[0].tolist())
        outside_rows = aligned[[i for i in range(aligned.shape[0]) if not start <= i < end]]
        outside = set(outside_rows.any(axis=0).nonzero()[0].tolist()) if len(outside_rows) else set()
        projection = project_entity(kind, start, end, targets, outside, fill_gaps=fill_gaps, ratio=ratio,
                                    slack=slack)
        if projection.ok or projection.reason == "length":
            projection.covered = bool(inside_rows[:, projection.tgt_start:projection.tgt_end].any(axis=1).all())
        projections.append(projection)
    return mark_overlaps(projections)


def cased(words: list[str]) -> bool:
    """Whether any of ``words`` starts with an uppercase letter (never true in a script without case)."""
    return any(word[:1].isupper() for word in words)


def sentence_tags(projections: list[Projection], length: int) -> tuple[list[str] | None, str]:
    """``(IOB2 target tags, "")`` when every entity was projected, else ``(None, first failure's reason)``."""
    for projection in projections:
        if not projection.ok:
            return None, projection.reason
    return from_chunks([(p.kind, p.tgt_start, p.tgt_end) for p in projections], length, "iob2"), ""


def uncased(projections: list[Projection], words: list[str]) -> list[Projection]:
    """The projected entities whose target span has no capitalised word."""
    return [p for p in projections if p.ok and not cased(words[p.tgt_start:p.tgt_end])]
