"""Word vector loading (.vec, .vec.gz, fastText .bin, word2vec binary, gensim .kv), truncation, bad files,
the exact -> lowercase -> digits-to-0 lookup policy, and coverage."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from zsner.embeddings import WordVectors, load_vectors, lookup_candidates, save_vec
from zsner.errors import ZsnerError

WORDS = ["the", "Paris", "paris", "0000", "über", "Müller", ",", "EU"]
DIM = 6


@pytest.fixture(scope="module")
def matrix16() -> np.ndarray:
    """A random matrix whose values are exactly representable in float16 (so every format stores them exactly)."""
    return np.random.default_rng(0).normal(size=(len(WORDS), DIM)).astype(np.float16).astype(np.float32)


def write_vec_text(path, words, matrix, header=True):
    lines = [f"{len(words)} {matrix.shape[1]}"] if header else []
    lines += [word + " " + " ".join(repr(float(v)) for v in row) for word, row in zip(words, matrix)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_kv(path, words, matrix, dtype=np.float32):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(matrix.shape[1], count=0, dtype=dtype)
    kv.add_vectors(words, matrix.astype(dtype))
    kv.save(str(path))
    return path


def write_word2vec_bin(path, words, matrix):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(matrix.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(words, matrix)
    kv.save_word2vec_format(str(path), binary=True)
    return path


@pytest.mark.parametrize("kind", ["vec", "vec-noheader", "vec.gz", "w2v.bin", "kv", "kv-float16"])
def test_every_format_loads_the_same_words_and_values(tmp_path, matrix16, kind):
    if kind == "vec":
        path = write_vec_text(tmp_path / "v.vec", WORDS, matrix16)
    elif kind == "vec-noheader":
        path = write_vec_text(tmp_path / "v.txt", WORDS, matrix16, header=False)
    elif kind == "vec.gz":
        path = write_vec_text(tmp_path / "v.vec.gz", WORDS, matrix16)
    elif kind == "w2v.bin":
        path = write_word2vec_bin(tmp_path / "v.bin", WORDS, matrix16)
    elif kind == "kv":
        path = write_kv(tmp_path / "v.kv", WORDS, matrix16)
    else:
        path = write_kv(tmp_path / "v16.kv", WORDS, matrix16, dtype=np.float16)
    vectors = load_vectors(path)
    assert vectors.words == WORDS
    assert vectors.matrix.dtype == np.float32 and vectors.dim == DIM and len(vectors) == len(WORDS)
    np.testing.assert_array_equal(vectors.matrix, matrix16)
    np.testing.assert_array_equal(vectors.vector("über"), matrix16[4])
    assert vectors.oov is None and vectors.vector("nowhere") is None


@pytest.mark.parametrize("name", ["out.vec", "out.vec.gz"])
def test_save_vec_round_trip(tmp_path, matrix16, name):
    save_vec(tmp_path / name, WORDS, matrix16)
    back = load_vectors(tmp_path / name)
    assert back.words == WORDS
    np.testing.assert_allclose(back.matrix, matrix16, atol=5e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("max_vocab", [1, 3, len(WORDS), 100])
def test_max_vocab_keeps_the_first_words(tmp_path, matrix16, max_vocab):
    for path in (write_vec_text(tmp_path / "v.vec", WORDS, matrix16), write_kv(tmp_path / "v.kv", WORDS, matrix16)):
        vectors = load_vectors(path, max_vocab=max_vocab)
        keep = min(max_vocab, len(WORDS))
        assert vectors.words == WORDS[:keep] and vectors.matrix.shape == (keep, DIM)
        np.testing.assert_array_equal(vectors.matrix, matrix16[:keep])
        assert ("EU" in vectors) == (keep == len(WORDS))


def test_fasttext_bin_words_and_subword_oov(tmp_path):
    fasttext = pytest.importorskip("fasttext")
    rng = np.random.default_rng(1)
    vocabulary = ["river", "rivers", "bank", "banks", "money", "water", "city", "cities", "north", "south"]
    text = "\n".join(" ".join(rng.choice(vocabulary, size=12)) for _ in range(200))
    (tmp_path / "corpus.txt").write_text(text + "\n", encoding="utf-8")
    model = fasttext.train_unsupervised(str(tmp_path / "corpus.txt"), model="skipgram", dim=10, minCount=1,
                                        epoch=1, minn=2, maxn=4, thread=1, verbose=0)
    model.save_model(str(tmp_path / "tiny.bin"))
    vectors = load_vectors(tmp_path / "tiny.bin")
    assert vectors.dim == 10 and vectors.matrix.dtype == np.float32
    assert set(vocabulary) <= set(vectors.words)
    assert vectors.words == model.get_words()
    for word in ("river", "money"):
        np.testing.assert_allclose(vectors.vector(word), model.get_word_vector(word), rtol=1e-6)
    # out-of-vocabulary words: no row, but a subword (character n-gram) vector
    assert vectors.lookup("riverbanks") is None
    oov = vectors.vector("riverbanks")
    assert oov is not None and oov.dtype == np.float32 and oov.shape == (10,)
    assert np.abs(oov).sum() > 0
    np.testing.assert_allclose(oov, model.get_word_vector("riverbanks"), rtol=1e-6)
    assert vectors.coverage(["river", "riverbanks"]) == 50.0  # coverage counts pretrained rows only


def test_dimension_mismatch_line(tmp_path):
    path = tmp_path / "bad.vec"
    path.write_text("3 4\na 1 2 3 4\nb 1 2 3\nc 1 2 3 4\n", encoding="utf-8")
    with pytest.raises(ZsnerError, match="dimension mismatch") as err:
        load_vectors(path)
    assert err.value.line == 3 and str(err.value).startswith(f"{path}:3: ")


def test_dimension_mismatch_without_header(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("a 1 2\nb 1 2\nc 1 2 3\n", encoding="utf-8")
    with pytest.raises(ZsnerError, match="dimension mismatch") as err:
        load_vectors(path)
    assert err.value.line == 3


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_vector_is_an_error(tmp_path, value):
    path = tmp_path / "nan.vec"
    path.write_text(f"2 3\ngood 0.1 0.2 0.3\nbad 0.1 {value} 0.3\n", encoding="utf-8")
    with pytest.raises(ZsnerError, match="non-finite") as err:
        load_vectors(path)
    assert "'bad'" in str(err.value) and str(path) in str(err.value)


def test_nan_in_kv_is_an_error(tmp_path, matrix16):
    broken = matrix16.copy()
    broken[2, 1] = np.nan
    with pytest.raises(ZsnerError, match="'paris'"):
        load_vectors(write_kv(tmp_path / "nan.kv", WORDS, broken))


@pytest.mark.parametrize("content,fragment", [
    ("", "no vectors"),
    ("2 3\n", "no vectors"),
    ("2 3\na 0.1 x 0.3\n", "not a number"),
])
def test_other_broken_text_files(tmp_path, content, fragment):
    path = tmp_path / "b.vec"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ZsnerError, match=fragment):
        load_vectors(path)


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(ZsnerError, match="no such embedding file"):
        load_vectors(tmp_path / "none.vec")
    path = tmp_path / "latin.vec"
    path.write_bytes("caf\xe9 0.1 0.2\n".encode("latin-1"))
    with pytest.raises(ZsnerError, match="UTF-8"):
        load_vectors(path)
    garbage = tmp_path / "garbage.kv"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(ZsnerError, match="KeyedVectors"):
        load_vectors(garbage)


def test_matrix_shape_must_match_words():
    with pytest.raises(ZsnerError):
        WordVectors(["a", "b"], np.zeros((3, 2)))


# -- lookup policy --------------------------------------------------------------------------------------------

def test_lookup_candidates():
    assert lookup_candidates("Paris") == ["Paris", "paris", "paris"]
    assert lookup_candidates("AB12-3") == ["AB12-3", "ab12-3", "ab00-0"]


def test_lookup_exact_then_lowercase_then_digits(matrix16):
    vectors = WordVectors(WORDS, matrix16)
    assert vectors.lookup("Paris") == 1  # exact match wins over the lowercase entry
    assert vectors.lookup("paris") == 2
    assert vectors.lookup("PARIS") == 2  # lowercase
    assert vectors.lookup("1996") == 3  # digits -> 0
    assert vectors.lookup("ÜBER") == 4  # unicode lowercase
    assert vectors.lookup("Müller") == 5 and vectors.lookup("müller") is None  # no "upper-casing" fallback
    assert vectors.lookup("eu") is None  # only the lower direction
    assert vectors.lookup("Berlin") is None
    np.testing.assert_array_equal(vectors.vector("PARIS"), matrix16[2])
    np.testing.assert_array_equal(vectors.vector("2024"), matrix16[3])


def test_duplicate_words_keep_the_first_row():
    matrix = np.arange(6, dtype=np.float32).reshape(3, 2)
    vectors = WordVectors(["a", "b", "a"], matrix)
    np.testing.assert_array_equal(vectors.vector("a"), [0.0, 1.0])


def test_coverage_toy_case(matrix16):
    vectors = WordVectors(WORDS, matrix16)
    tokens = ["Paris", "PARIS", "1999", "Berlin", "the", "The", "x", "EU"]
    # found: Paris, PARIS (paris), 1999 (0000), the, The (the), EU -> 6 of 8
    assert vectors.coverage(tokens) == 75.0
    assert vectors.coverage(iter(["Berlin"])) == 0.0
    assert vectors.coverage([]) == 0.0
