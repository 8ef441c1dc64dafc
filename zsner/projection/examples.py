"""Training examples of the entity-alignment model, from the parallel text alone (no human labels).

Positives: an English entity and the target span it translates to, when the same word sequence occurs exactly
once in the target sentence (``identical``) or when the similarity projection of the entity was confident
(``similarity``: projected without a filled gap, every entity word aligned into the span). Negatives (a share
``negative_share`` of all examples): an English entity of another pair whose words occur nowhere in the target
sentence and which differs from every entity of that pair's own English side, so its translation is absent too.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .parallel import Pair
from .spans import Projection


@dataclass
class Example:
    entity: list[str]
    target: list[str]
    span: tuple[int, int] | None  # target words of the translated entity; None for a negative
    origin: str  # identical | similarity | negative
    line: int  # the pair's line in the parallel files (0-based)


def occurrences(needle: list[str], words: list[str], lower: bool = False) -> list[int]:
    """Start positions of ``needle`` as a contiguous word sequence of ``words``."""
    if lower:
        needle, words = [w.lower() for w in needle], [w.lower() for w in words]
    size = len(needle)
    return [i for i in range(len(words) - size + 1) if words[i:i + size] == needle] if size else []


def identical_span(entity: list[str], target: list[str]) -> tuple[int, int] | None:
    """The target span spelt exactly as the entity, when it occurs exactly once."""
    found = occurrences(entity, target)
    return (found[0], found[0] + len(entity)) if len(found) == 1 else None


def positives(pairs: list[Pair], entities: list[list[tuple[str, int, int]]],
              projections: list[list[Projection] | None]) -> list[Example]:
    """Identical-string and confident-similarity positives, at most one per entity (identical first)."""
    found = []
    for pair, spans, projected in zip(pairs, entities, projections):
        confident = {(p.start, p.end): p.span for p in projected or [] if p.ok and p.covered and not p.gap_filled}
        for _, start, end in spans:
            words = pair.src[start:end]
            span = identical_span(words, pair.tgt)
            origin = "identical" if span else "similarity"
            span = span or confident.get((start, end))
            if span:
                found.append(Example(words, pair.tgt, span, origin, pair.line))
    return found


def negatives(pairs: list[Pair], entities: list[list[tuple[str, int, int]]], count: int, rng: random.Random,
              tries: int = 50) -> list[Example]:
    """``count`` negatives (fewer only when no entity string fits after ``tries`` draws each)."""
    strings = sorted({tuple(pair.src[s:e]) for pair, spans in zip(pairs, entities) for _, s, e in spans})
    own = [{tuple(w.lower() for w in pair.src[s:e]) for _, s, e in spans} for pair, spans in zip(pairs, entities)]
    found = []
    for _ in range(count if strings else 0):
        for _ in range(tries):
            index = rng.randrange(len(pairs))
            entity = list(rng.choice(strings))
            if tuple(w.lower() for w in entity) not in own[index] and not occurrences(entity, pairs[index].tgt, True):
                found.append(Example(entity, pairs[index].tgt, None, "negative", pairs[index].line))
                break
    return found


def build_examples(pairs: list[Pair], entities: list[list[tuple[str, int, int]]],
                   projections: list[list[Projection] | None], total: int, negative_share: float,
                   seed: int) -> list[Example]:
    """Up to ``total`` examples, ``negative_share`` of them negatives (the share holds when positives run short:
    negatives then shrink with them), shuffled."""
    rng = random.Random(seed)
    pool = positives(pairs, entities, projections)
    rng.shuffle(pool)
    chosen = pool[: total - round(total * negative_share)]
    wanted = round(len(chosen) * negative_share / (1.0 - negative_share))
    examples = chosen + negatives(pairs, entities, wanted, rng)
    rng.shuffle(examples)
    return examples
