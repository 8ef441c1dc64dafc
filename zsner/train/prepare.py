"""From a language code (or files) and configs to encoded corpora, vocabularies and an embedding matrix."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..config import TaggerConfig, TrainConfig
from ..data.batches import EncodedCorpus
from ..data.conll import Sentence, read_conll, read_dataset
from ..data.tags import chunks, tag_set
from ..data.vocab import Vocabulary, build_word_vocab, char_vocab, embedding_matrix
from ..embeddings import WordVectors, load_vectors
from ..resources import SPLITS, embedding_path

log = logging.getLogger(__name__)


@dataclass
class Vocabs:
    words: Vocabulary
    chars: Vocabulary
    tags: Vocabulary

    def to_dict(self) -> dict:
        return {"words": self.words.items, "chars": self.chars.items, "tags": self.tags.items}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabs":
        return cls(Vocabulary(list(data["words"])), Vocabulary(list(data["chars"])), Vocabulary(list(data["tags"])))


def read_splits(lang: str, docstart: str = "", data_dir=None, limits: dict | None = None,
                files: dict | None = None) -> dict[str, list[Sentence]]:
    """All three splits of a registered language (read completely before anything is used); ``files`` maps a split
    to a UTF-8 CoNLL file read in its place (``--train-file``, ``--dev-file``)."""
    limits = limits or {}
    splits = {}
    for split in SPLITS:
        given = (files or {}).get(split)
        sentences = read_conll(given, "utf-8") if given else read_dataset(lang, split, data_dir, docstart=docstart)
        if limits.get(split):
            sentences = sentences[: limits[split]]
        splits[split] = sentences
    return splits


def load_language_vectors(lang: str, path: str = "", max_vocab: int = 0, data_dir=None) -> WordVectors:
    source = path or embedding_path(lang, data_dir)
    vectors = load_vectors(source, max_vocab or None)
    log.info("vectors %s: %d words, dim %d", source, len(vectors), vectors.dim)
    return vectors


def build_vocabs(splits: dict[str, list[Sentence]], vectors: WordVectors | None) -> Vocabs:
    train_words = [word for sentence in splits["train"] for word in sentence.words]
    other_words = [word for split in ("dev", "test") for sentence in splits.get(split, []) for word in sentence.words]
    types = {kind for sentence in splits["train"] for kind, _, _ in chunks(sentence.tags)}
    tags = Vocabulary(tag_set(types, "iobes"))  # "<pad>"/"<unk>" are not tags: the table is the tag list itself
    return Vocabs(build_word_vocab(train_words, other_words, vectors), char_vocab(train_words), tags)


def encode(splits: dict[str, list[Sentence]], vocabs: Vocabs, tagger: TaggerConfig, labelled: bool = True) -> dict:
    return {split: EncodedCorpus(sentences, vocabs.words, vocabs.chars, vocabs.tags if labelled else None,
                                 tagger.max_word_length) for split, sentences in splits.items()}


def coverage_report(splits: dict[str, list[Sentence]], vectors: WordVectors) -> dict[str, float]:
    """% of tokens per split that have a pretrained vector (exact -> lower -> digits-to-0 lookup)."""
    return {split: round(vectors.coverage(w for s in sentences for w in s.words), 2) for split, sentences in splits.items()}


@dataclass
class Prepared:
    splits: dict
    vocabs: Vocabs
    corpora: dict
    embeddings: np.ndarray
    coverage: dict
    pretrained_rows: int = 0


def prepare_supervised(train: TrainConfig, tagger: TaggerConfig, data_dir=None) -> Prepared:
    limits = {"train": train.train_limit, "dev": train.eval_limit, "test": train.eval_limit}
    files = {"train": train.train_file, "dev": train.dev_file}
    splits = read_splits(train.lang, train.docstart, data_dir, limits, files)
    vectors = load_language_vectors(train.lang, train.embeddings, train.max_vocab, data_dir)
    if vectors.dim != tagger.word_dim:
        from ..errors import ZsnerError

        raise ZsnerError(f"vectors have dimension {vectors.dim} but --word-dim is {tagger.word_dim}", vectors.source)
    vocabs = build_vocabs(splits, vectors)
    matrix, found = embedding_matrix(vocabs.words, vectors, tagger.word_dim, seed=train.seed)
    coverage = coverage_report(splits, vectors)
    log.info("vocabulary: %d words (%d pretrained), %d chars, %d tags; coverage %% %s",
             len(vocabs.words), found, len(vocabs.chars), len(vocabs.tags), coverage)
    return Prepared(splits, vocabs, encode(splits, vocabs, tagger), matrix, coverage, found)
