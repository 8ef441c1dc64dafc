"""The configs of `zsner transfer` (light: parsing a command or gathering finished seeds imports no torch):
the transfer itself, Algorithm 1's rounds, the variants and their architectures, the paper's mapping directions."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import TaggerConfig
from ..errors import ZsnerError
from ..extras import require
from ..teachers import TEACHER_DECODE_HELP, TEACHER_HELP, check_decode

MODES = ("mono", "word-nochar", "word", "shared", "augmented")
VECTORS = ("fasttext", "encoder", "concat")  # the word space: see transfer/spaces.py
SPECULATE = ("auto", "on", "off")  # see transfer/speculation.py
PAPER_DIRECTIONS = {"ar": "t2s", "fi": "t2s"}  # Bari et al.: s2t for es/nl/de, t2s for ar/fi


def default_direction(tgt: str) -> str:
    return PAPER_DIRECTIONS.get(tgt, "s2t")

@dataclass
class TransferConfig:
    src: str = "en"
    tgt: str = "es"
    mode: str = "augmented"  # mono | word-nochar | word | shared | augmented
    base: str = "shared"  # the variant Cross-Augmented starts from
    target_emb: str = "mono"  # Source-Mono only: target vectors mono | random
    direction: str = ""  # s2t | t2s; empty = the paper's (t2s for ar and fi, s2t otherwise)
    seeds: int = 1  # the paper reports 5
    cache_dir: str = "runs/cache"
    mapping_dir: str = ""  # a finished `zsner map` run folder to use instead of the cached mapping
    vectors: str = "fasttext"  # word space: fasttext (the paper's: mapped monolingual vectors) | encoder | concat
    encoder: str = ""  # local Hugging Face encoder folder for --vectors encoder|concat
    encoder_layer: int = 6  # the encoder layer the static word vectors are read from
    encoder_contexts: bool = False  # average each word's states over its occurrences in the language's NER
                                    # training sentences (read without tags); isolated words otherwise
    figures: bool = True
    base_only: bool = False  # --mode augmented: train only the seeds' base folders (the augmented run reuses them;
                             # a grid runs them as tasks of their own)
    mapping_config: str = ""  # JSON file of MappingConfig fields for the mapping learned here (default: MUSE's)
    speculate: str = "auto"  # train the first seed's source model on the identical-strings chain's mapping while
                             # adversarial training finishes; kept only if the final mapping is that one (same
                             # results): auto (a spare core, one torch thread) | on | off

    @property
    def base_variant(self) -> str:
        """The variant trained on source labels: ``base`` under augmented, else the mode itself."""
        return self.base if self.mode == "augmented" else self.mode

    @property
    def mapping_direction(self) -> str:
        return self.direction or default_direction(self.tgt)

    @property
    def vectors_required(self) -> tuple[bool, bool]:
        """Whether the run reads the (source, target) monolingual vectors file: to map them, or as Source-Mono's."""
        if self.base_variant == "mono":
            return True, self.target_emb != "random"
        return not self.mapping_dir, not self.mapping_dir


def variant_tagger(mode: str, base: TaggerConfig) -> TaggerConfig:
    """The architecture of each variant (augmented: that of its base, set by the caller)."""
    if mode == "word-nochar":
        return dataclasses.replace(base, use_chars=False, shared_lstm=False)
    if mode in ("mono", "word"):
        return dataclasses.replace(base, shared_lstm=False)
    if mode == "shared":
        return dataclasses.replace(base, shared_lstm=True)
    return base


@dataclass
class AugmentConfig:
    """Algorithm 1 of Bari et al.: length-sampled pseudo-labelling rounds with joint training (Eq. 7)."""

    rounds: int = 10  # pseudo-labelling rounds ("repeat until convergence"; best checkpoint kept per criterion)
    round_steps: int = 300  # joint steps (one source + one pseudo-labelled target batch each) per round
    min_length: int = 0  # l ~ U(min_length, max_length); 0 = the shortest / longest target training sentence
    max_length: int = 0  # (capped by the training max_train_length)
    teacher: str = field(default="", metadata={"help": TEACHER_HELP})  # transformer run folders / checkpoints,
    # comma-separated, whose tags replace θ_s's pseudo-labels (one: its own tags; several: zsner/teachers.py's rule)
    teacher_decode: str = field(default="", metadata={"help": TEACHER_DECODE_HELP})  # '' | viterbi


def space_tagger(config: TransferConfig, tagger: TaggerConfig) -> TaggerConfig:
    """``tagger`` with the word dimension of the run's word space (encoder vectors: the encoder's hidden size,
    read from its folder; concat: both)."""
    if config.vectors == "fasttext":
        return tagger
    from .spaces import encoder_dim

    added = encoder_dim(config.encoder)
    return dataclasses.replace(tagger, word_dim=added + (tagger.word_dim if config.vectors == "concat" else 0))


def check_options(config: TransferConfig, teacher: str = "", teacher_decode: str = "") -> None:
    """The choices of a transfer command and the extras they need, checked before anything is read (``teacher``,
    ``teacher_decode``: AugmentConfig's)."""
    base = config.base_variant
    decode_problem = check_decode(teacher_decode, teacher)
    for ok, message in [
            (config.mode in MODES, f"unknown --mode {config.mode!r}; choose from {', '.join(MODES)}"),
            (config.base in MODES[:-1], f"--base must be one of {', '.join(MODES[:-1])}"),
            (config.speculate in SPECULATE, f"unknown --speculate {config.speculate!r}; choose from "
                                            f"{', '.join(SPECULATE)}"),
            (config.vectors in VECTORS, f"unknown --vectors {config.vectors!r}; choose from {', '.join(VECTORS)}"),
            (config.vectors == "fasttext" or not (base == "mono" or config.mapping_dir),
             f"--vectors {config.vectors} builds its own shared space: it does not go with --mode mono or "
             "--mapping-dir"),
            (not teacher or config.mode == "augmented",
             "--teacher replaces Algorithm 1's pseudo-labels: it needs --mode augmented"),
            (decode_problem is None, decode_problem)]:
        if not ok:
            raise ZsnerError(message)
    if config.vectors != "fasttext":
        require("transformer", f"--vectors {config.vectors}")
    if teacher:
        require("transformer", "--teacher")
