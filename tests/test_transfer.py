"""Cross-lingual transfer: pseudo-label selection, target labels never read, Eq. 7, and a tiny end-to-end run."""
import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from zsner.config import TaggerConfig, TrainConfig
from zsner.data.conll import read_conll
from zsner.embeddings import load_vectors
from zsner.evaluation import span_metrics
from zsner.mapping.config import MappingConfig
from zsner.transfer.data import prepare_crosslingual
from zsner.transfer.inputs import resolve_inputs
from zsner.transfer.pipeline import TransferConfig, run_transfer
from zsner.train.model_io import build_model
from zsner.transfer.config import AugmentConfig
from zsner.transfer.variants import AugmentedTask

torch.set_num_threads(1)
SMALL = TaggerConfig(word_dim=20, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16, shared_lstm=True)
TRAIN = TrainConfig(epochs=2, eval_every=15, batch_size=8, seed=2)


@pytest.fixture
def languages(transfer_pair):
    return transfer_pair


def _timeless(summaries: dict) -> dict:
    """Run summaries without their clocks."""
    return {mode: {k: v for k, v in summary.items() if k != "train_seconds"} for mode, summary in summaries.items()}


def _data(root, mapping):
    return prepare_crosslingual(resolve_inputs("en", "es", TRAIN, root), "shared", TRAIN, SMALL, mapping)


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
    assert _timeless(clean["summaries"]) == _timeless(dirty["summaries"])
    for part in ("seed2/shared/loss.tsv", "seed2/augmented/loss.tsv"):
        assert (tmp_path / "clean" / part).read_text() == (tmp_path / "dirty" / part).read_text()


def test_evaluation_beside_training_changes_no_weight_no_figure_and_no_checkpoint(languages, tmp_path):
    """--eval-overlap on (a second thread scores snapshots) against off (in line), for Cross-Shared and for
    Algorithm 1: the same loss.tsv, selected model files, checkpoint and summaries."""
    from zsner.train.model_io import load_archive

    root, mapping = languages
    runs = {}
    for overlap in ("on", "off"):
        out = tmp_path / overlap
        runs[overlap] = run_transfer(
            TransferConfig(mode="augmented", mapping_dir=str(mapping), cache_dir=str(out / "cache")),
            dataclasses.replace(TRAIN, eval_overlap=overlap, eval_every=5), SMALL,
            AugmentConfig(rounds=3, round_steps=10),
            out=out, data_dir=root, bars=False)
    assert _timeless(runs["on"]["summaries"]) == _timeless(runs["off"]["summaries"])
    for mode in ("shared", "augmented"):
        on, off = tmp_path / "on" / "seed2" / mode, tmp_path / "off" / "seed2" / mode
        assert len((on / "loss.tsv").read_text().splitlines()) > 5
        assert (on / "loss.tsv").read_text() == (off / "loss.tsv").read_text()
        for name in ("best-src-dev.pt", "best-tgt-dev.pt", "best-tgt-test.pt", "checkpoint.pt"):
            a, b = load_archive(on / name), load_archive(off / name)
            weights = "model" if name == "checkpoint.pt" else "state"
            assert a[weights].keys() == b[weights].keys()
            assert all(torch.equal(a[weights][k], b[weights][k]) for k in a[weights]), (mode, name)
            if name == "checkpoint.pt":
                plain = lambda value: json.dumps(value, default=lambda array: array.tolist())  # noqa: E731
                a["progress"].pop("train_seconds"), b["progress"].pop("train_seconds")  # clocks differ
                assert plain(a["progress"]) == plain(b["progress"]) and plain(a["task"]) == plain(b["task"])
                assert torch.equal(a["torch_rng"], b["torch_rng"])
                assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]


# the mapping `zsner transfer` learns, on a seconds budget (tiny discriminator, one short epoch); the identical-strings
# start beats the failed adversarial one, unrefined and refined twice (chains are compared at an equal number of
# refinement steps: the adversarial chain's later steps no longer win; the "redone" branch has no fixture here)
FAST_MAPPING = dict(dis_hid_dim=32, epoch_size=1000, n_epochs=1, bf16=False, dico_max_rank=100, dis_most_frequent=100,
                    criterion_queries=30, csls_k=3)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the identical chain runs beside only with 2 cores")
@pytest.mark.parametrize("n_refinement, kept", [(0, True), (2, True)])
def test_first_seed_trained_on_the_candidate_mapping_ends_like_the_sequential_run(languages, tmp_path, caplog,
                                                                                  n_refinement, kept):
    """--speculate on: seed 2's Cross-Shared trains on the identical-strings chain's mapping while the
    adversarial chain goes on (in a child process); kept when the final mapping is that one, redone when the
    criterion chose the other: either way every figure, loss.tsv and the recorded mapping equal --speculate off's."""
    mapping_config = tmp_path / "mapping.json"
    mapping_config.write_text(json.dumps({**FAST_MAPPING, "n_refinement": n_refinement}))
    root, _ = languages
    runs = {}
    for speculate in ("on", "off"):
        with caplog.at_level("INFO", logger="zsner"):
            runs[speculate] = run_transfer(
                TransferConfig(mode="augmented", cache_dir=str(tmp_path / f"cache-{speculate}"), speculate=speculate,
                               figures=False, mapping_config=str(mapping_config)),
                TRAIN, SMALL, AugmentConfig(rounds=2, round_steps=10), out=tmp_path / speculate, data_dir=root,
                bars=False)
    final = json.loads(next((tmp_path / "cache-off" / "mapping").glob("*/metrics.json")).read_text())["final"]
    assert (final["init"] == "identical") == kept
    assert ("is the candidate the first seed trained on" in caplog.text) == kept
    assert ("is not the candidate" in caplog.text) == (not kept)
    assert "mapping_wait_after_first_seed" in runs["on"]["timings"]
    assert "mapping_wait_after_first_seed" not in runs["off"]["timings"]
    assert _timeless(runs["on"]["summaries"]) == _timeless(runs["off"]["summaries"])
    for part in ("seed2/shared/loss.tsv", "seed2/augmented/loss.tsv"):
        assert (tmp_path / "on" / part).read_text() == (tmp_path / "off" / part).read_text()
    recorded = {name: Path(json.loads((tmp_path / name / "results.json").read_text())["mapping"]) for name in runs}
    assert recorded["on"].name == recorded["off"].name and recorded["on"].is_dir()  # the cache entry
    candidate = re.search(r"stage mapping: [0-9.]+ s \(([^;]+); a candidate", caplog.text)
    assert candidate and "candidate" in candidate.group(1) and not Path(candidate.group(1)).exists()  # removed
    assert not [p for p in recorded["on"].parent.iterdir() if "candidate" in p.name]  # never a cache entry


def test_base_only_trains_the_base_that_the_augmented_run_then_reuses(languages, tmp_path):
    root, mapping = languages
    config = TransferConfig(mode="augmented", mapping_dir=str(mapping), figures=False)
    run = lambda out, **changes: run_transfer(dataclasses.replace(config, **changes), TRAIN, SMALL,  # noqa: E731
                                              AugmentConfig(rounds=2, round_steps=10), out=out, data_dir=root,
                                              bars=False)
    assert run(tmp_path / "split", base_only=True)["summaries"] == {}
    base = tmp_path / "split" / "seed2" / "shared"
    assert (base / "metrics.json").is_file() and not (tmp_path / "split" / "seed2" / "augmented").exists()
    assert not (tmp_path / "split" / "results.json").exists()
    stamp = (base / "metrics.json").stat().st_mtime_ns
    split, whole = run(tmp_path / "split"), run(tmp_path / "whole")
    assert (base / "metrics.json").stat().st_mtime_ns == stamp  # reused, not retrained
    assert _timeless(split["summaries"]) == _timeless(whole["summaries"])


def test_a_seed_gives_the_same_run_alone_or_after_another(languages, tmp_path):
    """--seed 2 --seeds 2 trains seed 3 exactly as --seed 3 --seeds 1 does (the grid's tasks): the rows without a
    vector are drawn from each seed, not from the first one."""
    root, full = languages
    mapping = tmp_path / "mapping"  # a third of the source words without a vector: their rows are drawn
    shutil.copytree(full, mapping)
    header, *rows = (full / "src.mapped.vec").read_text(encoding="utf-8").splitlines()
    kept = [row for i, row in enumerate(rows) if i % 3]
    (mapping / "src.mapped.vec").write_text("\n".join([f"{len(kept)} {header.split()[1]}", *kept]) + "\n",
                                            encoding="utf-8")
    config = TransferConfig(mode="augmented", mapping_dir=str(mapping), figures=False)
    run = lambda out, seed, seeds: run_transfer(  # noqa: E731
        dataclasses.replace(config, seeds=seeds), dataclasses.replace(TRAIN, seed=seed), SMALL,
        AugmentConfig(rounds=2, round_steps=10), out=out, data_dir=root, bars=False)
    run(tmp_path / "both", 2, 2), run(tmp_path / "alone", 3, 1)
    for part in ("seed3/shared/loss.tsv", "seed3/augmented/loss.tsv"):
        assert (tmp_path / "both" / part).read_text() == (tmp_path / "alone" / part).read_text()
    both = tmp_path / "both"
    assert (both / "seed2/shared/loss.tsv").read_text() != (both / "seed3/shared/loss.tsv").read_text()


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
    from zsner.cli import main
    from zsner.train.apply import evaluate_language

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
        assert main(["predict", "--model", str(folder), "--input", str(text), "--output",
                     str(tmp_path / f"tagged-{variant}.conll"), "--no-progress", "--lang", "es"]) == 0
        tagged = [[line.split()[1] for line in block.splitlines()]
                  for block in (tmp_path / f"tagged-{variant}.conll").read_text().strip().split("\n\n")]
        assert span_metrics(gold, tagged)["micro"]["f1"] == expected
        lone = tmp_path / f"lone-{variant}"  # the archive is self-contained: nothing of its folder is needed
        lone.mkdir()
        shutil.copy(folder / "best-src-dev.pt", lone)
        assert evaluate_language(lone, "es", data_dir=root)["test"]["micro"]["f1"] == expected, variant
        assert sorted(p.name for p in lone.iterdir()) == sorted(["best-src-dev.pt", "metrics.es.json"] + [
            f"predictions.es.{split}.conll" for split in ("dev", "test")])
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


def test_seed_folders_are_reused_only_when_their_config_matches(languages, tmp_path):
    """A finished seed is reused for the same config; another config (e.g. --epochs) stops the run with the
    differing field and writes nothing; --overwrite recomputes it with the new config."""
    from zsner.errors import ZsnerError

    root, mapping = languages
    out = tmp_path / "run"
    config = TransferConfig(mode="shared", mapping_dir=str(mapping), cache_dir=str(tmp_path / "cache"), figures=False)
    first = run_transfer(config, TRAIN, SMALL, AugmentConfig(), out=out, data_dir=root, bars=False)
    metrics = out / "seed2" / "metrics.json"
    stamp, steps = metrics.stat().st_mtime_ns, json.loads(metrics.read_text())["steps"]
    again = run_transfer(config, TRAIN, SMALL, AugmentConfig(), out=out, data_dir=root, bars=False)
    assert metrics.stat().st_mtime_ns == stamp and again["summaries"] == first["summaries"]  # reused
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    longer = TrainConfig(**{**TRAIN.__dict__, "epochs": 3})
    with pytest.raises(ZsnerError, match=r"seed2: holds a run with another configuration \(train.epochs 2 -> 3\)"):
        run_transfer(config, longer, SMALL, AugmentConfig(), out=out, data_dir=root, bars=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing written
    run_transfer(config, longer, SMALL, AugmentConfig(), out=out, data_dir=root, bars=False, overwrite=True)
    assert json.loads((out / "seed2" / "config.json").read_text())["train"]["epochs"] == 3
    assert json.loads(metrics.read_text())["steps"] == steps * 3 // 2  # 3 epochs of the same batches, not 2


def test_figures_use_the_given_vectors_survive_tiny_sets_and_are_written_atomically(languages, tmp_path):
    """Fig. 3 on a handful of entity words (t-SNE's default perplexity 30 exceeds the number of points there);
    too few entity words skip Fig. 3 with a log line; the monolingual panel comes from the vectors passed in."""
    from zsner.embeddings import load_vectors
    from zsner.transfer.figures import draw_figures, figure_data

    root, mapping = languages
    out = tmp_path / "run"
    config = TransferConfig(mode="shared", mapping_dir=str(mapping), cache_dir=str(tmp_path / "c"), figures=False)
    result = run_transfer(config, TRAIN, SMALL, AugmentConfig(), out=out, data_dir=root, bars=False)
    data = _data(root, mapping)
    model = out / f"seed{TRAIN.seed}" / "best-src-dev.pt"
    mono = [load_vectors(root / "embeddings" / f"{lang}.vec") for lang in ("en", "es")]
    found = json.loads(json.dumps(figure_data(data, model, config, mono, sample=6)))  # 12 points, through JSON
    assert list(found["tsne"]["points"]) == ["monolingual vectors", "common-space vectors",
                                             "common encoder (dense layer)"]
    draw_figures(out, found)
    assert (out / "fig3_tsne_entities.png").stat().st_size > 1000
    assert not list(out.glob(".*.tmp"))
    (out / "fig3_tsne_entities.png").unlink()
    draw_figures(out, figure_data(data, model, config, None, sample=2))  # 4 points: Fig. 2 only
    assert (out / "fig2_length_vs_accuracy.png").is_file() and not (out / "fig3_tsne_entities.png").exists()
    assert result["summaries"]


def test_transfer_on_encoder_vectors(languages, tmp_path):
    """--vectors encoder: static vectors read out of an encoder, mapped from the identity (no adversarial
    stage); the tagger's word dimension follows the space."""
    from zsner.transformer.tiny import build_tiny_model

    root, _ = languages
    words = [w for lang, enc in (("en", "utf-8"), ("es", "latin-1"))
             for s in read_conll(next((root / "ner" / lang).glob("*train")), enc) for w in s.words]
    model = build_tiny_model(tmp_path / "tiny", words, layers=2, hidden=16)
    out = tmp_path / "run"
    config = TransferConfig(mode="augmented", vectors="encoder", encoder=str(model), encoder_layer=1, figures=False,
                            cache_dir=str(tmp_path / "cache"))
    result = run_transfer(config, TRAIN, SMALL, AugmentConfig(rounds=1, round_steps=5), out=out, data_dir=root,
                          bars=False)
    assert "Cross-Augmented" in result["table"]
    saved = json.loads((out / "seed2" / "shared" / "config.json").read_text())
    assert saved["tagger"]["word_dim"] == 16
    assert saved["transfer"]["vectors"] == "encoder" and saved["transfer"]["encoder_layer"] == 1
    mappings = list((tmp_path / "cache" / "mapping").glob("en-es-s2t-*/metrics.json"))
    assert [json.loads(m.read_text())["final"]["init"] for m in mappings] == ["identity"]
    vectors = sorted((tmp_path / "cache" / "vectors").glob("*.vec"))
    assert [v.name[:2] for v in vectors] == ["en", "es"]
    assert all(json.loads(open(f"{v}.json").read())["layer"] == 1 for v in vectors)


def test_concatenated_space_joins_rows_per_word(tmp_path):
    """[first ; second] per word of either space, each half a unit row; a word one space lacks gets zeros there
    (lookups follow the vocabulary policy: exact, then lowercase)."""
    from zsner.embeddings import load_vectors, save_vec
    from zsner.transfer.spaces import concatenated

    first, second = tmp_path / "ft", tmp_path / "enc"
    for side in ("src", "tgt"):
        save_vec(first / f"{side}.mapped.vec", ["Madrid", "casa"], np.array([[3.0, 4.0], [1.0, 0.0]]))
        save_vec(second / f"{side}.mapped.vec", ["madrid", "perro"], np.array([[0.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))
    joined = load_vectors(concatenated(first, second, tmp_path / "cache") / "tgt.mapped.vec")
    assert joined.words == ["Madrid", "casa", "madrid", "perro"] and joined.dim == 5
    np.testing.assert_allclose(joined.matrix, [[0.6, 0.8, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1],
                                               [0, 0, 0, 1, 0]], atol=1e-5)


def test_a_transformer_teacher_gives_the_pseudo_labels(languages, tmp_path):
    """--teacher RUN_DIR: each round's pseudo-labels are the teacher's tags (IOBES ids of the student's tag set)
    of exactly the sentences the round's length threshold selects; the teacher's speed is reported."""
    from zsner.data.tags import convert
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
    from zsner.transformer.inference import encode, predict_tags
    from zsner.transformer.run import load_checkpoint, run
    from zsner.transformer.tiny import build_tiny_model
    from zsner.teachers import teacher_checkpoints
    from zsner.transfer.teacher import teacher_tags

    root, mapping = languages
    words = [w for lang, enc in (("en", "utf-8"), ("es", "latin-1"))
             for s in read_conll(next((root / "ner" / lang).glob("*train")), enc) for w in s.words]
    model = build_tiny_model(tmp_path / "tiny", words, layers=2, hidden=16)
    teacher_run = tmp_path / "teacher"
    run(TransformerConfig(model=str(model), window=32, overlap=4),
        TransformerTrainConfig(src="en", tgt="es", epochs=1, batch_size=16, lr=5e-3, data_dir=str(root),
                               progress=False), teacher_run)
    data = _data(root, mapping)
    sentences = [s.words for s in data.corpora["tgt-train"].sentences]
    [checkpoint] = teacher_checkpoints(str(teacher_run))
    ids, speed = teacher_tags([checkpoint], sentences, "es", data.vocabs.tags, tmp_path / "cache", progress=False)
    teacher, tokens, archive = load_checkpoint(checkpoint)
    expected = predict_tags(teacher, encode(sentences, tokens, 32, 4, "es"))
    names = data.vocabs.tags.items
    assert [[names[i] for i in row] for row in ids] == [convert(tags, "iobes") for tags in expected]
    assert speed["teacher_sentences"] == len(sentences) and speed["teacher_sentences_per_second"] > 0

    task = AugmentedTask(build_model("augmented", SMALL, data.vocabs), data, TRAIN, SMALL, AugmentConfig(), ids)
    threshold = int(np.median(data.corpora["tgt-train"].lengths))
    selected, tags = task.pseudo_label(threshold)
    assert set(selected) == set(np.flatnonzero(data.corpora["tgt-train"].lengths <= threshold))
    assert all(np.array_equal(t, ids[i]) for i, t in zip(selected, tags))

    out = tmp_path / "student"
    result = run_transfer(TransferConfig(mode="augmented", mapping_dir=str(mapping), figures=False,
                                         cache_dir=str(tmp_path / "cache")),
                          TRAIN, SMALL, AugmentConfig(rounds=1, round_steps=5, teacher=str(teacher_run)), out=out,
                          data_dir=root, bars=False)
    saved = json.loads((out / "results.json").read_text())
    assert saved["teacher"]["checkpoints"] == [str(checkpoint)] and "Cross-Augmented" in result["table"]
    assert saved["teacher"]["cached"] == [True]  # tagged once above, into the same cache


def test_a_missing_teacher_stops_before_anything_is_written(languages, tmp_path):
    from zsner.errors import ZsnerError

    root, mapping = languages
    with pytest.raises(ZsnerError, match="--teacher: no such transformer run folder or checkpoint"):
        run_transfer(TransferConfig(mode="augmented", mapping_dir=str(mapping), cache_dir=str(tmp_path / "c")),
                     TRAIN, SMALL, AugmentConfig(teacher=str(tmp_path / "nothing")), out=tmp_path / "out",
                     data_dir=root, bars=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()


def test_encoder_vectors_from_contexts_are_cached_apart_and_read_the_training_text(languages, tmp_path):
    """--encoder-contexts: the vectors average the words' states over the language's NER training sentences
    (read without tags), in a cache entry of their own beside the isolated-word vectors."""
    from zsner.encoder_vectors.build import ensure_vectors
    from zsner.transformer.tiny import build_tiny_model

    root, _ = languages
    train = read_conll(next((root / "ner" / "es").glob("*train")), "latin-1")
    model = build_tiny_model(tmp_path / "tiny", [w for s in train for w in s.words], layers=2, hidden=16)
    alone = ensure_vectors("es", str(model), 1, tmp_path / "cache", root, progress=False)
    mixed = ensure_vectors("es", str(model), 1, tmp_path / "cache", root, progress=False, contexts=True)
    assert alone != mixed and "-ctx-" in mixed.name
    record = json.loads(open(f"{mixed}.json").read())["contexts"]
    assert record["sentences"] == len(train) and record["words_seen"] > 0
    a, b = load_vectors(alone), load_vectors(mixed)
    assert a.words == b.words and not np.allclose(a.matrix, b.matrix)
    assert ensure_vectors("es", str(model), 1, tmp_path / "cache", root, progress=False, contexts=True) == mixed


def _ensure_mapping_in_a_process(root, cache, overrides, queue):
    import logging
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("zsner").addHandler(handler)
    logging.getLogger("zsner").setLevel(logging.INFO)
    from zsner.transfer.inputs import ensure_mapping as ensure
    folder = ensure(resolve_inputs("en", "es", TRAIN, root), "s2t", cache, overrides, progress=False)
    queue.put((str(folder), sum(message.startswith("mapping: learning") for message in records)))


def test_two_processes_asking_for_one_mapping_learn_it_once(languages, tmp_path):
    """Grid tasks and side-by-side runs share runs/cache: the second process waits for the first's mapping instead
    of building into the same folder (which crashed a run before the lock)."""
    import multiprocessing
    root, _ = languages
    overrides = {"init": "identical", "n_refinement": 1, "dico_max_rank": 100, "criterion_queries": 30, "csls_k": 3}
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_ensure_mapping_in_a_process, args=(root, tmp_path / "cache", overrides, queue))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    answers = [queue.get(timeout=5) for _ in workers]
    assert answers[0][0] == answers[1][0]
    assert sorted(learned for _, learned in answers) == [0, 1]  # one learned it, the other reused it
    folder = tmp_path / "cache" / "mapping"
    assert not [p for p in folder.iterdir() if p.name.endswith(".building")]
    assert (folder / answers[0][0].split("/")[-1] / "tgt.mapped.vec").is_file()


def test_a_build_lock_beside_a_vectors_file_leaves_its_mapping_cache_key_alone(languages, tmp_path):
    from zsner.atomic import build_lock
    from zsner.mapping.runfolder import mapping_cache_key
    root, _ = languages
    src, tgt = tmp_path / "en.vec", tmp_path / "es.vec"
    shutil.copy(root / "embeddings" / "en.vec", src)
    shutil.copy(root / "embeddings" / "es.vec", tgt)
    before = mapping_cache_key(src, tgt, MappingConfig())
    with build_lock(src):
        assert mapping_cache_key(src, tgt, MappingConfig()) == before
    assert mapping_cache_key(src, tgt, MappingConfig()) == before
