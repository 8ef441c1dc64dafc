"""`zsner project` end to end on tiny data (a tiny random BERT as encoder and as the source tagger's base, a few
hand-made pairs), its run-folder reuse, and both backends trained on a projected corpus (`--train-file`)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tests.synthetic import FILLER, NAMES, write_language
from zsner.data.conll import read_conll
from zsner.data.tags import chunks, tag_set

torch.set_num_threads(1)
# sentence 1: every entity word is spelt the same on both sides but Paris/París (one piece once lower-cased and
# stripped of accents); 2: identical; 3: no entity; 4: "Paris" twice (the second has no mutual argmax: the
# sentence is dropped, unaligned); 5: "Maria Lopez" split around a comma aligned outside the entity (broken)
EN = ["Peter Blackburn met Maria Lopez in Paris .", "Siemens opened a plant in Madrid today .",
      "Nothing happened here .", "Paris is big and Paris is old .", "Maria Lopez , she said ."]
ES = ["Peter Blackburn se reunió con Maria Lopez en París .", "Siemens abrió una planta en Madrid hoy .",
      "Nada pasó aquí .", "París es grande y París es vieja .", "Lopez , dijo Maria ."]
ENTITY_WORDS = {"Peter": "B-PER", "Blackburn": "I-PER", "Maria": "B-PER", "Lopez": "I-PER", "Paris": "B-LOC",
                "Siemens": "B-ORG", "Madrid": "B-LOC"}


def word_identity_encoder(folder: Path, hidden: int) -> None:
    """Rewrite the tiny BERT so that a word's state at every layer is its normalised embedding (attention and
    feed-forward outputs zeroed, no position or type embeddings), each entity word owning two dimensions no other
    word uses: identical words get identical vectors, and a linear head can tag the entity words exactly."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoder = AutoModel.from_pretrained(str(folder))
    with torch.no_grad():
        encoder.embeddings.position_embeddings.weight.zero_()
        encoder.embeddings.token_type_embeddings.weight.zero_()
        for layer in encoder.encoder.layer:
            for dense in (layer.attention.output.dense, layer.output.dense):
                dense.weight.zero_()
                dense.bias.zero_()
        table = encoder.embeddings.word_embeddings.weight
        table[:, : 2 * len(ENTITY_WORDS)] = 0.0
        for k, word in enumerate(ENTITY_WORDS):
            [piece] = tokenizer(word, add_special_tokens=False)["input_ids"]
            table[piece] = 0.0
            table[piece, 2 * k], table[piece, 2 * k + 1] = 1.0, -1.0
    encoder.save_pretrained(str(folder))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny word-identity encoder folder, a transformer tagger run folder on it that tags exactly the entity
    words, 20 parallel pairs and a tiny en/es data root."""
    from zsner.transformer.config import TransformerConfig
    from zsner.transformer.model import build
    from zsner.transformer.tiny import build_tiny_model
    from zsner.transformer.train import checkpoint_archive

    root = tmp_path_factory.mktemp("projection")
    words = [w for s in EN + ES for w in s.split()] + [w for names in NAMES.values() for w in names] + FILLER
    folder = build_tiny_model(root / "tiny", words, layers=2, hidden=32)
    word_identity_encoder(folder, 32)
    config = TransformerConfig(model=str(folder))
    model, tokens = build(config, tag_set({"PER", "LOC", "ORG", "MISC"}, "iob2"))
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[model.tags.index("O")] = 0.5
        for k, tag in enumerate(ENTITY_WORDS.values()):
            model.classifier.weight[model.tags.index(tag), 2 * k] = 1.0
            model.classifier.weight[model.tags.index(tag), 2 * k + 1] = -1.0
    (root / "tagger/checkpoints").mkdir(parents=True)
    torch.save(checkpoint_archive(model, config, model.trainable_state(), {}),
               root / "tagger/checkpoints/zero-shot.src-dev.pt")
    (root / "par").mkdir()
    (root / "par/en.txt").write_text("\n".join(EN * 4) + "\n", encoding="utf-8")
    (root / "par/es.txt").write_text("\n".join(ES * 4) + "\n", encoding="utf-8")
    for lang in ("en", "es"):
        write_language(root / "data", lang, sizes=(20, 10, 10))
    return root


@pytest.fixture
def cli(capsys):
    from zsner.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def project_args(world, out, *extra):
    return ["project", "--src", "en", "--tgt", "es", "--parallel", world / "par", "--tagger", world / "tagger",
            "--layer", "1", "--window", "32", "--overlap", "4", "--out", out, "--quiet", *extra]


def check_output(out: Path) -> dict:
    """The folder's corpus is readable CoNLL and agrees with its statistics."""
    stats = json.loads((out / "stats.json").read_text())
    sentences = read_conll(out / "projected.conll")
    counts = stats["sentences"]
    assert len(sentences) == counts["kept"] and counts["kept"] + counts["dropped"] == counts["used"] == 20
    assert len((out / "projected.lines").read_text().split()) == counts["kept"]
    assert sum(counts["dropped_by_reason"].values()) == counts["dropped"]
    found: dict = {}
    for sentence in sentences:
        assert all(tag == "O" or tag[:2] in ("B-", "I-") for tag in sentence.tags)  # IOB2
        for kind, _, _ in chunks(sentence.tags):
            found[kind] = found.get(kind, 0) + 1
    assert found == stats["entities"]["projected"]
    assert sum(1 for s in sentences if not chunks(s.tags)) == counts["kept_without_entities"]
    parts = [read_conll(out / name) for name in ("train.conll", "dev.conll") if (out / name).exists()]
    assert sorted(s.words for part in parts for s in part) == sorted(s.words for s in sentences)
    assert json.loads((out / "config.json").read_text())["projection"]["tgt"] == "es"
    assert (out / "summary.txt").read_text().startswith("en -> es projection")
    assert not list(out.glob(".*.tmp"))
    return stats


def test_similarity_projection_end_to_end_and_reuse(world, cli):
    out = world / "out-similarity"
    code, printed, err = cli(*project_args(world, out, "--aligner", "similarity", "--method", "argmax"))
    assert code == 0, err
    stats = check_output(out)
    assert stats["sentences"] == {"used": 20, "kept": 12, "kept_with_entities": 8, "kept_without_entities": 4,
                                  "dropped": 8, "dropped_by_reason": {"broken": 4, "unaligned": 4}}
    assert stats["entities"] == {"source": {"LOC": 16, "ORG": 4, "PER": 12},
                                 "projected": {"LOC": 8, "ORG": 4, "PER": 8},
                                 "failed_by_reason": {"broken": 4, "unaligned": 4}}
    # Peter Blackburn, Maria Lopez (sentence 1), Siemens, Madrid: spelt the same, and projected onto themselves
    assert stats["identical_string_precision"]["all"] == {"entities": 16, "projected": 16, "correct": 16,
                                                          "precision": 100.0, "projected_share": 100.0}
    first = read_conll(out / "projected.conll")[0]
    assert first.words == ES[0].split()
    assert first.tags == ["B-PER", "I-PER", "O", "O", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]
    lines = (out / "projected.lines").read_text().split()
    assert lines[:6] == ["1", "2", "3", "6", "7", "8"]  # each sentence's line in the parallel files
    review = (out / "review.tsv").read_text().splitlines()
    assert review[1] == ("1\tkept\t[PER Peter Blackburn] met [PER Maria Lopez] in [LOC Paris] .\t"
                         "[PER Peter Blackburn] se reunió con [PER Maria Lopez] en [LOC París] .")
    assert review[3:5] == ["4\tunaligned\t[LOC Paris] is big and [LOC Paris] is old .\t"
                           "[LOC París] es grande y París es vieja .",
                           "5\tbroken\t[PER Maria Lopez] , she said .\tLopez , dijo Maria ."]
    assert printed.startswith(f"{out}: kept 12 of 20 sentences")
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    code, again, _ = cli(*project_args(world, out, "--aligner", "similarity", "--method", "argmax"))
    assert code == 0 and again == printed  # same configuration: reused, nothing recomputed or rewritten
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before
    code, _, err = cli(*project_args(world, out, "--aligner", "similarity", "--method", "argmax", "--layer", "2"))
    assert code == 2 and "projection.layer 1 -> 2" in err and len(err.splitlines()) == 1


def test_entity_aligner_end_to_end(world, cli):
    out = world / "out-entity"
    code, _, err = cli(*project_args(world, out, "--aligner", "entity", "--aligner-examples", "16",
                                     "--aligner-epochs", "2", "--aligner-lr", "1e-3", "--heldout-share", "0.2"))
    assert code == 0, err
    stats = check_output(out)
    training = stats["aligner_training"]
    origins = training["by_origin"]
    positives = origins["identical"] + origins["similarity"]
    assert positives > 0 and origins["negative"] == round(positives / 3)  # 25% of the examples
    assert training["examples"] == positives + origins["negative"] and len(training["loss_per_epoch"]) == 2
    assert stats["identical_string_precision"]["heldout"]["entities"] <= stats["identical_string_precision"]["all"][
        "entities"]


def projected_file(path: Path) -> Path:
    """A small 'projected' Spanish corpus: 7 sentences, every type, and a word ("Zyxwo") no other file has."""
    rows = [[("Maria", "B-PER"), ("visited", "O"), ("Lima", "B-LOC")], [("Olga", "B-PER"), ("Zyxwo", "O")],
            [("the", "O"), ("Reuters", "B-ORG"), ("report", "O")], [("Chen", "B-PER"), ("Ali", "I-PER")],
            [("Oslo", "B-LOC"), ("today", "O")], [("German", "B-MISC")], [("in", "O"), ("Cairo", "B-LOC")]]
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_transformer_fine_tunes_on_a_projected_file_with_ce_and_reverse_focal(world, tmp_path):
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
    from zsner.transformer.run import run

    train_file = projected_file(tmp_path / "projected.conll")
    model_config = TransformerConfig(model=str(world / "tiny"))
    losses = {}
    for loss in ("ce", "reverse-focal"):
        config = TransformerTrainConfig(src="en", tgt="es", data_dir=str(world / "data"), train_file=str(train_file),
                                        init=str(world / "tagger/checkpoints/zero-shot.src-dev.pt"), epochs=1,
                                        batch_size=2, lr=1e-7, pseudo_loss=loss, progress=False)
        metrics = run(model_config, config, tmp_path / loss)
        assert metrics["train_file"] == str(train_file) and metrics["pseudo_loss"] == loss
        assert metrics["steps"] == math.ceil(7 / 2)  # the 7 projected sentences, not the 20 English ones
        assert set(metrics["selection"]) == {"src-dev", "tgt-dev"}  # selection and reports as before
        assert metrics["criteria"]["src-dev"]["tgt_test"]["micro"]["support"] > 0
        row = (tmp_path / loss / "loss.tsv").read_text().splitlines()[1].split("\t")
        losses[loss] = float(row[5])  # the NER loss of the pass
    # (1 + p)^4 >= 1 weighs every token up: at (almost) the same weights the reverse-focal loss is clearly larger
    assert losses["reverse-focal"] > 1.2 * losses["ce"]


def test_transformer_train_file_needs_zero_shot_mode():
    from zsner.errors import ZsnerError
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig, validate

    with pytest.raises(ZsnerError, match="--train-file trains in --mode zero-shot"):
        validate(TransformerConfig(), TransformerTrainConfig(mode="augmented", train_file="x.conll"))


def test_classic_train_on_projected_train_and_dev_files(world, tmp_path, cli):
    train_file = projected_file(tmp_path / "train.conll")
    dev_file = tmp_path / "dev.conll"
    dev_file.write_text("Lima B-LOC\nsaid O\n\nMaria B-PER\nIn O\nOslo B-LOC\n\n", encoding="utf-8")
    out = tmp_path / "classic"
    code, printed, err = cli("train", "--lang", "es", "--data-dir", world / "data", "--train-file", train_file,
                             "--dev-file", dev_file, "--epochs", "1", "--word-dim", "20", "--char-dim", "4",
                             "--char-hidden", "4", "--word-hidden", "8", "--dense-dim", "8", "--no-progress",
                             "--out", out)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dev"]["micro"]["support"] == 3  # the dev file's entities select the model
    assert metrics["test"]["micro"]["support"] > 0  # the target test set scores it
    from zsner.train.model_io import load_model

    _, vocabs, _, _ = load_model(out)
    assert "Zyxwo" in vocabs.words.items  # trained on the file (its words enter the vocabulary)
    saved = json.loads((out / "config.json").read_text())["train"]
    assert saved["train_file"] == str(train_file) and saved["dev_file"] == str(dev_file)
