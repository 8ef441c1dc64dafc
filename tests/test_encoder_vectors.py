"""`zsner vectors`: batched extraction against one-word-at-a-time brute force, the resumable cache, the
unsupervised layer choice, and the command's outputs and bad input (tiny random BERT, offline)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zsner.cli import main
from zsner.embeddings import load_vectors
from zsner.encoder_vectors.cache import ChunkCache
from zsner.encoder_vectors.build import load_encoder as _encoder
from zsner.encoder_vectors.extract import in_context, isolated, unit_centre_unit
from zsner.encoder_vectors.layer import best_layer, layer_scores
from zsner.transformer.tiny import build_tiny_model

WORDS = ["madrid", "the", "bank", "of", "spain", "a", "unbelievably", "x", "río", "naciones", "unidas", "el"]
SENTENCES = [["The", "bank", "of", "Spain", "is", "in", "Madrid"], ["el", "banco", "de", "España"],
             ["Madrid", "and", "the", "bank"], ["Naciones", "Unidas", "en", "Madrid", "x", "x", "x"]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    words = WORDS + [w for s in SENTENCES for w in s]
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-vectors"), words, layers=3, whole_words=5))


@pytest.fixture(scope="module")
def encoder(model_dir):
    return _encoder(model_dir, "cpu")


def _alone(encoder, pieces: list[int], layer: int) -> np.ndarray:
    tokens = encoder.tokens
    ids = torch.tensor([[tokens.cls_id, *pieces, tokens.sep_id]])
    states = encoder.states(ids, torch.ones_like(ids), [layer])[0, 0]
    return states[1:-1].mean(0).numpy()


def test_isolated_equals_one_word_at_a_time(encoder):
    layers = [0, 2, 3]
    batched = isolated(WORDS, encoder, layers, batch_size=4, chunk_words=5, progress=False)
    assert max(len(p) for p in encoder.tokens.word_pieces(WORDS)) > 1  # some words really are several pieces
    for row, pieces in enumerate(encoder.tokens.word_pieces(WORDS)):
        for position, layer in enumerate(layers):
            np.testing.assert_allclose(batched[position, row], _alone(encoder, pieces, layer), atol=1e-5)


def test_in_context_equals_sentence_by_sentence_mean(encoder):
    words = ["madrid", "bank", "x", "absent"]
    states, seen = in_context(words, SENTENCES, encoder, [2], max_occurrences=2, batch_size=3, progress=False)
    assert seen.tolist() == [2, 2, 2, 0]  # capped at 2 occurrences; a word not in the text has none
    tokens = encoder.tokens
    for row, word in enumerate(words[:3]):
        found = []
        for sentence in SENTENCES:
            pieces = tokens.word_pieces(sentence)
            ids = torch.tensor([[tokens.cls_id, *[p for w in pieces for p in w], tokens.sep_id]])
            hidden = encoder.states(ids, torch.ones_like(ids), [2])[0, 0]
            start = 1
            for token, word_pieces in zip(sentence, pieces):
                if token.lower() == word and len(found) < 2:
                    found.append(hidden[start:start + len(word_pieces)].mean(0).numpy())
                start += len(word_pieces)
        np.testing.assert_allclose(states[0, row], np.mean(found, axis=0), atol=1e-5)
    assert not states[0, 3].any()


def test_cache_resumes_and_is_emptied_when_the_key_changes(encoder, tmp_path, monkeypatch):
    expected = isolated(WORDS, encoder, [1], batch_size=4, chunk_words=4, progress=False)
    cache = ChunkCache(tmp_path / "c", {"k": 1})
    real_states, calls = encoder.states, []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while the second chunk is computed
        return real_states(*args)

    monkeypatch.setattr(encoder, "states", failing)
    with pytest.raises(KeyboardInterrupt):
        isolated(WORDS, encoder, [1], cache, batch_size=4, chunk_words=4, progress=False)
    assert sorted(p.name for p in (tmp_path / "c").glob("chunk-*")) == ["chunk-00000.npy"]
    calls.clear()
    monkeypatch.setattr(encoder, "states", lambda *args: (calls.append(1), real_states(*args))[1])
    resumed = isolated(WORDS, encoder, [1], ChunkCache(tmp_path / "c", {"k": 1}), batch_size=4, chunk_words=4,
                       progress=False)
    assert len(calls) == 2  # chunks 2 and 3 only
    np.testing.assert_allclose(resumed, expected, atol=1e-6)
    ChunkCache(tmp_path / "c", {"k": 2})
    assert not list((tmp_path / "c").glob("chunk-*"))


def test_unit_centre_unit_rows():
    matrix = np.random.default_rng(0).normal(3.0, 1.0, size=(50, 8))
    out = unit_centre_unit(matrix)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    centred = unit - unit.mean(0)
    np.testing.assert_allclose(out, centred / np.linalg.norm(centred, axis=1, keepdims=True), atol=1e-5)


def test_layer_choice_finds_the_aligned_layer_without_a_dictionary():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(4, 300, 16)).astype(np.float32)
    target = rng.normal(size=(4, 300, 16)).astype(np.float32)
    target[2] = source[2] + 0.1 * rng.normal(size=(300, 16))  # only layer 2 puts translations side by side
    pairs = np.stack([np.arange(300), np.arange(300)], axis=1)
    rows = layer_scores(source, target, pairs)
    assert best_layer(rows) == 2
    assert rows[2]["P@1 csls"] > 90 and max(r["P@1 csls"] for r in rows if r["layer"] != 2) < 20


def test_command_writes_loadable_vectors_and_a_record(model_dir, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("Madrid 10\nthe\nbank\n\nRío\n", encoding="utf-8")
    contexts = tmp_path / "ctx.txt"
    contexts.write_text("The bank of Spain is in Madrid.\nMadrid, the bank!\n", encoding="utf-8")
    out = tmp_path / "v" / "es.vec"
    assert main(["vectors", "--model", model_dir, "--lang", "es", "--words", str(words), "--layer", "2",
                 "--contexts", str(contexts), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--no-progress"]) == 0
    vectors = load_vectors(out)
    assert vectors.words == ["madrid", "the", "bank", "río"] and vectors.dim == 32
    np.testing.assert_allclose(np.linalg.norm(vectors.matrix, axis=1), 1.0, atol=1e-4)
    record = json.loads((tmp_path / "v" / "es.vec.json").read_text())
    assert record["layer"] == 2 and record["contexts"]["words_seen"] == 3  # "río" is not in the text
    assert not list((tmp_path / "cache").glob("*/chunk-*"))  # the cache of a finished run is removed


@pytest.mark.parametrize("case", ["no-model", "empty-words", "unknown-lang", "bad-context", "bad-layer"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(model_dir, tmp_path, capsys, case):
    words = tmp_path / "words.txt"
    words.write_text("madrid\n" if case != "empty-words" else "\n\n", encoding="utf-8")
    context = tmp_path / "ctx.txt"
    context.write_bytes(b"caf\xe9 con leche\n")  # latin-1, not UTF-8
    argv = ["vectors", "--model", str(tmp_path / "nothing") if case == "no-model" else model_dir,
            "--lang", "xx" if case == "unknown-lang" else "es", "--words", str(words),
            "--layer", "99" if case == "bad-layer" else "1", "--out", str(tmp_path / "out.vec"),
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    if case == "bad-context":
        argv += ["--contexts", str(context)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zsner vectors: error:")
    named = {"no-model": "nothing", "empty-words": "words.txt", "unknown-lang": "xx", "bad-context": "ctx.txt",
             "bad-layer": "99"}[case]
    assert named in err[0]
    assert not (tmp_path / "out.vec").exists() and not (tmp_path / "cache").exists()
