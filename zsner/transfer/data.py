"""Cross-lingual data: source (labelled) and target (unlabelled train, labelled dev/test for evaluation only)
corpora over one joint word vocabulary, with vectors from the cached unsupervised mapping (or monolingual ones).

Joint vocabulary entries are ``"<lang>:<word>"``; each language's rows come from its own vectors. Target
training sentences are read with ``labelled=False``: their tag column never reaches the program.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import build_lock
from ..config import TaggerConfig, TrainConfig
from ..data.batches import EncodedCorpus
from ..data.conll import read_dataset
from ..data.tags import chunks, tag_set
from ..data.vocab import Vocabulary, build_word_vocab, char_vocab, embedding_matrix, random_rows
from ..embeddings import load_vectors
from ..errors import ZsnerError
from ..jsonfile import read_json
from ..resources import dictionary_path, embedding_path
from ..train.prepare import Vocabs, read_splits

log = logging.getLogger("zsner")
PAPER_DIRECTIONS = {"ar": "t2s", "fi": "t2s"}  # Bari et al.: s2t for es/nl/de, t2s for ar/fi


def default_direction(tgt: str) -> str:
    return PAPER_DIRECTIONS.get(tgt, "s2t")


@dataclass
class TransferInputs:
    """Everything `zsner transfer` reads, resolved once at the command's edge (search path, files, sentences)."""

    src: str
    tgt: str
    splits: tuple[dict, dict]  # source splits (labelled), target splits (train unlabelled, dev/test labelled)
    vector_files: tuple[Path | None, Path | None]  # monolingual vectors of each side, None if absent
    eval_dict: Path | None  # MUSE dictionary for the mapping's P@k report only (never for training)
    mapping_overrides: dict = field(default_factory=dict)  # MappingConfig fields from --mapping-config


def resolve_inputs(src: str, tgt: str, train: TrainConfig, data_dir=None,
                   required: tuple[bool, bool] = (True, True), mapping_config: str = "") -> TransferInputs:
    """Read both languages' splits and find their vectors and evaluation dictionary: every missing or malformed
    input fails here, before anything is written. ``required``: whether each side's vectors file must exist;
    ``mapping_config``: a JSON file of MappingConfig fields for the mappings learned here."""
    splits = read_crosslingual(src, tgt, train, data_dir)
    files = []
    for lang, needed in zip((src, tgt), required):
        try:
            files.append(embedding_path(lang, data_dir))
        except ZsnerError:
            if needed:
                raise
            files.append(None)
    try:
        eval_dict = dictionary_path(src, tgt, data_dir=data_dir)
    except ZsnerError:
        eval_dict = None
    return TransferInputs(src, tgt, splits, (files[0], files[1]), eval_dict, read_mapping_config(mapping_config))


def read_mapping_config(path: str) -> dict:
    """``--mapping-config FILE``: a JSON object of MappingConfig fields (checked here; ``direction`` is
    ``--direction``'s); {} for none."""
    from ..mapping.config import MappingConfig

    if not path:
        return {}
    values = read_json(path, "mapping config", expect=None)
    if isinstance(values, dict) and "direction" in values:
        raise ZsnerError("the mapping direction is --direction's, not the mapping config's", path)
    try:
        MappingConfig.from_dict(values)
    except ZsnerError as err:
        raise ZsnerError(str(err), path) from None
    return values


def mapping_folder(inputs: TransferInputs, direction: str, cache_dir, overrides: dict | None = None):
    """(the cache folder of the mapping for these inputs and config, that config)."""
    from ..mapping.config import MappingConfig
    from ..mapping.pipeline import mapping_cache_key

    config = MappingConfig(direction=direction, **{**inputs.mapping_overrides, **(overrides or {})})
    key = mapping_cache_key(*inputs.vector_files, config)
    return Path(cache_dir) / "mapping" / f"{inputs.src}-{inputs.tgt}-{direction}-{key}", config


def mapping_cached(folder: Path) -> bool:
    return (folder / "src.mapped.vec").is_file() and (folder / "tgt.mapped.vec").is_file()


def ensure_mapping(inputs: TransferInputs, direction: str, cache_dir, overrides: dict | None = None,
                   progress: bool = True, candidate=None) -> Path:
    """Folder of the unsupervised mapping for (src, tgt, direction, vector files, config), computed once and
    reused. The folder appears atomically (built under a temporary name, then renamed). ``candidate``: see
    ``learn_mapping`` (used only when the mapping is learned here)."""
    from ..mapping.pipeline import learn_mapping

    (src_file, tgt_file), src, tgt = inputs.vector_files, inputs.src, inputs.tgt
    folder, config = mapping_folder(inputs, direction, cache_dir, overrides)
    with build_lock(folder):
        if mapping_cached(folder):
            log.info("mapping: reusing %s", folder)
            return folder
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log.info("mapping: learning %s -> %s (%s) into %s", src, tgt, direction, folder)
        learn_mapping(src_file, tgt_file, config, eval_dict=inputs.eval_dict, out_dir=building, progress=progress,
                      candidate=candidate)
        building.rename(folder)
    return folder


@dataclass
class CrossData:
    vocabs: Vocabs
    embeddings: np.ndarray
    corpora: dict  # "src-train", "src-dev", "src-test", "tgt-train" (unlabelled), "tgt-dev", "tgt-test"
    coverage: dict
    src: str
    tgt: str
    pretrained: np.ndarray | None = None  # rows holding a vector; the others are drawn from the run's seed

    def for_seed(self, seed: int) -> "CrossData":
        """The same data with the rows without a vector drawn for ``seed``, as a run started with that seed
        draws them: a seed gives the same run alone (``--seed S --seeds 1``, a grid task) or among others."""
        if self.pretrained is None:
            return self
        matrix = random_rows(*self.embeddings.shape, seed)
        matrix[self.pretrained] = self.embeddings[self.pretrained]
        return dataclasses.replace(self, embeddings=matrix)


def _vectors(mode: str, inputs: TransferInputs, target_emb: str, mapping_dir: Path | None):
    if mode == "mono":
        src_file, tgt_file = inputs.vector_files
        return load_vectors(src_file), None if target_emb == "random" else load_vectors(tgt_file)
    return load_vectors(mapping_dir / "src.mapped.vec"), load_vectors(mapping_dir / "tgt.mapped.vec")


def read_crosslingual(src: str, tgt: str, train: TrainConfig, data_dir=None) -> tuple[dict, dict]:
    """Source splits (labelled) and target splits: train without labels, dev/test labelled for evaluation."""
    limits = {"train": train.train_limit, "dev": train.eval_limit, "test": train.eval_limit}
    src_splits = read_splits(src, data_dir=data_dir, limits=limits)
    tgt_splits = {"train": read_dataset(tgt, "train", data_dir, labelled=False)}
    tgt_splits.update({split: read_dataset(tgt, split, data_dir) for split in ("dev", "test")})
    for split, limit in limits.items():
        if limit:
            tgt_splits[split] = tgt_splits[split][:limit]
    return src_splits, tgt_splits


def prepare_crosslingual(inputs: TransferInputs, mode: str, train: TrainConfig, tagger: TaggerConfig,
                         mapping_dir: Path | None, target_emb: str = "mono") -> CrossData:
    """The joint vocabulary, embedding matrix and encoded corpora of one variant, from resolved inputs."""
    src, tgt = inputs.src, inputs.tgt
    src_splits, tgt_splits = inputs.splits
    src_vectors, tgt_vectors = _vectors(mode, inputs, target_emb, mapping_dir)
    for vectors in (src_vectors, tgt_vectors):
        if vectors is not None and vectors.dim != tagger.word_dim:
            raise ZsnerError(f"vectors have dimension {vectors.dim} but --word-dim is {tagger.word_dim}", vectors.source)

    words = Vocabulary()
    src_words = lambda *names: [w for name in names for s in src_splits[name] for w in s.words]  # noqa: E731
    tgt_words = lambda *names: [w for name in names for s in tgt_splits[name] for w in s.words]  # noqa: E731
    build_word_vocab(src_words("train"), src_words("dev", "test"), src_vectors, words, f"{src}:")
    # target words: every word that has a vector (random vectors: every word, all random)
    build_word_vocab(tgt_words("train", "dev", "test") if tgt_vectors is None else [],
                     tgt_words("train", "dev", "test"), tgt_vectors, words, f"{tgt}:")
    pretrained = np.zeros(len(words), dtype=bool)
    matrix, found_src = embedding_matrix(words, src_vectors, tagger.word_dim, train.seed, f"{src}:",
                                         pretrained=pretrained)
    matrix, found_tgt = embedding_matrix(words, tgt_vectors, tagger.word_dim, prefix=f"{tgt}:", matrix=matrix,
                                         pretrained=pretrained)
    types = {kind for sentence in src_splits["train"] for kind, _, _ in chunks(sentence.tags)}
    vocabs = Vocabs(words, char_vocab(src_words("train") + tgt_words("train")), Vocabulary(tag_set(types, "iobes")))

    corpora = {}
    for lang, splits in ((src, src_splits), (tgt, tgt_splits)):
        side = "src" if lang == src else "tgt"
        for split, sentences in splits.items():
            labelled = not (side == "tgt" and split == "train")
            corpora[f"{side}-{split}"] = EncodedCorpus(sentences, words, vocabs.chars, vocabs.tags if labelled else None,
                                                       tagger.max_word_length, prefix=f"{lang}:")
    coverage = {name: round(100.0 * float(np.mean(np.concatenate(c.word_ids) != 1)), 2) for name, c in corpora.items()}
    log.info("joint vocabulary: %d words (%d %s + %d %s pretrained), %d chars; in-vocabulary tokens %% %s",
             len(words), found_src, src, found_tgt, tgt, len(vocabs.chars), coverage)
    return CrossData(vocabs, matrix, corpora, coverage, src, tgt, pretrained)
