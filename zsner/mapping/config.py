"""`MappingConfig`: every knob of the unsupervised mapping, with the MUSE reference defaults.

Departures from MUSE (``unsupervised.py`` of Conneau et al. 2017), measured on the 2-core CPU of
``docs/results_mapping.md`` (see there for the figures):

* ``epoch_size`` 1,000,000 -> 16,000 samples (x 5 epochs). One adversarial iteration (5 discriminator
  steps + 1 mapping step, batch 32, 2048-wide discriminator) takes ~0.13 s on one core, so MUSE's 5 x 1M
  samples would take ~6 h; 5 x 16k (2,500 mapping steps) keeps a whole en-es run under 15 minutes.
* ``threads`` 1: with another job on the machine, 2 torch threads made an iteration ~8x slower.
* ``bf16``: the discriminator runs under bfloat16 autocast (~1.7x faster here); W stays float32.
* The adversarial criterion is computed on the orthogonal matrix nearest to W (and that matrix is the
  stage's result): W drifts to max|WW^T - I| ~ 0.1-0.2 here, and a non-orthogonal W inflates mean cosines.
* ``fallback="always"``: the identical-strings initialisation is refined too and competes on the criterion
  (at an equal number of refinement steps: refinement raises the criterion whatever it learns).
  The chance test alone is too weak: on en-es a failed adversarial run (P@1 0) scores +0.06 above chance.
* Refinement must not drift (docs/results/reproduction.md §3.1): MUSE's refinement from an identical-strings seed
  dominated by numbers and names lowered P@1 on en-nl/fi/de while the mean-cosine criterion rose. Here identical strings
  that were not fitted watch translation quality: a step that loses more than ``drift_tolerance`` points of
  their P@1 ends the refinement. The identical chain is first refined on a validation split (``1 -
  watch_fraction`` of the seed fitted, the rest watched); the chain on the whole seed then runs as many steps as
  the split allowed. Adversarial and identity chains are watched by all identical strings. Keeping the seed
  pairs in every step (``anchor_seed``) or mutual-neighbour dictionaries (``S2T&T2S``) also hold the seed but
  cost en-es P@1 (26.0 / 21.9 instead of 27.0 after 5 steps), so both are options, not defaults.
* The held-out identical strings missed the drift on en-nl/de/fi (docs/results/reproduction.md §3.2). The
  validation split now holds the same hash share of the frequent words out of every dictionary, and a step
  where the share of them that are mutual CSLS neighbours of their translation falls by more than
  ``mutual_tolerance`` (10%, relative) ends it. On en-es that share stays within 1% of its start over 5 steps;
  on en-nl/de/fi it loses 14-37% at the first step. The identical strings' P@1 is only recorded there: with
  their words out of the dictionaries it falls on en-es too. Adversarial and identity chains keep the
  identical-strings watch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..config import field_type_error
from ..errors import ZsnerError

DIRECTIONS = ("s2t", "t2s")
INITS = ("adversarial", "identical", "identity")
FALLBACKS = ("always", "on-failure", "none")
DICO_BUILDS = ("S2T", "T2S", "S2T|T2S", "S2T&T2S")
NORM_STEPS = ("", "center", "renorm")


@dataclass
class MappingConfig:
    # embeddings
    max_vocab: int = 200_000          # most frequent (lowercased, deduplicated) words used per side
    lowercase: bool = True            # most frequent casing wins on collisions
    normalize: str = ""               # comma-separated steps, e.g. "renorm,center,renorm" (MUSE: none)
    direction: str = "s2t"            # s2t: W maps source -> target; t2s: target -> source
    init: str = "adversarial"         # adversarial | identical (identical strings as Procrustes seed) |
                                      # identity (spaces that are already shared, e.g. encoder vectors)
    fallback: str = "always"          # also refine from identical strings: always | on-failure | none
    seed: int = 0
    restarts: int = 1                 # adversarial runs with seeds seed, seed+1, ...; best criterion kept
    # discriminator
    dis_layers: int = 2
    dis_hid_dim: int = 2048
    dis_dropout: float = 0.0
    dis_input_dropout: float = 0.1
    dis_steps: int = 5
    dis_lambda: float = 1.0
    dis_most_frequent: int = 75_000
    dis_smooth: float = 0.1
    dis_clip_weights: float = 0.0
    # mapping and schedule
    map_beta: float = 0.001
    batch_size: int = 32
    map_lr: float = 0.1
    dis_lr: float = 0.1
    lr_decay: float = 0.98
    lr_shrink: float = 0.5
    min_lr: float = 1e-6
    n_epochs: int = 5
    epoch_size: int = 16_000
    bf16: bool = True                 # bfloat16 autocast for the discriminator (CPU speed)
    # validation criterion / CSLS
    csls_k: int = 10
    criterion_queries: int = 10_000
    # refinement
    n_refinement: int = 5
    dico_build: str = "S2T"
    dico_max_rank: int = 15_000
    anchor_seed: bool = False         # keep the identical-strings seed pairs in every step's dictionary
    watch_fraction: float = 0.2       # identical strings and frequent words held out of the validation split (0: none)
    drift_tolerance: float = 1.0      # points of held-out P@1 a step may lose; a bigger loss stops refinement
    mutual_tolerance: float = 0.1     # share (relative) of the held-out words' mutual neighbours a step may lose
    # failure detection: the adversarial criterion must beat identity and random rotations by this much
    chance_margin: float = 0.02
    chance_trials: int = 3
    # evaluation / runtime (do not change results)
    eval_ks: tuple = (1, 5, 10)
    eval_every_step: bool = False     # P@k after every refinement step (else: initial and best step only)
    block_size: int = 4096            # rows per block in NN/CSLS search (memory ~ block x vocab floats)
    threads: int = 1                  # torch threads; 0 = leave torch's default
    export: bool = True               # write the mapped full cased vocabularies as .vec

    def __post_init__(self):
        self.eval_ks = tuple(int(k) for k in self.eval_ks)
        self.validate()

    def validate(self) -> None:
        _choice("direction", self.direction, DIRECTIONS)
        _choice("init", self.init, INITS)
        _choice("fallback", self.fallback, FALLBACKS)
        _choice("dico_build", self.dico_build, DICO_BUILDS)
        for step in self.normalize.split(","):
            _choice("normalize step", step.strip(), NORM_STEPS)
        for name in ("max_vocab", "batch_size", "restarts", "dis_hid_dim", "csls_k", "criterion_queries",
                     "dico_max_rank", "block_size", "chance_trials"):
            if getattr(self, name) < 1:
                raise ZsnerError(f"mapping config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_epochs", "epoch_size", "n_refinement", "dis_steps", "dis_layers", "threads"):
            if getattr(self, name) < 0:
                raise ZsnerError(f"mapping config: {name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.watch_fraction < 1:
            raise ZsnerError(f"mapping config: watch_fraction must be in [0, 1), got {self.watch_fraction}")
        if self.drift_tolerance < 0:
            raise ZsnerError(f"mapping config: drift_tolerance must be >= 0, got {self.drift_tolerance}")
        if not 0 <= self.mutual_tolerance <= 1:
            raise ZsnerError(f"mapping config: mutual_tolerance must be in [0, 1], got {self.mutual_tolerance}")
        if not 0 <= self.dis_smooth < 0.5:
            raise ZsnerError(f"mapping config: dis_smooth must be in [0, 0.5), got {self.dis_smooth}")
        if not self.eval_ks or min(self.eval_ks) < 1:
            raise ZsnerError("mapping config: eval_ks must be positive integers")

    @property
    def norm_steps(self) -> list[str]:
        return [step.strip() for step in self.normalize.split(",") if step.strip()]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["eval_ks"] = list(self.eval_ks)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "MappingConfig":
        """A config from JSON-like data: an object of known fields, each of its default's type."""
        if not isinstance(data, dict):
            raise ZsnerError(f"mapping config: expected a JSON object of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ZsnerError(f"mapping config: unknown field(s) {', '.join(unknown)}")
        problem = field_type_error(cls, data)
        if problem:
            raise ZsnerError(f"mapping config: {problem}")
        return cls(**data)

    def replace(self, **changes) -> "MappingConfig":
        """A copy with some fields changed (``None`` values are ignored, handy for CLI flags)."""
        data = self.to_dict()
        data.update({key: value for key, value in changes.items() if value is not None})
        return MappingConfig.from_dict(data)


# Fields that cannot change the learned mapping; left out of cache keys.
RUNTIME_FIELDS = ("eval_ks", "eval_every_step", "block_size", "threads", "export")


def _choice(name, value, allowed):
    if value not in allowed:
        raise ZsnerError(f"mapping config: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
