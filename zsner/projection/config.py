"""``ProjectionConfig``: the defaults of the method, each a ``zsner project`` flag.

SimAlign (Jalili Sabet et al., 2020): word vectors from a middle layer (8 of 12 for mBERT), cosine similarity,
``argmax`` = mutual argmax, ``itermax`` = two rounds of mutual argmax over the words still unaligned (alpha 0.9).
Entity-alignment model (Li et al., 2021): ``[CLS] entity [SEP] target sentence [SEP]`` token classification
trained on 30k examples from the parallel text, 25% of them negatives.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ZsnerError

ALIGNERS = ("similarity", "entity")
METHODS = ("argmax", "itermax")


@dataclass
class ProjectionConfig:
    src: str = "en"
    tgt: str = "es"
    parallel: str = ""  # folder with <src>.txt and <tgt>.txt (empty: parallel/<src>-<tgt> on the data search path)
    tagger: str = ""  # run folder of the source tagger (transformer or classic)
    aligner: str = "similarity"  # similarity | entity
    model: str = ""  # encoder folder for alignment (empty: the transformer tagger's base model)
    tagger_embeddings: str = ""  # classic tagger: source vectors for words outside its vocabulary (optional)
    fraction: float = 1.0  # share of the pairs used (a seeded random subset; smaller shares are nested in larger)
    max_pairs: int = 0  # cap on the pairs used after --fraction (0 = no cap)
    exclude: str = ""  # comma-separated subset prefixes of meta.tsv to leave out (e.g. tatoeba)
    seed: int = 1
    # similarity alignment
    layer: int = 8  # hidden layer whose states are the word vectors (0 = embeddings; SimAlign: 8 of 12)
    method: str = "itermax"  # argmax | itermax
    itermax_rounds: int = 2
    itermax_alpha: float = 0.9
    window: int = 128  # sub-tokens per encoder window, special tokens included (longer sentences: more windows)
    overlap: int = 16
    # span rules (both aligners)
    fill_gaps: bool = True  # a gap of words aligned to nothing inside a projected span is taken in
    length_ratio: float = 2.0  # implausible: max(len) > ratio * min(len) + length_slack (source vs target words)
    length_slack: int = 1
    keep_empty: bool = True  # keep pairs whose source side has no entity (all-O target sentences)
    cased_only: bool = False  # a projected span without a capitalised target word is written as O (targets whose
    # guidelines tag proper names only, e.g. CoNLL-2002 Spanish; wrong for German CoNLL and scripts without case)
    # entity-alignment model
    aligner_examples: int = 30000  # training examples (positives + negatives)
    negative_share: float = 0.25
    heldout_share: float = 0.1  # pairs kept out of the aligner's examples (the precision estimate's own pairs)
    aligner_epochs: int = 1
    aligner_lr: float = 5e-5
    aligner_batch_size: int = 32
    aligner_freeze_layers: int = -1  # -1 none, 0 embeddings, k embeddings + lowest k layers
    aligner_threshold: float = 0.5  # p(inside) above which a target word belongs to the entity
    # output and runtime
    dev_share: float = 0.1  # kept sentences held out as dev.conll (a zero-resource selection set)
    batch_size: int = 32  # inference batch (windows)
    chunk_size: int = 1000  # pairs tagged and aligned per resumable chunk (a killed run loses at most one)
    threads: int = 1
    device: str = "auto"
    progress: bool = True


def validate(config: ProjectionConfig) -> None:
    checks = [
        (config.aligner in ALIGNERS, f"--aligner must be one of {', '.join(ALIGNERS)}"),
        (config.method in METHODS, f"--method must be one of {', '.join(METHODS)}"),
        (0.0 < config.fraction <= 1.0, "--fraction must be in (0, 1]"),
        (config.max_pairs >= 0 and config.layer >= 0, "--max-pairs and --layer must be >= 0"),
        (config.itermax_rounds >= 1, "--itermax-rounds must be at least 1"),
        (config.window >= 8 and 0 <= config.overlap < config.window - 2, "--window >= 8, 0 <= --overlap < window - 2"),
        (config.length_ratio >= 1.0 and config.length_slack >= 0, "--length-ratio >= 1 and --length-slack >= 0"),
        (config.aligner_examples >= 1, "--aligner-examples must be at least 1"),
        (0.0 <= config.negative_share < 1.0, "--negative-share must be in [0, 1)"),
        (0.0 <= config.heldout_share < 1.0 and 0.0 <= config.dev_share < 1.0, "--heldout-share, --dev-share in [0, 1)"),
        (0.0 < config.aligner_threshold < 1.0, "--aligner-threshold must be in (0, 1)"),
        (config.aligner_epochs >= 1 and config.aligner_batch_size >= 1 and config.batch_size >= 1,
         "epochs and batch sizes must be at least 1"),
        (config.chunk_size >= 1, "--chunk-size must be at least 1"),
        (bool(config.tagger), "--tagger RUN_DIR is required"),
        (config.src != config.tgt, "--src and --tgt must differ"),
    ]
    for ok, message in checks:
        if not ok:
            raise ZsnerError(message)
