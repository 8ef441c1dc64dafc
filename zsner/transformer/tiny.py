"""A tiny random BERT with a written WordPiece vocabulary, as a local model folder (tests, smoke runs; offline).

The vocabulary holds the special tokens, every character (as a word start and as ``##`` continuation) of the
given words, and their most frequent lower-cased forms, so every word tokenises and rarer words split into
several pieces.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _forms(word: str) -> set[str]:
    lowered = word.lower()
    stripped = "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")
    return {lowered, stripped}


def write_vocab(path, words, whole_words: int = 200) -> list[str]:
    """Write ``vocab.txt`` (one piece per line) and return it."""
    characters = sorted({c for word in words for form in _forms(word) for c in form})
    counts = Counter(form for word in words for form in _forms(word) if form.isalpha() and len(form) > 1)
    vocab = SPECIAL + characters + [f"##{c}" for c in characters]
    vocab += [form for form, _ in counts.most_common(whole_words) if form not in vocab]
    Path(path).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return vocab


def build_tiny_model(folder, words, layers: int = 4, hidden: int = 32, heads: int = 2, seed: int = 0,
                     whole_words: int = 200) -> Path:
    """Write a random ``BertForTokenClassification`` and its WordPiece tokenizer to ``folder``."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab = write_vocab(vocab_file, words, whole_words)
    try:
        tokenizer = BertTokenizer(vocab=str(vocab_file), do_lower_case=True)  # transformers 5
    except TypeError:
        tokenizer = BertTokenizer(vocab_file=str(vocab_file), do_lower_case=True)  # transformers 4
    if tokenizer.convert_tokens_to_ids("[MASK]") != SPECIAL.index("[MASK]"):
        raise RuntimeError("the WordPiece vocabulary was not loaded")
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=128,
                        num_labels=3, pad_token_id=0)
    BertForTokenClassification(config).save_pretrained(str(folder))
    return folder
