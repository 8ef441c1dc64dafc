"""A zsner transformer checkpoint exported as a Hugging Face folder tags like zsner through the HF pipeline."""
from __future__ import annotations

import os

import pytest
import torch

from zsner.data.tags import chunks, tag_set
from zsner.errors import ZsnerError
from zsner.tagging.export import export_hf
from zsner.transformer.config import TransformerConfig
from zsner.transformer.data import read_split
from zsner.transformer.inference import encode, predict_tags
from zsner.transformer.model import build, encoder_parts
from zsner.transformer.run import load_checkpoint
from zsner.transformer.tiny import build_tiny_model
from zsner.transformer.train import checkpoint_archive

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
WINDOW = 128  # the tiny model's positions: every sentence below fits one zsner window
TAGS = tag_set(["LOC", "MISC", "ORG", "PER"], "iob2")


@pytest.fixture(scope="module")
def folder(shared_data, tmp_path_factory):
    words = [w for lang in ("en", "es") for s in read_split(lang, "train", 60) for w in s.words]
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny"), words, layers=2))


def save_checkpoint(path, folder: str, head: str = "softmax"):
    """A checkpoint as training writes it: random but seeded, a big classifier (few "O") and a trained top layer."""
    config = TransformerConfig(model=folder, head=head, freeze_layers=1, window=WINDOW)
    torch.manual_seed(0)
    model, _ = build(config, TAGS)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
        for parameter in encoder_parts(model.encoder)[1][-1].parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    torch.save(checkpoint_archive(model, config, model.trainable_state(), {"phase": "test"}), path)
    return path


def spanish_sentences(tokenizer, tokens, count: int = 50) -> list[list[str]]:
    """Spanish test sentences that fit one window and whose words the tokenizer does not cut at punctuation."""
    pre = tokenizer.backend_tokenizer.pre_tokenizer
    chosen = []
    for sentence in read_split("es", "test", 400):
        pieces = sum(len(word) for word in tokens.word_pieces(sentence.words))
        if pieces <= WINDOW - 2 and all(len(pre.pre_tokenize_str(word)) == 1 for word in sentence.words):
            chosen.append(sentence.words)
        if len(chosen) == count:
            return chosen
    raise AssertionError("too few test sentences")


def word_starts(words: list[str]) -> list[int]:
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    return starts


def pipeline_spans(outputs, sentences) -> set:
    """``(sentence, first word, end word, type)`` of the pipeline's entity groups, by their character offsets."""
    spans = set()
    for index, (groups, words) in enumerate(zip(outputs, sentences)):
        starts = word_starts(words)
        ends = [start + len(word) for start, word in zip(starts, words)]
        for group in groups:
            assert group["start"] in starts and group["end"] in ends, group  # whole words only
            spans.add((index, starts.index(group["start"]), ends.index(group["end"]) + 1, group["entity_group"]))
    return spans


def test_export_tags_like_zsner(folder, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    checkpoint = save_checkpoint(tmp_path / "zero-shot.src-dev.pt", folder)
    out = export_hf(checkpoint, tmp_path / "hf")
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(os.listdir(out))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left

    model, tokens, _ = load_checkpoint(checkpoint)
    hf_model = AutoModelForTokenClassification.from_pretrained(str(out), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    assert tokenizer.is_fast and hf_model.config.id2label == dict(enumerate(TAGS))
    exported = load_file(str(out / "model.safetensors"))
    top = [name for name in exported if ".layer.1." in name and name.endswith("output.dense.weight")][0]
    base = load_file(os.path.join(folder, "model.safetensors"))
    assert not torch.equal(exported[top], base[top])  # the checkpoint's trained layer, not the base model's

    sentences = spanish_sentences(tokenizer, tokens)
    corpus = encode(sentences, tokens, WINDOW, 8, "es")
    assert len(corpus.windows) == len(sentences)
    expected = {(index, start, end, kind) for index, tags in enumerate(predict_tags(model, corpus))
                for kind, start, end in chunks(tags)}
    tagger = pipeline("token-classification", model=str(out), aggregation_strategy="first")
    texts = [" ".join(words) for words in sentences]
    found = pipeline_spans(tagger(texts), sentences)
    assert len(expected) > 100 and found == expected

    batch = corpus.batch(range(len(sentences)))
    with torch.no_grad():
        scores = model.word_scores(model.hidden(batch), batch)
        for index, (text, words) in enumerate(zip(texts, sentences)):
            encoded = tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
            first_piece = {}  # character -> the first piece starting there (special tokens are empty: (0, 0))
            for position, (start, end) in enumerate(encoded.pop("offset_mapping")[0].tolist()):
                if end > start:
                    first_piece.setdefault(start, position)
            logits = hf_model(**encoded).logits[0]
            first = [first_piece[start] for start in word_starts(words)]
            torch.testing.assert_close(logits[first], scores[index, :len(words)], atol=1e-4, rtol=0)

    (out / "stale.txt").write_text("x")
    export_hf(checkpoint, out)  # a previous export is replaced whole
    assert not (out / "stale.txt").exists()


def test_refusals_leave_nothing(folder, tmp_path):
    crf = save_checkpoint(tmp_path / "crf.pt", folder, head="crf")
    out = tmp_path / "hf"
    with pytest.raises(ZsnerError, match="--head softmax") as caught:
        export_hf(crf, out)
    assert "\n" not in str(caught.value) and "transition" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crf.pt"]

    torch.save({"state": {}}, tmp_path / "other.pt")
    checkpoint = save_checkpoint(tmp_path / "softmax.pt", folder)
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    for args, message in [((tmp_path, out), "found a folder"),
                          ((tmp_path / "other.pt", out), "not a zsner transformer checkpoint"),
                          ((checkpoint, out, str(tmp_path / "missing")), "missing"),
                          ((checkpoint, tmp_path / "occupied"), "not a previous zsner export")]:
        with pytest.raises(ZsnerError, match=message) as caught:
            export_hf(*args)
        assert "\n" not in str(caught.value)
    assert not out.exists() and (tmp_path / "occupied" / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
