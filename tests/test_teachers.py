"""Transformer teachers (zsner/teachers.py): the model reference resolved once (--teacher, --init), the ensemble rule
(IOBES -> IOB2 marginals, averaged, constrained IOB2 Viterbi), the per-teacher cache (a hit loads no model), and
both consumers (zsner transfer's Algorithm 1, zsner transformer --mode augmented --teacher)."""
from __future__ import annotations

import itertools
import json
import os
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.synthetic import write_language
from zsner.data.conll import read_conll
from zsner.data.tags import convert, split_tag, tag_set
from zsner.errors import ZsnerError
from zsner.teachers import (FLOOR, average, cached_output, entry_folder, iob2_matrix, iob2_viterbi, read_reference,
                            resolve, student_ids, teacher_checkpoints, teacher_labels, Output)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------- the math
def valid_iob2(tags) -> bool:
    """I-X only after B-X or I-X (so never first)."""
    previous = "O"
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and (previous == "O" or split_tag(previous)[1] != kind):
            return False
        previous = tag
    return True


@settings(max_examples=60, deadline=None)
@given(types=st.sampled_from([["PER"], ["LOC", "PER"]]), data=st.data())
def test_constrained_viterbi_is_the_best_valid_sequence(types, data):
    """Against brute force over every tag sequence, for several sentences decoded together (lengths 1-4)."""
    names = tag_set(types, "iob2")
    lengths = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    scores = np.array(data.draw(st.lists(st.floats(-6.0, 0.0), min_size=sum(lengths) * len(names),
                                         max_size=sum(lengths) * len(names)))).reshape(-1, len(names))
    best = iob2_viterbi(scores, lengths, names)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for start, length in zip(starts, lengths):
        rows = scores[start:start + length]
        path = best[start:start + length]
        assert valid_iob2([names[i] for i in path])
        brute = max(rows[np.arange(length), list(sequence)].sum()
                    for sequence in itertools.product(range(len(names)), repeat=length)
                    if valid_iob2([names[i] for i in sequence]))
        assert rows[np.arange(length), path].sum() == pytest.approx(brute, abs=1e-9)


def test_viterbi_never_puts_i_after_o_or_another_type():
    names = tag_set(["LOC", "PER"], "iob2")  # O B-LOC I-LOC B-PER I-PER
    probabilities = np.full((4, 5), 0.01)
    probabilities[0, 0] = probabilities[1, 2] = 0.9  # O, then I-LOC: not allowed after O
    probabilities[2, 3] = probabilities[3, 2] = 0.9  # B-PER, then I-LOC: not allowed after another type
    path = [names[i] for i in iob2_viterbi(np.log(probabilities), [4], names)]
    assert valid_iob2(path) and path[1] != "I-LOC" and path[3] != "I-LOC"
    first = np.full((2, 5), 0.01)
    first[:, 4] = 0.96  # I-PER everywhere: the sentence must start with B-PER
    assert [names[i] for i in iob2_viterbi(np.log(first), [2], names)] == ["B-PER", "I-PER"]


def test_iobes_marginals_go_to_iob2_and_sum_to_one():
    tags = tag_set(["LOC", "PER"], "iobes")  # O B-LOC I-LOC E-LOC S-LOC B-PER I-PER E-PER S-PER
    names = tag_set(["LOC", "MISC", "PER"], "iob2")  # O B-LOC I-LOC B-MISC I-MISC B-PER I-PER
    p = np.array([[0.1, 0.05, 0.1, 0.15, 0.2, 0.01, 0.02, 0.03, 0.34]], dtype=np.float32)
    merged = p @ iob2_matrix(tags, names)
    np.testing.assert_allclose(merged, [[0.1, 0.25, 0.25, 0.0, 0.0, 0.35, 0.05]], atol=1e-6)
    random = np.random.default_rng(0).dirichlet(np.ones(len(tags)), size=50).astype(np.float32)
    np.testing.assert_allclose((random @ iob2_matrix(tags, names)).sum(1), 1.0, atol=1e-5)
    iob2 = tag_set(["PER"], "iob2")  # an IOB2 teacher lacking LOC and MISC: its mass moves, nothing else
    members = [Output(tags, p, np.array([1]), 0.0, True),
               Output(iob2, np.array([[0.5, 0.2, 0.3]], dtype=np.float32), np.array([1]), 0.0, True)]
    np.testing.assert_allclose(average(members, names), [[0.3, 0.125, 0.125, 0, 0, 0.275, 0.175]], atol=1e-6)


# ---------------------------------------------------------------------------------------------------- tiny runs
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny en/es data, a tiny BERT, and two finished zero-shot runs on it: softmax/IOB2 and CRF/IOBES."""
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
    from zsner.transformer.run import run
    from zsner.transformer.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("teachers")
    write_language(root / "data", "en", (60, 20, 20))
    write_language(root / "data", "es", (40, 20, 20), seed=1)
    words = [w for name in ("en/eng.train", "es/esp.train")
             for s in read_conll(root / "data" / "ner" / name, "utf-8") for w in s.words]
    model = build_tiny_model(root / "hf", words, layers=2, hidden=16)
    train = TransformerTrainConfig(src="en", tgt="es", epochs=1, batch_size=8, lr=5e-3, data_dir=str(root / "data"),
                                   progress=False)
    runs = {}
    for name, options in (("softmax", {}), ("crf", {"head": "crf", "scheme": "iobes"})):
        runs[name] = root / name
        run(TransformerConfig(model=str(model), window=32, overlap=4, **options), train, runs[name])
    sentences = [s.words for s in read_conll(root / "data" / "ner" / "es" / "esp.train", "utf-8")]
    return {"root": root, "data": root / "data", "hf": model, "runs": runs, "sentences": sentences}


def test_a_run_folder_stands_for_its_src_dev_checkpoint(tiny, tmp_path):
    folder = tiny["runs"]["softmax"]
    selected = json.loads((folder / "metrics.json").read_text())["selection"]["src-dev"]["checkpoint"]
    assert resolve(folder, "--teacher") == folder / selected == folder / "checkpoints" / "zero-shot.src-dev.pt"
    other = folder / "checkpoints" / "zero-shot.tgt-dev.pt"
    assert resolve(other, "--init") == other and read_reference(other, "--init")[1]["tags"]
    assert teacher_checkpoints(f"{folder}, {other}") == [folder / selected, other]


def _classic_file(path):
    torch.save({"state": {"w": torch.zeros(1)}, "tagger": {}, "vocabs": {}}, path)
    return path


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p / "nothing", "--teacher: no such transformer run folder or checkpoint"),
    (lambda p: (p / "classic").mkdir() or _classic_file(p / "classic" / "best-model.pt").parent,
     "--teacher needs a transformer run folder or checkpoint, not a classic model"),
    (lambda p: _classic_file(p / "model.pt"), "not a zsner transformer checkpoint"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "not a zsner run folder"),
    (lambda p: (p / "unfinished" / "checkpoints").mkdir(parents=True) or p / "unfinished",
     "unfinished transformer run"),
])
def test_what_is_not_a_transformer_model_is_one_error_naming_it(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(ZsnerError, match=fragment) as error:
        teacher_checkpoints(str(path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_teacher_whose_base_folder_is_gone_is_refused(tiny, tmp_path):
    from zsner.transformer.run import read_checkpoint

    archive = read_checkpoint(resolve(tiny["runs"]["softmax"], "--teacher"))
    archive["model_config"]["model"] = str(tmp_path / "gone")
    torch.save(archive, tmp_path / "orphan.pt")
    with pytest.raises(ZsnerError, match="--teacher: the Hugging Face folder the run was trained from"):
        teacher_checkpoints(str(tmp_path / "orphan.pt"))


def test_an_ensemble_of_one_teacher_twice_decodes_like_the_teacher_where_its_own_path_is_valid(tiny, tmp_path):
    """The teacher listed twice averages to its own softmax distribution; its own decoding (argmax per word, then
    repaired into IOB2: an orphan I-X becomes B-X) is a valid sequence, so the constrained Viterbi's sequence
    scores at least as high under that distribution, and equals it wherever the argmax path needed no repair
    (it is then the unconstrained optimum). Where it did, they may differ: the Viterbi takes the best valid
    sequence, the repair only relabels the orphan."""
    from zsner.transformer.inference import encode, predict_ids, predict_probabilities, predict_tags
    from zsner.transformer.run import load_checkpoint

    [checkpoint] = teacher_checkpoints(str(tiny["runs"]["softmax"]))
    sentences = tiny["sentences"]
    ensemble, record = teacher_labels([checkpoint, checkpoint], sentences, "es", tmp_path / "cache", progress=False)
    assert record["cached"] == [False, True]  # the second member is the first's cache entry
    model, tokens, _ = load_checkpoint(checkpoint)
    corpus = encode(sentences, tokens, 32, 4, "es")
    own, argmax = predict_tags(model, corpus), predict_ids(model, corpus)
    probabilities = predict_probabilities(model, corpus)
    index = {name: i for i, name in enumerate(model.tags)}
    clean = 0
    for tags, mine, ids, p in zip(ensemble, own, argmax, probabilities):
        assert valid_iob2(tags)
        score = lambda sequence: np.log(np.maximum(p, FLOOR))[np.arange(len(p)), [index[t] for t in sequence]].sum()  # noqa: E731
        assert score(tags) >= score(mine) - 1e-5
        if convert([model.tags[i] for i in ids], "iob2") == [model.tags[i] for i in ids]:
            clean += 1
            assert tags == mine
    assert clean > len(sentences) // 2 and any(t != "O" for tags in ensemble for t in tags)


def test_the_cache_answers_without_a_model_and_its_key_follows_the_inputs(tiny, tmp_path, monkeypatch):
    checkpoints = teacher_checkpoints(f"{tiny['runs']['softmax']},{tiny['runs']['crf']}")
    sentences, cache = tiny["sentences"][:12], tmp_path / "cache"
    one, first = teacher_labels(checkpoints[:1], sentences, "es", cache, progress=False)
    both, record = teacher_labels(checkpoints, sentences, "es", cache, progress=False)
    assert first["cached"] == [False] and record["cached"] == [False, False]
    assert record["checkpoints"] == list(map(str, checkpoints)) and record["teacher_sentences"] == 12
    assert record["teacher_seconds"] > 0 and record["teacher_sentences_per_second"] > 0
    members = [cached_output(c, sentences, "es", "probabilities", cache) for c in checkpoints]
    assert all(m.cached for m in members)
    np.testing.assert_allclose(members[1].values.sum(1), 1.0, atol=1e-4)  # CRF marginals, in IOB2

    import zsner.transformer.run as run_module

    def refuse(*args, **kwargs):
        raise AssertionError("a transformer model was loaded")

    monkeypatch.setattr(run_module, "load_checkpoint", refuse)
    moved = tiny["hf"].with_name("hf-away")
    tiny["hf"].rename(moved)  # and the base model folder is not there either
    try:
        assert teacher_labels(checkpoints[:1], sentences, "es", cache, progress=False)[0] == one
        again, record = teacher_labels(checkpoints, sentences, "es", cache, progress=False)
        swapped, _ = teacher_labels(checkpoints[::-1], sentences, "es", cache, progress=False)  # a new ensemble
        reloaded = [cached_output(c, sentences, "es", "probabilities", cache) for c in checkpoints]
    finally:
        moved.rename(tiny["hf"])
    assert again == both == swapped and record["cached"] == [True, True]
    assert all(np.array_equal(a.values, b.values) and a.names == b.names for a, b in zip(members, reloaded))
    key = entry_folder(checkpoints[0], sentences, "es", "tags", cache)
    copy = tmp_path / "copy.pt"
    shutil.copy(checkpoints[0], copy)
    assert entry_folder(copy, sentences, "es", "tags", cache) == key  # the content counts, not the name
    assert len({key, entry_folder(checkpoints[1], sentences, "es", "tags", cache),
                entry_folder(checkpoints[0], sentences[:11], "es", "tags", cache),
                entry_folder(checkpoints[0], sentences, "nl", "tags", cache),
                entry_folder(checkpoints[0], sentences, "es", "probabilities", cache)}) == 5


def test_student_ids_convert_to_the_students_scheme():
    tags = tag_set(["PER"], "iobes")
    assert student_ids([["B-PER", "I-PER", "O", "B-PER"]], tags, "iobes", "t") == [[1, 3, 0, 4]]
    with pytest.raises(ZsnerError, match=r"t: the teacher predicts tags the student does not know: \['S-LOC'\]"):
        student_ids([["B-LOC"]], tags, "iobes", "t")


# ---------------------------------------------------------------------------------------------------- consumers
def test_transformer_augmented_takes_the_teachers_labels_and_init_takes_a_run_folder(tiny, tmp_path, monkeypatch):
    """--init RUN_FOLDER loads that run's src-dev checkpoint; --teacher's tags are every round's pseudo-labels
    (the model being trained labels nothing)."""
    from zsner.transformer import run as run_module
    from zsner.transformer import train as train_module
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
    from zsner.transformer.inference import Corpus

    teacher = tiny["runs"]["crf"]
    [checkpoint] = teacher_checkpoints(str(teacher))
    sentences = tiny["sentences"]
    expected, _ = teacher_labels([checkpoint], sentences, "es", tmp_path / "cache", progress=False)
    loaded, labelled = [], []
    load_into, set_labels = run_module.load_into, Corpus.set_labels
    monkeypatch.setattr(run_module, "load_into", lambda model, path, archive=None: loaded.append(path) or
                        load_into(model, path, archive))
    monkeypatch.setattr(Corpus, "set_labels", lambda self, labels, tags, scheme: labelled.append(
        (self.words, [[tags[i] for i in row] for row in labels])) or set_labels(self, labels, tags, scheme))
    monkeypatch.setattr(train_module.FineTuning, "_pseudo_labels", lambda *a: pytest.fail("the student labelled"))
    init = tiny["runs"]["softmax"]
    metrics = run_module.run(
        TransformerConfig(model=str(tiny["hf"]), window=32, overlap=4),
        TransformerTrainConfig(src="en", tgt="es", mode="augmented", init=str(init), teacher=str(teacher),
                               pseudo_rounds=2, batch_size=8, data_dir=str(tiny["data"]), progress=False,
                               cache_dir=str(tmp_path / "cache")), tmp_path / "student")
    assert loaded == [init / "checkpoints" / "zero-shot.src-dev.pt"]
    assert metrics["teacher"]["checkpoints"] == [str(checkpoint)] and metrics["teacher"]["cached"] == [True]
    by_words = {tuple(words): tags for words, tags in zip(sentences, expected)}
    rounds = labelled[1:]  # the first: the source corpus's gold labels
    assert len(rounds) == 2 and all(by_words[tuple(w)] == t for words, tags in rounds for w, t in zip(words, tags))
    assert [r["pseudo_entities"] for r in metrics["rounds"]] == [
        sum(t.startswith("B-") for tags in round_tags for t in tags) for _, round_tags in rounds]
    saved = json.loads((tmp_path / "student" / "config.json").read_text())["train"]
    assert saved["teacher"] == str(teacher) and saved["init"] == str(init)


def test_one_teacher_decoded_by_viterbi_is_the_ensemble_rule_on_that_teacher(tiny, tmp_path):
    """--teacher-decode viterbi: one teacher's pseudo-labels are exactly those of it listed twice (the ensemble
    rule), read from the same cached distributions, and the record says how they were decoded."""
    [checkpoint] = teacher_checkpoints(str(tiny["runs"]["softmax"]))
    sentences, cache = tiny["sentences"], tmp_path / "cache"
    twice, _ = teacher_labels([checkpoint, checkpoint], sentences, "es", cache, progress=False)
    once, record = teacher_labels([checkpoint], sentences, "es", cache, progress=False, decode="viterbi")
    own, own_record = teacher_labels([checkpoint], sentences, "es", cache, progress=False)
    assert once == twice and all(valid_iob2(tags) for tags in once)
    assert record["cached"] == [True] and record["decode"] == "iob2-viterbi"
    assert own_record["cached"] == [False] and own_record["decode"] == "own"  # its own tags: another entry


@pytest.mark.parametrize("decode, teacher, fragment", [("beam", "runs/t", "must be viterbi"),
                                                       ("viterbi", "", "give --teacher")])
def test_a_teacher_decoding_is_checked_by_both_commands(decode, teacher, fragment):
    from zsner.transfer.config import TransferConfig, check_options
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig, validate

    with pytest.raises(ZsnerError, match=fragment):
        validate(TransformerConfig(), TransformerTrainConfig(mode="augmented", teacher=teacher, teacher_decode=decode))
    with pytest.raises(ZsnerError, match=fragment):
        check_options(TransferConfig(mode="augmented"), teacher, decode)


def test_transformer_teacher_needs_augmented_mode():
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig, validate

    with pytest.raises(ZsnerError, match="--teacher gives the pseudo-labels of --mode augmented"):
        validate(TransformerConfig(), TransformerTrainConfig(teacher="runs/t"))


@pytest.mark.parametrize("command", ["transformer", "transformer-init", "transfer", "grid"])
def test_a_bad_teacher_or_init_on_the_command_line_is_exit_2_and_nothing_written(tiny, tmp_path, monkeypatch,
                                                                                  capsys, command):
    from zsner.cli import main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    classic = tmp_path / "classic"
    classic.mkdir()
    _classic_file(classic / "best-model.pt")
    good = tiny["runs"]["softmax"]
    teachers = f"{good},{classic}"
    argv = {"transformer": ["transformer", "--model", str(tiny["hf"]), "--mode", "augmented", "--teacher", teachers,
                            "--data-dir", str(tiny["data"]), "--out", "out"],
            "transformer-init": ["transformer", "--model", str(tiny["hf"]), "--mode", "augmented", "--init",
                                 str(classic), "--data-dir", str(tiny["data"]), "--out", "out"],
            "transfer": ["transfer", "--mode", "augmented", "--teacher", teachers, "--word-dim", "20",
                         "--data-dir", str(tiny["data"]), "--cache-dir", "cache", "--out", "out"],
            "grid": ["grid", "--pairs", "en-es", "--dry-run", "--flags",
                     f"--word-dim 20 --data-dir {tiny['data']} --teacher {teachers}", "--out", "out"]}[command]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and str(classic) in lines[0], lines
    assert "not a classic model" in lines[0] or "classic model" in lines[0]
    assert list(work.iterdir()) == []
