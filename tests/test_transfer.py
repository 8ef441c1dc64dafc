"""Cross-lingual transfer: pseudo-label selection, target labels never read, Eq. 7, and a tiny end-to-end run."""
import json
import shutil

import numpy as np
import pytest
import torch

from tests.synthetic import write_language
from zsner.config import TaggerConfig, TrainConfig
from zsner.data.conll import read_conll
from zsner.evaluation import span_metrics
from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import learn_mapping
from zsner.transfer.data import prepare_crosslingual
from zsner.transfer.pipeline import TransferConfig, run_transfer
from zsner.train.model_io import build_model
from zsner.transfer.variants import AugmentConfig, AugmentedTask

torch.set_num_threads(1)
SMALL = TaggerConfig(word_dim=20, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16, shared_lstm=True)
TRAIN = TrainConfig(epochs=2, eval_every=15, batch_size=8, seed=2)


@pytest.fixture(scope="module")
def languages(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_language(root, "en", sizes=(200, 40, 40), seed=0)
    write_language(root, "es", sizes=(150, 40, 40), seed=1, encoding="latin-1")
    mapping = root / "mapping"
    learn_mapping(root / "embeddings" / "en.vec", root / "embeddings" / "es.vec",
                  MappingConfig(init="identical", n_refinement=1, dico_max_rank=100, criterion_queries=30, csls_k=3),
                  out_dir=mapping, progress=False)
    return root, mapping


def _data(root, mapping):
    return prepare_crosslingual("en", "es", "shared", TRAIN, SMALL, mapping, data_dir=root)


def test_pseudo_labels_respect_the_sampled_length_threshold(languages):
    root, mapping = languages
    data = _data(root, mapping)
    model = build_model("augmented", SMALL, data.vocabs)
    task = AugmentedTask(model, data, TRAIN, SMALL, AugmentConfig())
    lengths = data.corpora["tgt-train"].lengths
    assert task.length_range == (lengths.min(), lengths.max())
    rng = np.random.default_rng(0)
    draws = [task.sample_threshold(rng) for _ in range(500)]
    assert min(draws) == lengths.min() and max(draws) == lengths.max()  # the whole U(min, max) range
    threshold = int(np.median(lengths))
    selected, tags = task.pseudo_label(threshold)
    assert set(selected) == set(np.flatnonzero(lengths <= threshold))
    assert [len(t) for t in tags] == lengths[selected].tolist()


def test_augmented_features_and_eq7_gradients_reach_both_encoders(languages):
    root, mapping = languages
    data = _data(root, mapping)
    model = build_model("augmented", SMALL, data.vocabs)
    source = data.corpora["src-train"].batch(np.arange(8))
    target = data.corpora["tgt-train"].batch(np.arange(6))
    assert model.target_emissions(target).shape == (6, target.mask.shape[1], len(data.vocabs.tags))
    assert model.target_scores.in_features == 2 * SMALL.dense_dim  # [h_s ; h_t]
    assert model.target_encoder.chars.embedding is model.source.encoder.chars.embedding  # shared char matrix
    assert model.target_encoder.word_lstm is not model.source.encoder.word_lstm  # own BiLSTM
    model.joint_loss(source, target).backward()
    for name, module in [("source word LSTM", model.source.encoder.word_lstm), ("source CRF", model.source.crf),
                         ("target word LSTM", model.target_encoder.word_lstm),
                         ("target char LSTM", model.target_encoder.chars.lstm),
                         ("target dense", model.target_encoder.dense), ("target CRF", model.target_crf),
                         ("shared char embedding", model.source.encoder.chars.embedding)]:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), name


def _run(root, mapping, out, mode="augmented"):
    return run_transfer(TransferConfig(mode=mode, mapping_dir=str(mapping), cache_dir=str(out / "cache")),
                        TRAIN, SMALL, AugmentConfig(rounds=2, round_steps=10), out=out, data_dir=root, bars=False)


def test_target_gold_tags_are_never_read_in_training(languages, tmp_path):
    root, mapping = languages
    garbage = tmp_path / "garbage"
    shutil.copytree(root, garbage)
    train_file = garbage / "ner" / "es" / "esp.train"
    lines = train_file.read_bytes().decode("latin-1").split("\n")
    train_file.write_bytes("\n".join(f"{line.rsplit(' ', 1)[0]} NOT-A-TAG" if line else line
                                     for line in lines).encode("latin-1"))
    with pytest.raises(Exception):
        read_conll(train_file, "latin-1")  # the tags really are garbage
    clean = _run(root, mapping, tmp_path / "clean")
    dirty = _run(garbage, garbage / "mapping", tmp_path / "dirty")
    timeless = lambda summaries: {mode: {k: v for k, v in s.items() if k != "train_seconds"}  # noqa: E731
                                  for mode, s in summaries.items()}
    assert timeless(clean["summaries"]) == timeless(dirty["summaries"])
    for part in ("seed2/shared/loss.tsv", "seed2/augmented/loss.tsv"):
        assert (tmp_path / "clean" / part).read_text() == (tmp_path / "dirty" / part).read_text()


def test_end_to_end_augmented_run_writes_report(languages, tmp_path):
    root, mapping = languages
    out = tmp_path / "run"
    result = _run(root, mapping, out)
    assert "Cross-Augmented" in result["table"] and "Cross-Shared" in result["table"]
    saved = json.loads((out / "results.json").read_text())
    run = saved["runs"]["augmented"][0]
    assert [r["threshold"] for r in run["rounds"]] and len(run["rounds"]) == 2
    gold = [s.tags for s in read_conll(root / "ner" / "es" / "esp.testb", "latin-1")]
    blocks = (out / "seed2" / "augmented" / "predictions.src-dev.tgt-test.conll").read_text().strip().split("\n\n")
    predicted = [[line.split()[2] for line in block.splitlines()] for block in blocks]
    assert span_metrics(gold, predicted)["micro"]["f1"] == run["criteria"]["src-dev"]["tgt_test_f1"]
    # the oracle criterion can never be beaten by the others on target test at evaluation time
    rows = [line.split("\t") for line in (out / "seed2" / "augmented" / "loss.tsv").read_text().splitlines()[1:]]
    assert run["criteria"]["tgt-test"]["tgt_test_f1"] == max(float(r[6]) for r in rows)
    for figure in ("fig2_length_vs_accuracy.png", "fig3_tsne_entities.png"):
        assert (out / figure).stat().st_size > 1000
    assert (out / "results.md").read_text() == result["table"]
    _check_reloaded_models_reproduce_the_run(root, out / "seed2", gold, tmp_path)


def _check_reloaded_models_reproduce_the_run(root, seed_dir, gold, tmp_path):
    """``zsner evaluate`` / ``predict`` on a transfer variant's folder (its best-src-dev.pt) give the run's own
    target-test predictions, for the tagger (Cross-Shared) and the Cross-Augmented target model."""
    from zsner.errors import ZsnerError
    from zsner.train.apply import evaluate_language, predict_file

    for variant in ("shared", "augmented"):
        folder = seed_dir / variant
        expected = json.loads((folder / "metrics.json").read_text())["criteria"]["src-dev"]["tgt_test_f1"]
        results = evaluate_language(folder, "es", out=tmp_path / f"eval-{variant}", data_dir=root)
        assert results["test"]["micro"]["f1"] == expected, variant
        assert ((tmp_path / f"eval-{variant}" / "predictions.es.test.conll").read_text()
                == (folder / "predictions.src-dev.tgt-test.conll").read_text())
        text = tmp_path / "es.txt"
        test = read_conll(root / "ner" / "es" / "esp.testb", "latin-1")
        text.write_text("\n".join(" ".join(s.words) for s in test) + "\n")
        predict_file(folder, text, False, "utf-8", "", str(tmp_path / f"tagged-{variant}.conll"))
        tagged = [[line.split()[1] for line in block.splitlines()]
                  for block in (tmp_path / f"tagged-{variant}.conll").read_text().strip().split("\n\n")]
        assert span_metrics(gold, tagged)["micro"]["f1"] == expected
    with pytest.raises(ZsnerError, match="reads en and es, not nl"):
        evaluate_language(seed_dir / "augmented", "nl", data_dir=root)


def test_extend_adds_unseen_target_words_with_their_vectors(languages, tmp_path):
    from zsner.data.conll import Sentence
    from zsner.data.vocab import word_id
    from zsner.embeddings import load_vectors
    from zsner.train.apply import extend

    root, mapping = languages
    data = _data(root, mapping)
    model = build_model("augmented", SMALL, data.vocabs)
    model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
    before = model.encoder.word_embedding.weight.detach().clone()
    vectors_file = tmp_path / "new.vec"
    vector = np.arange(20, dtype=np.float32) / 10
    vectors_file.write_text("2 20\nzzznuevo " + " ".join(map(str, vector)) + "\nzzzotro" + " 0" * 20 + "\n")
    sentences = [Sentence(["zzznuevo", "sin-vector"], ["O", "O"])]
    assert word_id(data.vocabs.words, "zzznuevo", "es:") == 1
    assert extend(model, data.vocabs, sentences, load_vectors(vectors_file), "es:") == 1
    new = word_id(data.vocabs.words, "zzznuevo", "es:")
    assert new == len(before) and word_id(data.vocabs.words, "sin-vector", "es:") == 1
    table = model.encoder.word_embedding.weight
    assert torch.equal(table[: len(before)], before) and torch.allclose(table[new], torch.from_numpy(vector))
    assert model.target_encoder.word_embedding is model.encoder.word_embedding and not table.requires_grad
