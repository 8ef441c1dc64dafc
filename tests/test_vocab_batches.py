"""Vocabularies (Lample et al.: train words + dev/test words with a vector), embedding matrix rows, and batches:
padding, masks, form tables, character encodings, bucketed and sequential orders."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from zsner.data.batches import EncodedCorpus, bucketed_order, cycle, sequential_order
from zsner.data.conll import Sentence
from zsner.data.tags import convert, tag_set
from zsner.data.vocab import PAD, UNK, Vocabulary, build_word_vocab, char_vocab, embedding_matrix, word_id
from zsner.embeddings import WordVectors

torch.set_num_threads(1)

PRETRAINED = ["the", "paris", "berlin", "0000", "rome", "eu", "madrid"]
DIM = 4


@pytest.fixture
def vectors() -> WordVectors:
    matrix = np.random.default_rng(3).normal(size=(len(PRETRAINED), DIM)).astype(np.float32)
    return WordVectors(list(PRETRAINED), matrix)


def test_vocabulary_basics():
    vocab = Vocabulary()
    assert vocab.items == [PAD, UNK] and len(vocab) == 2
    assert vocab.add("a") == 2 and vocab.add("b") == 3 and vocab.add("a") == 2
    assert vocab.get("b") == 3 and vocab.get("zzz") == 1 and "a" in vocab and "zzz" not in vocab
    assert Vocabulary(["x", "y"]).index == {"x": 0, "y": 1}


def test_a_tag_vocabulary_has_no_silent_fallback():
    """Index 1 of a tag table is a real tag (B-LOC here): an unknown tag must never be read as it."""
    from zsner.errors import ZsnerError

    tags = Vocabulary(tag_set(["LOC", "PER"], "iobes"))
    assert tags.items[1] == "B-LOC" and tags.get("S-PER") == tags.index["S-PER"]
    with pytest.raises(KeyError):
        tags.get("B-MISC")
    words = build_word_vocab(["Paris"], [], None)
    with pytest.raises(ZsnerError, match="tag 'S-MISC' is not in the model's tag set"):
        EncodedCorpus([Sentence(["Paris"], ["B-MISC"])], words, char_vocab(["P"]), tags)


def test_lample_vocabulary(vectors):
    train = ["the", "EU", "rejects", "the", "call", "the", "EU"]
    other = ["Berlin", "BERLIN", "1996", "Lisbon", "rejects", "Rome", "the", "madrid"]
    vocab = build_word_vocab(train, other, vectors)
    # training words by frequency (ties in first-seen order), then each dev/test word that has a vector and is
    # not yet reachable by the lookup policy: "BERLIN" looks up BERLIN/berlin, not "Berlin", so it is added too.
    assert vocab.items == [PAD, UNK, "the", "EU", "rejects", "call", "Berlin", "BERLIN", "1996", "Rome", "madrid"]
    assert "Lisbon" not in vocab  # no pretrained vector, not in train
    assert word_id(vocab, "Lisbon") == 1
    assert word_id(vocab, "eu") == 1  # lookup only goes to lowercase, never back up
    assert word_id(vocab, "THE") == vocab.index["the"]
    assert word_id(vocab, "rejects") == 4


def test_vocabulary_without_vectors_is_train_only():
    vocab = build_word_vocab(["b", "a", "b"], ["c", "d"], None)
    assert vocab.items == [PAD, UNK, "b", "a"]


def test_property_vocabulary_definition(vectors):
    rng = random.Random(0)
    pool = PRETRAINED + ["The", "PARIS", "Rome", "1999", "x", "y", "Zz", "42", "q1"]
    for _ in range(200):
        train = [rng.choice(pool) for _ in range(rng.randint(0, 10))]
        other = [rng.choice(pool) for _ in range(rng.randint(0, 10))]
        vocab = build_word_vocab(train, other, vectors)
        assert vocab.items[:2] == [PAD, UNK] and len(set(vocab.items)) == len(vocab)
        assert set(train) <= set(vocab.items)
        extra = set(vocab.items[2:]) - set(train)
        assert all(word in other and vectors.lookup(word) is not None for word in extra)
        for word in other:  # every dev/test word with a vector can be looked up
            if vectors.lookup(word) is not None:
                assert word_id(vocab, word) != 1


def test_embedding_matrix_rows(vectors):
    vocab = build_word_vocab(["the", "EU", "unknownword", "1996"], ["Paris"], vectors)
    matrix, found = embedding_matrix(vocab, vectors, DIM, seed=5)
    assert matrix.shape == (len(vocab), DIM) and matrix.dtype == np.float32
    assert not matrix[0].any()  # padding row
    for word in ("the", "EU", "1996", "Paris"):
        np.testing.assert_array_equal(matrix[vocab.index[word]], vectors.vector(word))
    assert found == 4
    random_row = matrix[vocab.index["unknownword"]]
    assert np.all(np.abs(random_row) <= np.sqrt(3 / DIM)) and random_row.any()
    again, _ = embedding_matrix(vocab, vectors, DIM, seed=5)
    np.testing.assert_array_equal(matrix, again)
    with pytest.raises(ValueError, match="dimension"):
        embedding_matrix(vocab, vectors, DIM + 1)


def test_char_vocab():
    chars = char_vocab(["aab", "ba", "c"])
    assert chars.items == [PAD, UNK, "a", "b", "c"]
    assert char_vocab(["aab", "ba", "c"], min_count=2).items == [PAD, UNK, "a", "b"]


# -- batches --------------------------------------------------------------------------------------------------

SENTENCES = [
    Sentence(["EU", "rejects", "German", "call"], ["I-ORG", "O", "I-MISC", "O"]),
    Sentence(["Peter", "Blackburn"], ["I-PER", "I-PER"]),
    Sentence(["BRUSSELS", "1996-08-22"], ["I-LOC", "O"]),
    Sentence(["The", "European", "Commission", "said", "on", "Thursday", "it", "disagreed"],
             ["O", "I-ORG", "I-ORG", "O", "O", "O", "O", "O"]),
    Sentence(["EU"], ["I-ORG"]),
    Sentence(["Supercalifragilisticexpialidocious-words", "the", "EU"], ["B-MISC", "O", "I-ORG"]),
]
TAGS = Vocabulary(tag_set(["PER", "LOC", "ORG", "MISC"], "iobes"))


WORDS = build_word_vocab([w for s in SENTENCES[:4] for w in s.words], [], None)
CHARS = char_vocab(w for s in SENTENCES for w in s.words)


@pytest.fixture
def corpus() -> EncodedCorpus:
    return EncodedCorpus(SENTENCES, WORDS, CHARS, TAGS, max_word_length=10)


@pytest.mark.parametrize("indices", [[0, 1, 2, 3, 4, 5], [3, 1], [4], [5, 0, 4], [1, 1]])
def test_batch_padding_masks_words_tags(corpus, indices):
    batch = corpus.batch(indices)
    lengths = [len(SENTENCES[i]) for i in indices]
    assert batch.words.shape == batch.tags.shape == batch.mask.shape == batch.form_positions.shape
    assert batch.words.shape == (len(indices), max(lengths))
    assert batch.mask.dtype == torch.bool
    assert batch.mask.sum(1).tolist() == lengths
    assert list(batch.indices) == indices
    for row, index in enumerate(indices):
        n = lengths[row]
        assert batch.mask[row, :n].all() and not batch.mask[row, n:].any()
        assert not batch.words[row, n:].any() and not batch.tags[row, n:].any()
        sentence = SENTENCES[index]
        assert batch.words[row, :n].tolist() == [word_id(WORDS, w) for w in sentence.words]
        assert [TAGS.items[t] for t in batch.tags[row, :n].tolist()] == convert(sentence.tags, "iobes")


def test_word_ids_known_values():
    words = build_word_vocab(["EU", "rejects", "EU"], [], None)
    corpus = EncodedCorpus(SENTENCES[:1] + SENTENCES[4:5], words, char_vocab(["EU"]), TAGS)
    batch = corpus.batch([0, 1])
    assert batch.words.tolist() == [[2, 3, 1, 1], [2, 0, 0, 0]]
    names = [[TAGS.items[t] for t in row] for row in batch.tags.tolist()]
    assert names == [["S-ORG", "O", "S-MISC", "O"], ["S-ORG", "O", "O", "O"]]  # IOB1 read, IOBES written


@pytest.mark.parametrize("indices", [[0, 1, 2, 3, 4, 5], [5, 0, 4], [2], [0, 4]])
def test_forms_and_chars_decode_to_the_tokens(corpus, indices):
    batch = corpus.batch(indices)
    assert len(set(batch.forms.tolist())) == len(batch.forms)  # distinct forms only
    real_forms = {int(f) for i in indices for f in corpus.form_ids[i]}
    assert set(batch.forms.tolist()) == real_forms  # padding adds no extra form to encode
    assert batch.chars.shape == (len(batch.forms), int(batch.char_lengths.max()))
    for row, index in enumerate(indices):
        n = len(SENTENCES[index])
        # forms[form_positions] gives each real token's form id
        assert batch.forms[batch.form_positions[row, :n]].tolist() == corpus.form_ids[index].tolist()
        for position, word in enumerate(SENTENCES[index].words):
            u = int(batch.form_positions[row, position])
            n_chars = int(batch.char_lengths[u])
            decoded = "".join(CHARS.items[c] for c in batch.chars[u, :n_chars].tolist())
            if len(word) <= 10:
                assert decoded == word and not batch.chars[u, n_chars:].any()
            else:  # long words keep head and tail
                assert n_chars == 10 and decoded == word[:5] + word[-5:]
    # the same word has the same form everywhere, different words different forms
    pairs = {(w, int(f)) for i in indices for w, f in zip(SENTENCES[i].words, corpus.form_ids[i])}
    assert len({w for w, _ in pairs}) == len({f for _, f in pairs}) == len(pairs)
    assert int(batch.form_positions.max()) < len(batch.forms)


def test_unlabelled_corpus_has_zero_tags():
    words = build_word_vocab(["EU"], [], None)
    unlabelled = EncodedCorpus(SENTENCES, words, char_vocab(["E", "U"]), None)
    batch = unlabelled.batch([0, 3])
    assert not batch.tags.any() and batch.mask.sum().item() == 12
    # characters outside the char vocabulary are <unk> (1), never padding
    u = int(batch.form_positions[0, 1])  # "rejects"
    assert batch.chars[u, :7].tolist() == [1] * 7


def test_batch_to_keeps_values(corpus):
    batch = corpus.batch([0, 1])
    moved = batch.to("cpu")
    assert torch.equal(moved.words, batch.words) and torch.equal(moved.mask, batch.mask)
    assert list(moved.indices) == [0, 1]


@pytest.mark.parametrize("n,batch_size,pool", [(1, 4, 50), (10, 3, 1), (103, 8, 2), (1000, 16, 50), (57, 64, 3)])
def test_bucketed_order_covers_every_sentence_once(n, batch_size, pool):
    lengths = np.random.default_rng(n).integers(1, 60, size=n)
    batches = bucketed_order(lengths, batch_size, np.random.default_rng(1), pool=pool)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(n))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert len(batches) == sum(-(-len(range(s, min(s + batch_size * pool, n))) // batch_size)
                               for s in range(0, n, batch_size * pool))
    # deterministic for a seed
    again = bucketed_order(lengths, batch_size, np.random.default_rng(1), pool=pool)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_bucketed_order_groups_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 100, size=2000)
    batches = bucketed_order(lengths, 16, np.random.default_rng(0), pool=50)
    padding = sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)
    shuffled = np.random.default_rng(0).permutation(2000)
    random_padding = sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum())
                         for b in (shuffled[i:i + 16] for i in range(0, 2000, 16)))
    assert padding < random_padding / 5


def test_cycle_repeats_passes_and_draws_fresh_ones():
    same = [[0], [1], [2]]
    assert cycle(lambda: same, 7) == [same[i % 3] for i in range(7)]  # the classic round: one pass, repeated
    passes = iter([[[0], [1]], [[2], [3]], [[4], [5]]])
    assert cycle(lambda: next(passes), 5) == [[0], [1], [2], [3], [4]]  # fresh passes, in order, cut at count
    assert cycle(lambda: same, 0) == []
    with pytest.raises(ValueError):
        cycle(lambda: [], 1)


def test_sequential_order():
    lengths = np.array([5, 1, 3, 3, 9, 2, 7])
    batches = sequential_order(lengths, 3)
    assert [b.tolist() for b in batches] == [[1, 5, 2], [3, 0, 6], [4]]
