"""Cross-lingual data: source (labelled) and target (unlabelled train, labelled dev/test for evaluation only)
corpora over one joint word vocabulary, with vectors from the cached unsupervised mapping (or monolingual ones).

Joint vocabulary entries are ``"<lang>:<word>"``; each language's rows come from its own vectors. Target
training sentences are read with ``labelled=False``: their tag column never reaches the program.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TaggerConfig, TrainConfig
from ..data.batches import EncodedCorpus
from ..data.tags import chunks, tag_set
from ..data.vocab import Vocabulary, build_word_vocab, char_vocab, embedding_matrix, random_rows
from ..embeddings import load_vectors
from ..errors import ZsnerError
from ..timings import StepTimes
from ..train.prepare import Vocabs
from .inputs import TransferInputs

log = logging.getLogger("zsner")


@dataclass
class CrossData:
    vocabs: Vocabs
    embeddings: np.ndarray
    corpora: dict  # "src-train", "src-dev", "src-test", "tgt-train" (unlabelled), "tgt-dev", "tgt-test"
    coverage: dict
    src: str
    tgt: str
    pretrained: np.ndarray | None = None  # rows holding a vector; the others are drawn from the run's seed
    seed: int | None = None  # the seed the rows without a vector were drawn from

    def for_seed(self, seed: int) -> "CrossData":
        """The same data with the rows without a vector drawn for ``seed``, as a run started with that seed
        draws them: a seed gives the same run alone (``--seed S --seeds 1``, a grid task) or among others."""
        if self.pretrained is None or seed == self.seed:
            return self
        matrix = random_rows(*self.embeddings.shape, seed)
        matrix[self.pretrained] = self.embeddings[self.pretrained]
        return dataclasses.replace(self, embeddings=matrix, seed=seed)


def _vectors(mode: str, inputs: TransferInputs, target_emb: str, mapping_dir: Path | None):
    if mode == "mono":
        src_file, tgt_file = inputs.vector_files
        return load_vectors(src_file), None if target_emb == "random" else load_vectors(tgt_file)
    return load_vectors(mapping_dir / "src.mapped.vec"), load_vectors(mapping_dir / "tgt.mapped.vec")


def prepare_crosslingual(inputs: TransferInputs, mode: str, train: TrainConfig, tagger: TaggerConfig,
                         mapping_dir: Path | None, target_emb: str = "mono", times: StepTimes | None = None) -> CrossData:
    """The joint vocabulary, embedding matrix and encoded corpora of one variant, from resolved inputs; ``times``
    gets the seconds of its steps (vectors, vocabularies with the embedding matrix, encoding)."""
    times = times or StepTimes()
    src, tgt = inputs.src, inputs.tgt
    src_splits, tgt_splits = inputs.splits
    with times.step("vectors"):
        src_vectors, tgt_vectors = _vectors(mode, inputs, target_emb, mapping_dir)
    for vectors in (src_vectors, tgt_vectors):
        if vectors is not None and vectors.dim != tagger.word_dim:
            raise ZsnerError(f"vectors have dimension {vectors.dim} but --word-dim is {tagger.word_dim}", vectors.source)

    with times.step("vocabularies"):
        vocabs, matrix, pretrained, found = _joint_vocabulary(src, tgt, src_splits, tgt_splits, src_vectors,
                                                              tgt_vectors, tagger.word_dim, train.seed)
    with times.step("encoding"):
        corpora = {}
        for lang, splits in ((src, src_splits), (tgt, tgt_splits)):
            side = "src" if lang == src else "tgt"
            for split, sentences in splits.items():
                labelled = not (side == "tgt" and split == "train")
                corpora[f"{side}-{split}"] = EncodedCorpus(sentences, vocabs.words, vocabs.chars,
                                                           vocabs.tags if labelled else None, tagger.max_word_length,
                                                           prefix=f"{lang}:")
    coverage = {name: round(100.0 * float(np.mean(np.concatenate(c.word_ids) != 1)), 2) for name, c in corpora.items()}
    log_vocabulary(vocabs, found, src, tgt, coverage)
    return CrossData(vocabs, matrix, corpora, coverage, src, tgt, pretrained, train.seed)


def _joint_vocabulary(src, tgt, src_splits, tgt_splits, src_vectors, tgt_vectors, dim: int, seed: int):
    """(vocabs, embedding matrix, its pretrained rows, (source, target) rows found in the vectors)."""
    words = Vocabulary()
    src_words = lambda *names: [w for name in names for s in src_splits[name] for w in s.words]  # noqa: E731
    tgt_words = lambda *names: [w for name in names for s in tgt_splits[name] for w in s.words]  # noqa: E731
    build_word_vocab(src_words("train"), src_words("dev", "test"), src_vectors, words, f"{src}:")
    # target words: every word that has a vector (random vectors: every word, all random)
    build_word_vocab(tgt_words("train", "dev", "test") if tgt_vectors is None else [],
                     tgt_words("train", "dev", "test"), tgt_vectors, words, f"{tgt}:")
    pretrained = np.zeros(len(words), dtype=bool)
    matrix, found_src = embedding_matrix(words, src_vectors, dim, seed, f"{src}:", pretrained=pretrained)
    matrix, found_tgt = embedding_matrix(words, tgt_vectors, dim, prefix=f"{tgt}:", matrix=matrix,
                                         pretrained=pretrained)
    types = {kind for sentence in src_splits["train"] for kind, _, _ in chunks(sentence.tags)}
    vocabs = Vocabs(words, char_vocab(src_words("train") + tgt_words("train")), Vocabulary(tag_set(types, "iobes")))
    return vocabs, matrix, pretrained, (found_src, found_tgt)


def log_vocabulary(vocabs: Vocabs, found: tuple, src: str, tgt: str, coverage: dict) -> None:
    log.info("joint vocabulary: %d words (%d %s + %d %s pretrained), %d chars; in-vocabulary tokens %% %s",
             len(vocabs.words), found[0], src, found[1], tgt, len(vocabs.chars), coverage)
