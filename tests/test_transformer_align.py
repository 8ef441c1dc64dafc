"""Word <-> sub-token alignment and overlapping windows of the transformer backend."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

from zsner.data.tags import chunks, convert
from zsner.transformer.align import (IGNORE, PieceTokenizer, batches_in_order, collate, make_windows, merge,
                                     plan_windows, window_labels)
from zsner.transformer.data import read_split
from zsner.transformer.tiny import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
E5 = Path(os.environ.get("ZSNER_MODELS", Path.home() / ".cache/zsner/models")) / "multilingual-e5-small"


@pytest.fixture(scope="module")
def english():
    return read_split("en", "train", 80)


@pytest.fixture(scope="module")
def tokenizer(english, tmp_path_factory):
    from transformers import AutoTokenizer

    words = [w for s in english for w in s.words]
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"), words, whole_words=60)
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def check_plan(counts, window, overlap):
    """Every invariant of a window plan, checked directly."""
    planned = plan_windows(counts, window, overlap)
    n = len(counts)
    owned = []
    for index, (start, end, own_start, own_end) in enumerate(planned):
        assert 0 <= start < end <= n
        assert sum(counts[start:end]) <= window - 2
        assert start <= own_start < own_end <= end
        owned.extend(range(own_start, own_end))
        if index:
            previous = planned[index - 1]
            assert previous[0] < start <= previous[1] < end  # progress, no gap, each window reaches a new word
            assert sum(counts[start:previous[1]]) <= overlap
        if index == len(planned) - 1:
            assert end == n
        else:  # greedy: the next word would not have fitted
            assert sum(counts[start:end + 1]) > window - 2
    assert owned == list(range(n))  # every word owned exactly once, in order
    return planned


def test_plan_windows_exact_case():
    # 20 one-piece words, 8 pieces per window, 3 shared: starts every 5 words, overlap split in the middle
    assert plan_windows([1] * 20, 10, 3) == [(0, 8, 0, 7), (5, 13, 7, 12), (10, 18, 12, 17), (15, 20, 17, 20)]
    assert plan_windows([2, 3], 64, 8) == [(0, 2, 0, 2)]
    assert plan_windows([], 64, 8) == []


def test_plan_windows_invariants_random():
    rng = random.Random(0)
    for _ in range(500):
        window = rng.randint(6, 30)
        overlap = rng.randint(0, window - 3)
        counts = [rng.randint(1, min(5, window - 2)) for _ in range(rng.randint(1, 60))]
        check_plan(counts, window, overlap)
    with pytest.raises(ValueError):
        plan_windows([1, 9], 10, 2)


def test_word_pieces_match_tokenizer_alignment(tokenizer, english):
    tokens = PieceTokenizer(tokenizer, max_word_pieces=100)
    for sentence in english[:40]:
        encoded = tokenizer(sentence.words, is_split_into_words=True, add_special_tokens=False)
        reference = [[] for _ in sentence.words]
        for piece, word in zip(encoded["input_ids"], encoded.word_ids()):
            reference[word].append(piece)
        assert tokens.word_pieces(sentence.words) == reference
    assert tokens.word_pieces([""]) == [[tokens.unk_id]]  # a word with no piece is kept, as the unknown piece
    capped = PieceTokenizer(tokenizer, max_word_pieces=2)
    long_word = "zqxwzqxwzqxw"
    assert capped.word_pieces([long_word])[0] == tokens.word_pieces([long_word])[0][:2]


@pytest.mark.skipif(not (E5 / "tokenizer.json").is_file(), reason="multilingual-e5-small folder not built")
def test_word_pieces_match_xlmr_sentencepiece():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(E5), local_files_only=True)
    tokens = PieceTokenizer(tokenizer, max_word_pieces=100)
    for sentence in read_split("es", "train", 30):
        encoded = tokenizer(sentence.words, is_split_into_words=True, add_special_tokens=False)
        reference = [[] for _ in sentence.words]
        for piece, word in zip(encoded["input_ids"], encoded.word_ids()):
            reference[word].append(piece)
        assert tokens.word_pieces(sentence.words) == reference


def test_windows_round_trip_long_sentence(tokenizer, english):
    tokens = PieceTokenizer(tokenizer, max_word_pieces=6)
    long_sentence = [w for s in english[:12] for w in s.words]  # far longer than one window
    short = min((s.words for s in english[20:40]), key=len)
    pieces = [tokens.word_pieces(long_sentence), tokens.word_pieces(short)]
    window, overlap = 24, 6
    windows = make_windows(pieces, window, overlap)
    long_windows = [w for w in windows if w.sentence == 0]
    assert len(long_windows) > 3 and sum(w.sentence == 1 for w in windows) == 1
    check_plan([len(p) for p in pieces[0]], window, overlap)
    assert any(w.start < long_windows[i - 1].end for i, w in enumerate(long_windows) if i)  # real overlap
    # labels = word positions: every word must come back to its own position
    positions = [list(range(w.start, w.end)) for w in windows]
    batch = collate(windows, pieces, tokens, positions)
    assert batch.input_ids.shape[1] <= window
    predicted = []
    for row, item in enumerate(windows):
        count = int(batch.word_mask[row].sum())
        assert count == item.end - item.start
        # the first piece of each word sits at word_index, and the pieces of the window are the words' pieces
        firsts = batch.input_ids[row, batch.word_index[row, :count]].tolist()
        assert firsts == [pieces[item.sentence][w][0] for w in range(item.start, item.end)]
        length = int(batch.attention_mask[row].sum())
        ids = batch.input_ids[row, :length].tolist()
        assert ids[0] == tokens.cls_id and ids[-1] == tokens.sep_id
        assert ids[1:-1] == [p for w in range(item.start, item.end) for p in pieces[item.sentence][w]]
        owner = batch.piece_word[row, :length].tolist()
        assert owner[0] == owner[-1] == -1
        assert owner[1:-1] == [w - item.start for w in range(item.start, item.end) for _ in pieces[item.sentence][w]]
        assert batch.labels[row, count:].eq(IGNORE).all()
        predicted.append(batch.labels[row, :count].tolist())
    assert merge(windows, predicted, [len(long_sentence), len(short)]) == [list(range(len(long_sentence))),
                                                                           list(range(len(short)))]
    order = batches_in_order(windows, pieces, 3)
    assert sorted(i for batch_ids in order for i in batch_ids) == list(range(len(windows)))


def test_merge_rejects_double_or_missing_ownership(tokenizer):
    from zsner.transformer.align import Window

    with pytest.raises(ValueError):
        merge([Window(0, 0, 3, 0, 3), Window(0, 2, 4, 2, 4)], [[0, 0, 0], [0, 0]], [4])
    with pytest.raises(ValueError):
        merge([Window(0, 0, 3, 0, 2)], [[0, 0, 0]], [3])


@pytest.mark.parametrize("scheme", ["iob2", "iobes"])
def test_window_labels_are_valid_sequences(scheme):
    from zsner.data.tags import is_valid, tag_set

    tags = tag_set(["PER", "LOC"], scheme)
    gold = convert(["B-PER", "I-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"], scheme)
    ids = [tags.index(t) for t in gold]
    windows = make_windows([[[1]] * 7], 6, 2)  # 4 words per window: cuts the PER and LOC entities
    assert [(w.start, w.end) for w in windows] == [(0, 4), (2, 6), (4, 7)]
    per_window = window_labels(windows, [ids], tags, scheme)
    for item, labels in zip(windows, per_window):
        names = [tags[i] for i in labels]
        assert is_valid(names, scheme)
        assert [(k, s + item.start, e + item.start) for k, s, e in chunks(names)] == \
            [(k, max(s, item.start), min(e, item.end)) for k, s, e in chunks(gold) if s < item.end and e > item.start]
    assert merge(windows, per_window, [7]) == [ids]  # owned words keep their sentence-level tags
