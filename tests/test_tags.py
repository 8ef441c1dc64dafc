"""Tag schemes: chunking, lossless conversion IOB1 <-> IOB2 <-> IOBES, stray I- repair, transition masks, is_valid."""
from __future__ import annotations

import itertools
import random

import pytest

from zsner.data.tags import (SCHEMES, allowed_transitions, chunks, convert, detect_scheme, from_chunks, is_valid,
                             split_tag, tag_set)

TYPES = ("PER", "LOC")

# One span set written in the three schemes (two touching PER chunks, a single-token LOC, a 3-token LOC).
SPANS = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("LOC", 6, 9)]
WRITTEN = {
    "iob1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "O", "I-LOC", "I-LOC", "I-LOC"],
    "iob2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "O", "B-LOC", "I-LOC", "I-LOC"],
    "iobes": ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "O", "B-LOC", "I-LOC", "E-LOC"],
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_known_sequence_chunks_and_writes(scheme):
    assert chunks(WRITTEN[scheme]) == SPANS
    assert from_chunks(SPANS, 9, scheme) == WRITTEN[scheme]


@pytest.mark.parametrize("source,target", list(itertools.product(SCHEMES, SCHEMES)))
def test_known_sequence_conversion(source, target):
    assert convert(WRITTEN[source], target) == WRITTEN[target]


def test_split_tag():
    assert split_tag("O") == ("O", None)
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-B-X") == ("I", "B-X")


@pytest.mark.parametrize("tags,expected", [
    (["O", "I-PER", "I-PER"], [("PER", 1, 3)]),  # stray start after O
    (["I-PER"], [("PER", 0, 1)]),  # stray start at sentence start
    (["B-LOC", "I-PER"], [("LOC", 0, 1), ("PER", 1, 2)]),  # type change
    (["S-LOC", "I-LOC"], [("LOC", 0, 1), ("LOC", 1, 2)]),  # after a closed chunk
    (["B-LOC", "E-LOC", "E-LOC"], [("LOC", 0, 2), ("LOC", 2, 3)]),
    (["B-PER", "I-PER", "O", "I-PER", "E-PER"], [("PER", 0, 2), ("PER", 3, 5)]),
    (["O", "O"], []),
    ([], []),
])
def test_stray_starts_are_repaired_as_B(tags, expected):
    assert chunks(tags) == expected
    repaired = convert(tags, "iob2")
    assert chunks(repaired) == expected
    assert is_valid(repaired, "iob2")


def random_tags(rng: random.Random, length: int, prefixes: str = "BIES") -> list[str]:
    return [rng.choice(["O"] + [f"{p}-{t}" for p in prefixes for t in TYPES]) for _ in range(length)]


def reference_chunks_iob2(tags: list[str]) -> list[tuple[str, int, int]]:
    """Independent chunker for valid IOB2: B- starts, I- of the same type continues."""
    found = []
    for position, tag in enumerate(tags):
        if tag.startswith("B-"):
            found.append([tag[2:], position, position + 1])
        elif tag.startswith("I-"):
            found[-1][2] = position + 1
    return [tuple(chunk) for chunk in found]


def random_spans(rng: random.Random, length: int) -> list[tuple[str, int, int]]:
    spans, position = [], 0
    while position < length:
        if rng.random() < 0.4:
            end = rng.randint(position + 1, min(length, position + 4))
            spans.append((rng.choice(TYPES), position, end))
            position = end
        else:
            position += 1
    return spans


def test_property_spans_survive_every_scheme():
    rng = random.Random(7)
    for _ in range(800):
        length = rng.randint(0, 12)
        spans = random_spans(rng, length)
        for scheme in SCHEMES:
            tags = from_chunks(spans, length, scheme)
            assert chunks(tags) == spans, (scheme, tags)
            assert is_valid(tags, scheme), (scheme, tags)
        assert reference_chunks_iob2(from_chunks(spans, length, "iob2")) == spans


def test_property_conversion_is_lossless_and_idempotent():
    rng = random.Random(11)
    for _ in range(1500):
        tags = random_tags(rng, rng.randint(0, 10))
        spans = chunks(tags)
        for target in SCHEMES:
            converted = convert(tags, target)
            assert len(converted) == len(tags)
            assert chunks(converted) == spans
            assert is_valid(converted, target)
            assert convert(converted, target) == converted
            for other in SCHEMES:  # going through any scheme and back loses nothing
                assert convert(convert(converted, other), target) == converted
        # O positions never change, entity positions keep their type
        for tag, new in zip(tags, convert(tags, "iobes")):
            assert (tag == "O") == (new == "O") and split_tag(tag)[1] == split_tag(new)[1]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_property_is_valid_iff_conversion_is_identity(scheme):
    """Within a scheme's own tag set, a sequence is valid exactly when rewriting it in that scheme changes nothing."""
    prefixes = {"iob1": "BI", "iob2": "BI", "iobes": "BIES"}[scheme]
    rng = random.Random(3)
    seen = {True: 0, False: 0}
    for _ in range(3000):
        tags = random_tags(rng, rng.randint(1, 6), prefixes)
        valid = is_valid(tags, scheme)
        seen[valid] += 1
        assert valid == (convert(tags, scheme) == tags), tags
    assert seen[True] > 100 and seen[False] > 100


@pytest.mark.parametrize("tags,scheme,valid", [
    (["B-PER", "I-PER", "O"], "iob2", True),
    (["O", "I-PER"], "iob2", False),
    (["B-PER", "I-LOC"], "iob2", False),
    (["I-PER", "I-PER", "B-PER"], "iob1", True),
    (["B-PER"], "iob1", False),
    (["I-LOC", "B-PER"], "iob1", False),
    (["B-PER", "E-PER", "S-LOC"], "iobes", True),
    (["B-PER"], "iobes", False),  # open chunk at the end
    (["I-PER", "E-PER"], "iobes", False),
    (["B-PER", "O"], "iobes", False),
    (["S-PER", "E-PER"], "iobes", False),
    (["B-PER", "E-LOC"], "iobes", False),
    ([], "iobes", True),
    (["S-PER"], "iob2", False),  # E-/S- are not IOB2 or IOB1 tags
    (["B-PER", "E-PER"], "iob2", False),
    (["I-PER", "E-PER"], "iob1", False),
])
def test_is_valid_cases(tags, scheme, valid):
    assert is_valid(tags, scheme) == valid


def brute_force_mask(tags: list[str], scheme: str):
    """Allowed start/transition/end from the definition: a tag pair is allowed iff some valid sequence has it."""
    sequences = [list(s) for n in (1, 2, 3, 4) for s in itertools.product(tags, repeat=n)]
    valid = [s for s in sequences if is_valid(s, scheme)]
    start = [any(s[0] == tag for s in valid) for tag in tags]
    end = [any(s[-1] == tag for s in valid) for tag in tags]
    pairs = {(a, b) for s in valid for a, b in zip(s, s[1:])}
    transitions = [[(a, b) in pairs for b in tags] for a in tags]
    return start, transitions, end


@pytest.mark.parametrize("scheme", SCHEMES)
def test_allowed_transitions_match_valid_sequences(scheme):
    tags = tag_set(TYPES, scheme)
    start, transitions, end = allowed_transitions(tags, scheme)
    assert len(transitions) == len(tags) and all(len(row) == len(tags) for row in transitions)
    assert (start, transitions, end) == brute_force_mask(tags, scheme)


def test_iobes_mask_known_entries():
    tags = tag_set(["PER"], "iobes")
    assert tags == ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    start, transitions, end = allowed_transitions(tags, "iobes")
    assert start == [True, True, False, False, True]
    assert end == [True, False, False, True, True]
    assert transitions == [
        [True, True, False, False, True],  # from O
        [False, False, True, True, False],  # from B
        [False, False, True, True, False],  # from I
        [True, True, False, False, True],  # from E
        [True, True, False, False, True],  # from S
    ]


def test_tag_set():
    assert tag_set(["PER", "LOC", "PER"], "iob2") == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert len(tag_set(["PER", "LOC", "ORG", "MISC"], "iobes")) == 17


@pytest.mark.parametrize("scheme", SCHEMES)
def test_detect_scheme_on_converted_corpus(scheme):
    rng = random.Random(5)
    corpus = [from_chunks(spans, 10, scheme) for spans in (random_spans(rng, 10) for _ in range(200))]
    result = detect_scheme(corpus)
    assert result["scheme"] == scheme
    assert result["stray_starts"] == 0


def test_detect_scheme_counts_stray_starts():
    iob2 = [["B-PER", "I-PER", "O"], ["O", "I-LOC"], ["B-ORG"]]
    assert detect_scheme(iob2) == {"scheme": "iob2", "chunk_starts_with_I": 1, "stray_starts": 1}
    iob1 = [["I-PER", "I-PER", "B-PER"], ["O", "I-LOC"], ["O", "B-MISC"]]  # the English B-MISC after O
    assert detect_scheme(iob1) == {"scheme": "iob1", "chunk_starts_with_I": 2, "stray_starts": 1}
