"""The inference tokenizer cache (zsner.transformer.tokenizer_cache): the cached tokenizer encodes any text exactly
as the transformers tokenizer it was stored from (hypothesis, plus multilingual-e5-small's real words where that
folder exists), a second load never calls transformers, the key follows the tokenizer files but not the weights, and
a damaged cache file is rebuilt."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from zsner.transformer.tokenizer_cache import SPECIAL, CachedTokenizer, cache_file, load_tokenizer
from zsner.transformer.tiny import build_tiny_model

E5 = Path(os.path.expanduser("~/.cache/zsner/models/multilingual-e5-small"))
WORDS = ["uno", "dos", "Madrid", "Juan", "Pérez", "ﬁn", "A\u030a", "x\u200b", "\u0641\u064a\u0647\u0627\u200f",
         "１２３", "Zsner\u2603", "İstanbul", "😀"]


def _transformers(folder):
    from transformers import AutoTokenizer

    return lambda: AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def _refuse():
    raise AssertionError("transformers was asked for the tokenizer: the cache was not used")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", WORDS[:5], layers=1)
    reference = _transformers(folder)()
    first = load_tokenizer(folder, _transformers(folder))
    assert not isinstance(first, CachedTokenizer) and cache_file(folder).is_file()
    return folder, reference, load_tokenizer(folder, _refuse)


def _same(reference, cached, texts):
    assert cached(texts)["input_ids"] == reference(texts, add_special_tokens=False)["input_ids"]


def test_the_cache_is_used_and_keeps_the_special_ids(tiny):
    folder, reference, cached = tiny
    assert isinstance(cached, CachedTokenizer) and len(cached) == len(reference)
    assert {name: getattr(cached, name) for name in SPECIAL} == {name: getattr(reference, name, None)
                                                                 for name in SPECIAL}
    assert cached.mask_token_id is not None
    _same(reference, cached, WORDS)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6))
def test_any_text_encodes_as_transformers_does(tiny, texts):
    _, reference, cached = tiny
    _same(reference, cached, texts)


def test_the_key_follows_tokenizer_files_not_weights(tiny, tmp_path):
    import shutil

    folder = Path(shutil.copytree(tiny[0], tmp_path / "copy"))
    key = cache_file(folder)
    assert key == cache_file(tiny[0])  # content, not place
    weights = next(path for path in folder.iterdir() if path.suffix == ".safetensors")
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert cache_file(folder) == key
    (folder / "vocab.txt").write_text((folder / "vocab.txt").read_text() + "nuevo\n")
    assert cache_file(folder) != key


def test_a_damaged_cache_file_is_rebuilt(tiny, tmp_path):
    import shutil

    folder = Path(shutil.copytree(tiny[0], tmp_path / "copy"))
    (folder / "tokenizer_config.json").write_text((folder / "tokenizer_config.json").read_text() + "\n")
    path = cache_file(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": 1, "backend": "not json')
    rebuilt = load_tokenizer(folder, _transformers(folder))
    assert not isinstance(rebuilt, CachedTokenizer)
    _same(tiny[1], load_tokenizer(folder, _refuse), WORDS)


@pytest.mark.skipif(not (E5 / "tokenizer.json").is_file(), reason="multilingual-e5-small not prepared here")
def test_e5_real_words_encode_as_transformers_does(shared_data):
    from zsner.data.conll import read_dataset

    words = sorted({word for lang in ("es", "ar") for sentence in read_dataset(lang, "test")[:400]
                    for word in sentence.words}) + WORDS
    reference = _transformers(E5)()
    load_tokenizer(E5, _transformers(E5))
    _same(reference, load_tokenizer(E5, _refuse), words)
