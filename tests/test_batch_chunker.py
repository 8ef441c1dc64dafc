"""BatchChunker: the batch form of ``chunks`` and IOB2 conversion equals the per-sentence functions on any tag-id
paths (valid IOBES or not), padding beyond each row's length ignored."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zsner.data.tags import BatchChunker, chunks, convert

NAMES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "I-MISC", "B-ORG"]


@st.composite
def batches(draw):
    rows = draw(st.integers(1, 6))
    width = draw(st.integers(1, 12))
    paths = np.array(draw(st.lists(st.lists(st.integers(0, len(NAMES) - 1), min_size=width, max_size=width),
                                   min_size=rows, max_size=rows)))
    lengths = draw(st.lists(st.integers(0, width), min_size=rows, max_size=rows))
    return paths, lengths


@settings(max_examples=400, deadline=None)
@given(batches())
def test_batch_equals_per_sentence(batch):
    paths, lengths = batch
    tags, spans = BatchChunker(NAMES)(paths, lengths)
    names = [[NAMES[i] for i in paths[row, :length]] for row, length in enumerate(lengths)]
    assert tags == [convert(row, "iob2") for row in names]
    assert spans == [(row, start, end, kind) for row, sentence in enumerate(names)
                     for kind, start, end in chunks(sentence)]


def test_known_values():
    names = ["O", "B-PER", "E-PER", "S-LOC", "I-LOC"]
    tags, spans = BatchChunker(names)(np.array([[1, 2, 0, 3, 4, 4], [4, 4, 1, 0, 0, 0]]), [6, 3])
    assert tags == [["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"], ["B-LOC", "I-LOC", "B-PER"]]
    assert spans == [(0, 0, 2, "PER"), (0, 3, 4, "LOC"), (0, 4, 6, "LOC"), (1, 0, 2, "LOC"), (1, 2, 3, "PER")]
