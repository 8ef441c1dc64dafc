"""Model files load with ``weights_only=True``: numpy state survives the round trip as tensors, an archive's
frozen word table is stored once (float32), and hostile or broken files are refused with one line."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from zsner.config import TaggerConfig
from zsner.data.vocab import Vocabulary
from zsner.errors import ZsnerError
from zsner.train.model_io import build_model, load_archive, load_model, save_archive, save_model
from zsner.train.prepare import Vocabs

SMALL = TaggerConfig(word_dim=6, char_dim=3, char_hidden=3, word_hidden=4, dense_dim=4)
VOCABS = Vocabs(Vocabulary(["<pad>", "<unk>", "a", "b"]), Vocabulary(["<pad>", "<unk>", "a"]),
                Vocabulary(["O", "S-PER", "B-PER", "I-PER", "E-PER"]))


def test_numpy_state_round_trips_through_a_weights_only_archive(tmp_path):
    """A checkpoint's task state (pseudo-label indices and tags, numpy scalars) comes back with its types."""
    state = {"model": {"w": torch.ones(2)}, "task": {"pseudo": {"indices": np.array([3, 1], dtype=np.int64),
                                                                 "tags": [np.array([0, 2]), np.array([1])]},
                                                      "history": [{"round": np.int64(2), "f1": np.float32(0.5)}]},
             "progress": {"plan": [(np.array([1, 2]), np.array([0]))]}}
    save_archive(tmp_path / "c.pt", state)
    back = load_archive(tmp_path / "c.pt")
    pseudo = back["task"]["pseudo"]
    assert isinstance(pseudo["indices"], np.ndarray) and pseudo["indices"].dtype == np.int64
    assert pseudo["indices"].tolist() == [3, 1] and [t.tolist() for t in pseudo["tags"]] == [[0, 2], [1]]
    assert back["task"]["history"] == [{"round": 2, "f1": 0.5}] and type(back["task"]["history"][0]["round"]) is int
    assert isinstance(back["progress"]["plan"][0], tuple) and back["progress"]["plan"][0][0].tolist() == [1, 2]


@pytest.mark.parametrize("kind", ["tagger", "augmented"])
def test_model_file_holds_its_word_table_once(tmp_path, kind):
    model = build_model(kind, SMALL, VOCABS)
    table = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    model.encoder.word_embedding.weight.data.copy_(table)
    save_model(tmp_path / "m.pt", model, VOCABS, SMALL, {"kind": kind})
    archive = torch.load(tmp_path / "m.pt", weights_only=True)
    assert archive["word_table"].dtype == torch.float32 and torch.equal(archive["word_table"], table)
    tables = [key for key, value in archive["state"].items() if value.shape == table.shape]
    assert tables == []  # not again in the weights (the Cross-Augmented target encoder shares it)
    loaded = load_model(tmp_path / "m.pt")[0]
    assert torch.equal(loaded.encoder.word_embedding.weight, table)
    if kind == "augmented":
        assert loaded.target_encoder.word_embedding is loaded.encoder.word_embedding


def test_older_model_files_read_the_table_beside_them(tmp_path):
    """Archives written before ``word_table`` existed still load from the run folder's ``embeddings.npy``."""
    model = build_model("tagger", SMALL, VOCABS)
    table = np.full((4, 6), 0.25, dtype=np.float32)
    save_model(tmp_path / "m.pt", model, VOCABS, SMALL)
    archive = torch.load(tmp_path / "m.pt", weights_only=True)
    del archive["word_table"]
    torch.save({**archive, "embeddings": "embeddings.npy"}, tmp_path / "old.pt")
    with pytest.raises(ZsnerError, match="word-embedding table is missing"):
        load_model(tmp_path / "old.pt")
    np.save(tmp_path / "embeddings.npy", table)
    assert torch.equal(load_model(tmp_path / "old.pt")[0].encoder.word_embedding.weight, torch.from_numpy(table))


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable model file"),
    (b"\x80\x02}q\x00.", "Invalid magic number"),  # a plain pickle, not a torch archive
    ("torch", "not a zsner model file"),  # a torch archive without weights
])
def test_broken_model_files_are_user_errors(tmp_path, content, message):
    if content == "torch":
        torch.save({"x": [1, 2]}, tmp_path / "m.pt")
    else:
        (tmp_path / "m.pt").write_bytes(content)
    with pytest.raises(ZsnerError, match=message):
        load_model(tmp_path / "m.pt")


def test_tokenizer_without_special_tokens_is_a_user_error_naming_the_model():
    from zsner.transformer.align import PieceTokenizer

    tokenizer = SimpleNamespace(name_or_path="models/odd", cls_token_id=None, bos_token_id=None, sep_token_id=2,
                                eos_token_id=None, pad_token_id=0, unk_token_id=1)
    with pytest.raises(ZsnerError, match=r"^models/odd: unusable tokenizer: it defines none of cls_token_id, "
                                         r"bos_token_id$"):
        PieceTokenizer(tokenizer)
    with pytest.raises(ZsnerError, match="pad_token_id"):
        PieceTokenizer(SimpleNamespace(**{**vars(tokenizer), "cls_token_id": 3, "pad_token_id": None}))
