"""The prepared pair (issue 29): the cached vocabularies, matrix and encoded corpora equal a fresh preparation;
the key follows what the data depends on; runs on the cache are bit-identical; a finished command only gathers."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_transfer import SMALL
from zsner.config import TaggerConfig, TrainConfig
from zsner.data.batches import EncodedCorpus
from zsner.data.conll import Sentence
from zsner.data.vocab import Vocabulary
from zsner.transfer.config import AugmentConfig, TransferConfig
from zsner.transfer.data import prepare_crosslingual
from zsner.transfer.inputs import resolve_inputs
from zsner.transfer.pipeline import run_transfer
from zsner.transfer.prepared import load_prepared, prepared_data, prepared_folder

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
TRAIN = TrainConfig(epochs=2, eval_every=15, batch_size=8, seed=3)


@pytest.fixture
def pair(transfer_pair):
    return transfer_pair


def assert_same_data(a, b) -> None:
    assert a.vocabs.to_dict() == b.vocabs.to_dict() and a.coverage == b.coverage
    assert (a.src, a.tgt) == (b.src, b.tgt)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    np.testing.assert_array_equal(a.pretrained, b.pretrained)
    assert list(a.corpora) == list(b.corpora)
    for name in a.corpora:
        x, y = a.corpora[name], b.corpora[name]
        assert [(s.words, s.tags, s.line) for s in x.sentences] == [(s.words, s.tags, s.line) for s in y.sentences]
        for field in ("lengths", "form_chars", "form_lengths"):
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field))
        for field in ("word_ids", "form_ids", "tag_ids"):
            assert len(getattr(x, field)) == len(getattr(y, field))
            for left, right in zip(getattr(x, field), getattr(y, field)):
                np.testing.assert_array_equal(left, right)
                assert left.dtype == right.dtype == np.int64
        batch_x, batch_y = x.batch(np.arange(min(5, len(x)))), y.batch(np.arange(min(5, len(y))))
        for field in ("words", "forms", "form_positions", "chars", "char_lengths", "tags", "mask"):
            assert torch.equal(getattr(batch_x, field), getattr(batch_y, field))


words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
sentences = st.lists(st.lists(st.tuples(words, st.sampled_from(["O", "B-PER", "I-PER", "B-LOC"])), min_size=1,
                              max_size=12), max_size=8)


@settings(max_examples=60, deadline=None)
@given(sentences, st.booleans())
def test_a_corpus_survives_its_arrays(rows, labelled):
    """Any sentences (any unicode, long words cut, an empty corpus) come back identical, through JSON and .npz."""
    corpus_sentences = [Sentence([w for w, _ in row], [t for _, t in row], line) for line, row in enumerate(rows, 1)]
    chars = Vocabulary()
    for sentence in corpus_sentences[: len(corpus_sentences) // 2]:
        for char in "".join(sentence.words):
            chars.add(char)
    vocab = Vocabulary()
    for sentence in corpus_sentences[::2]:
        for word in sentence.words:
            vocab.add("en:" + word)
    tags = Vocabulary(["O", "S-PER", "B-PER", "I-PER", "E-PER", "S-LOC", "B-LOC", "I-LOC", "E-LOC"])
    corpus = EncodedCorpus(corpus_sentences, vocab, chars, tags if labelled else None, 6, prefix="en:")
    arrays, strings = corpus.to_arrays()
    strings = json.loads(json.dumps(strings))
    back = EncodedCorpus.from_arrays(arrays, strings)
    assert [(s.words, s.tags, s.line) for s in back.sentences] == [(s.words, s.tags, s.line) for s in corpus.sentences]
    for field in ("word_ids", "form_ids", "tag_ids"):
        assert [a.tolist() for a in getattr(back, field)] == [a.tolist() for a in getattr(corpus, field)]
    np.testing.assert_array_equal(back.form_chars, corpus.form_chars)
    np.testing.assert_array_equal(back.lengths, corpus.lengths)


def test_the_cached_preparation_equals_a_fresh_one_for_every_seed(pair, tmp_path):
    root, mapping = pair
    inputs = resolve_inputs("en", "es", TRAIN, root, read=False)
    built = prepared_data(inputs, "shared", TRAIN, SMALL, mapping, "mono", tmp_path)
    folder = prepared_folder(inputs, "shared", SMALL, mapping, "mono", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["corpora.npz", "matrix.npy", "meta.json", "strings.json"]
    fresh = prepare_crosslingual(resolve_inputs("en", "es", TRAIN, root), "shared", TRAIN, SMALL, mapping)
    assert_same_data(built, fresh)
    cold = resolve_inputs("en", "es", TRAIN, root, read=False)
    loaded = prepared_data(cold, "shared", TRAIN, SMALL, mapping, "mono", tmp_path)
    assert cold._splits is None  # a cache hit reads no CoNLL file
    assert_same_data(loaded, fresh)
    for seed in (1, 7):  # one entry serves every seed: the rows without a vector are the seed's own draw
        other = TrainConfig(**{**TRAIN.__dict__, "seed": seed})
        direct = prepare_crosslingual(resolve_inputs("en", "es", other, root), "shared", other, SMALL, mapping)
        assert_same_data(load_prepared(folder, seed), direct)
        assert_same_data(loaded.for_seed(seed), direct)
    mono = prepared_data(inputs, "mono", TRAIN, SMALL, None, "mono", tmp_path)
    assert_same_data(mono, prepare_crosslingual(resolve_inputs("en", "es", TRAIN, root), "mono", TRAIN, SMALL, None))


def test_the_key_follows_what_the_data_depends_on(pair, tmp_path):
    root, mapping = pair
    data = tmp_path / "data"
    shutil.copytree(root, data)
    inputs = resolve_inputs("en", "es", TRAIN, data, read=False)
    key = lambda inputs=inputs, tagger=SMALL, mode="shared", space=mapping, emb="mono": prepared_folder(  # noqa: E731
        inputs, mode, tagger, space, emb, tmp_path)
    base = key()
    assert key() == base
    assert prepared_folder(resolve_inputs("en", "es", TrainConfig(**{**TRAIN.__dict__, "seed": 9, "lr": 0.5}), data,
                                          read=False), "shared", SMALL, mapping, "mono", tmp_path) == base
    assert key(tagger=TaggerConfig(**{**SMALL.__dict__, "shared_lstm": False})) == base  # not a data field
    changed = [key(tagger=TaggerConfig(**{**SMALL.__dict__, "max_word_length": 12})),
               key(inputs=resolve_inputs("en", "es", TrainConfig(**{**TRAIN.__dict__, "train_limit": 50}), data,
                                         read=False)),
               key(mode="mono", space=None), key(mode="mono", space=None, emb="random")]
    dev = next(path for (side, split), path in inputs.split_files.items() if (side, split) == ("tgt", "dev"))
    dev.write_bytes(dev.read_bytes() + b"\n")  # the same sentences, other bytes
    changed.append(key(inputs=resolve_inputs("en", "es", TRAIN, data, read=False)))
    other_space = tmp_path / "space"
    shutil.copytree(mapping, other_space)
    changed.append(key(space=other_space))
    assert len({base, *changed}) == len(changed) + 1


def _metrics(out: Path) -> dict:
    """Each finished folder's metrics without clocks (seconds, speeds) or where its word space was."""
    found = {}
    for path in sorted(out.rglob("metrics.json")):
        metrics = json.loads(path.read_text())
        for name in ("train_seconds", "inference_sentences_per_second", "timings_seconds", "word_space"):
            metrics.pop(name, None)
        found[str(path.relative_to(out))] = metrics
    return found


def _predictions(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("predictions.*.conll"))}


def test_runs_on_the_cache_are_bit_identical_and_a_finished_command_only_gathers(pair, tmp_path):
    """Cross-Augmented, 2 seeds: without a cache entry, then on it (other folder): same metrics and predictions.
    Rerun on finished folders: no CoNLL file, vector or model is read (the data folder is gone), torch is not
    imported, and results.json / the figures come out again."""
    root, mapping = pair
    data = tmp_path / "data"
    shutil.copytree(root, data)
    augment = AugmentConfig(rounds=2, round_steps=10)
    config = TransferConfig(mode="augmented", seeds=2, mapping_dir=str(mapping), cache_dir=str(tmp_path / "cache"))
    first = run_transfer(config, TRAIN, SMALL, augment, out=tmp_path / "a", data_dir=data, bars=False)
    assert len(list((tmp_path / "cache" / "prepared").glob("en-es-*"))) == 1
    second = run_transfer(config, TRAIN, SMALL, augment, out=tmp_path / "b", data_dir=data, bars=False)
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b") and len(_metrics(tmp_path / "a")) == 4
    assert _predictions(tmp_path / "a") == _predictions(tmp_path / "b")
    assert first["table"] == second["table"]
    steps = {name: json.loads((tmp_path / "b" / name / "metrics.json").read_text())["timings_seconds"]
             for name in ("seed3/shared", "seed3/augmented", "seed4/shared")}
    assert {"startup", "mapping", "prepared_load", "training", "evaluation", "writing"} <= set(steps["seed3/shared"])
    assert "read_conll" not in steps["seed3/shared"] and "encoding" not in steps["seed3/shared"]
    assert set(steps["seed3/augmented"]) == set(steps["seed4/shared"]) == {"training", "evaluation", "writing"}
    assert all(value >= 0 for step in steps.values() for value in step.values())

    before = json.loads((tmp_path / "b" / "results.json").read_text())
    for name in ("results.json", "results.md", "fig2_length_vs_accuracy.png", "fig3_tsne_entities.png"):
        (tmp_path / "b" / name).unlink()
    shutil.rmtree(data)
    script = ("import sys; from zsner.cli import main; code = main(sys.argv[1:]); "
              "print('TORCH', 'torch' in sys.modules); sys.exit(code)")
    command = ["transfer", "--mode", "augmented", "--seeds", "2", "--seed", "3", "--mapping-dir", "/nonexistent",
               "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "b"), "--data-dir", str(data),
               "--no-progress", "--epochs", "2", "--eval-every", "15", "--batch-size", "8", "--word-dim", "20",
               "--char-dim", "8", "--char-hidden", "8", "--word-hidden", "16", "--dense-dim", "16",
               "--rounds", "2", "--round-steps", "10"]
    command[command.index("/nonexistent")] = str(mapping)
    done = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "TORCH False" in done.stdout and "gathered 4 finished runs" in done.stderr
    after = json.loads((tmp_path / "b" / "results.json").read_text())
    assert after["summaries"] == before["summaries"] and after["runs"] == before["runs"]
    assert after["mapping"] == before["mapping"] == str(mapping)
    assert set(after["steps_seconds"]["runs"]) == {"seed3/shared", "seed4/shared", "seed3/augmented",
                                                   "seed4/augmented"}
    assert (tmp_path / "b" / "results.md").read_text() == second["table"]
    for name in ("fig2_length_vs_accuracy.png", "fig3_tsne_entities.png"):
        assert (tmp_path / "b" / name).stat().st_size > 1000


def test_a_grid_prepare_step_builds_the_pairs_prepared_data(pair, tmp_path, caplog):
    """The grid's prepare step (a cached mapping here) leaves the prepared data that the pair's runs then load."""
    import logging

    from zsner.grid.tasks import prepare_word_space
    from zsner.transfer.inputs import mapping_folder

    root, mapping = pair
    cache = tmp_path / "cache"
    inputs = resolve_inputs("en", "es", TRAIN, root, read=False)
    folder = mapping_folder(inputs, "s2t", cache)[0]
    shutil.copytree(mapping, folder)  # the word space, as a finished mapping cache entry
    flags = ["--src", "en", "--tgt", "es", "--mode", "shared", "--data-dir", str(root), "--cache-dir", str(cache),
             "--word-dim", "20", "--seed", "3"]
    assert prepare_word_space(["transfer", *flags]) == folder
    entry = prepared_folder(inputs, "shared", SMALL, folder, "mono", cache)
    assert (entry / "meta.json").is_file()
    with caplog.at_level(logging.INFO, logger="zsner"):
        run_transfer(TransferConfig(mode="shared", cache_dir=str(cache), figures=False), TRAIN, SMALL,
                     AugmentConfig(), out=tmp_path / "run", data_dir=root, bars=False)
    assert f"prepared data: reusing {entry}" in caplog.text
