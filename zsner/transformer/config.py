"""Configs of the transformer backend, with the papers' defaults (``zsner.config`` turns fields into CLI options).

Moon et al. (2019): sequences cut into windows of 64 sub-tokens with an overlap of 8, batch 32, Adam with a
learning rate of about 5e-5, linear warm-up and decay, the first sub-token of a word carries its label (Devlin et
al.). Freezing follows the ``#frz`` convention: -1 freezes nothing, 0 the embeddings, k the embeddings and the
lowest k layers. The reverse-focal loss uses gamma = 4; the cloze task masks 15% of the pieces.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..device import resolve_device
from ..errors import ZsnerError
from ..teachers import TEACHER_DECODE_HELP, TEACHER_HELP, check_decode

HEADS = ("softmax", "crf")
CPU_PRECISIONS = ("", "bf16")  # float32 | bfloat16 autocast (zsner/transformer/bf16.py)
MODES = ("zero-shot", "augmented")
AUX_TASKS = ("li", "cl", "pc")
CRITERIA = ("src-dev", "tgt-dev")


@dataclass
class TransformerConfig:
    """The model: a local Hugging Face encoder folder plus our word-level head."""

    model: str = ""  # path of a local Hugging Face model folder (nothing is downloaded)
    head: str = "softmax"  # softmax | crf (our CRF on word-level scores)
    scheme: str = "iob2"  # training tag scheme: iob2 | iobes
    constrained: bool = True  # CRF head: hard transition constraints of the scheme
    freeze_layers: int = -1  # -1 none, 0 embeddings, k embeddings + lowest k layers
    dropout: float = 0.1
    window: int = 64  # sub-tokens per window, special tokens included
    overlap: int = 8  # sub-tokens shared by consecutive windows of a long sentence
    max_word_pieces: int = 16  # pieces kept per word (the first carries the label); at most window - 2


@dataclass
class TransformerTrainConfig:
    """Data, schedule and experiment switches of one run."""

    src: str = "en"  # comma-separated labelled source languages (several = multilingual training)
    tgt: str = "es"  # comma-separated target languages (evaluated; unlabelled text for aux tasks / pseudo-labels)
    mode: str = "zero-shot"  # zero-shot | augmented (zero-shot, then pseudo-label fine-tuning on target text)
    data_dir: str = ""
    lr: float = 5e-5
    weight_decay: float = 0.01
    batch_size: int = 32
    grad_accum: int = 1  # micro-batches per optimizer step
    epochs: int = 3
    warmup: float = 0.1  # fraction of the steps with linear warm-up (then linear decay to 0)
    max_grad_norm: float = 1.0  # 0 = no clipping
    eval_every: int = 0  # optimizer steps between dev evaluations (0 = once per epoch)
    patience: int = 0  # stop after this many evaluations without src-dev improvement (0 = never)
    plateau: bool = False  # also multiply the lr by plateau_factor when src-dev F1 stalls
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    eval_batch_size: int = 64
    aux: str = ""  # comma-separated auxiliary tasks on unlabelled target text: li, cl, pc
    li_weight: float = 1.0
    cl_weight: float = 1.0
    pc_weight: float = 1.0
    cl_prob: float = 0.15
    cloze_vocab: str = "target"  # target (softmax over the pieces of the target text) | full
    pseudo_rounds: int = 3  # augmented mode: rounds of (re-)labelling target sentences of length <= l ~ U(min, max)
    pseudo_round_steps: int = 0  # micro-batches of pseudo-labelled text per round (0 = one pass over them)
    pseudo_loss: str = "ce"  # ce | reverse-focal
    pseudo_gamma: float = 4.0
    pseudo_lr: float = 0.0  # 0 = lr
    pseudo_max_sentences: int = 0  # cap on pseudo-labelled sentences per round (0 = all selected)
    pseudo_source_ratio: float = 0.0  # source batches mixed in per pseudo-labelled batch (1 = the classic joint step)
    pseudo_relabel: bool = True  # relabel with the current model every round (else the source model's labels)
    init: str = field(default="", metadata={"help": "a transformer run folder (its src-dev checkpoint) or .pt "
                                            "checkpoint to start from instead of training zero-shot first"})
    teacher: str = field(default="", metadata={"help": TEACHER_HELP})  # augmented mode: the pseudo-labels come from
    # these fixed teachers (computed once, cached) instead of the model being trained
    teacher_decode: str = field(default="", metadata={"help": TEACHER_DECODE_HELP})  # '' | viterbi
    cache_dir: str = "runs/cache"  # the teachers' cached pseudo-labels (CACHE/teachers/)
    train_file: str = ""  # labelled CoNLL file of --tgt text (e.g. zsner project's projected.conll) trained on
    # instead of the source train sets, with --pseudo-loss (its labels are projections); selection unchanged
    seed: int = 1
    threads: int = 1
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda | cuda:N; resolved by zsner.device
    amp: bool = True  # mixed precision on CUDA (ignored on CPU: fp32); the CRF head always runs in fp32
    cpu_precision: str = field(default="", metadata={"help": "'' (float32) or bf16: on the CPU, train and evaluate "
                               "under bfloat16 autocast on its AMX / AVX512-BF16 units, weights and optimizer in "
                               "float32 (docs/results/transformer.md §5.9)"})
    train_limit: int = 0  # first N sentences of each source train set (0 = all)
    eval_limit: int = 0  # first N sentences of each dev/test set (0 = all)
    unlabelled_limit: int = 0  # first N target train sentences used as unlabelled text (0 = all)
    save_checkpoints: bool = True
    progress: bool = True  # tqdm bars


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def validate(model: TransformerConfig, train: TransformerTrainConfig) -> None:
    """Reject impossible settings with one clear message."""
    decode_problem = check_decode(train.teacher_decode, train.teacher)
    checks = [
        (model.head in HEADS, f"--head must be one of {', '.join(HEADS)}"),
        (model.scheme in ("iob2", "iobes"), "--scheme must be iob2 or iobes"),
        (model.freeze_layers >= -1, "--freeze-layers must be -1 (none), 0 (embeddings) or a layer count"),
        (model.window >= 4, "--window must be at least 4"),
        (0 <= model.overlap < model.window - 2, "--overlap must be between 0 and window - 3"),
        (model.max_word_pieces >= 1, "--max-word-pieces must be at least 1"),
        (train.mode in MODES, f"--mode must be one of {', '.join(MODES)}"),
        (train.pseudo_loss in ("ce", "reverse-focal"), "--pseudo-loss must be ce or reverse-focal"),
        (not train.train_file or train.mode == "zero-shot", "--train-file trains in --mode zero-shot"),
        (not train.teacher or train.mode == "augmented", "--teacher gives the pseudo-labels of --mode augmented"),
        (decode_problem is None, decode_problem),
        (train.cpu_precision in CPU_PRECISIONS, "--cpu-precision must be bf16 or left empty (float32)"),
        (all(task in AUX_TASKS for task in split_list(train.aux)), f"--aux takes {', '.join(AUX_TASKS)}"),
        (train.cloze_vocab in ("target", "full"), "--cloze-vocab must be target or full"),
        (bool(split_list(train.src)), "--src needs at least one language"),
        (bool(split_list(train.tgt)), "--tgt needs at least one language"),
        (train.batch_size >= 1 and train.grad_accum >= 1 and train.epochs >= 0, "batch size, accumulation, epochs"),
        (0.0 <= train.cl_prob <= 1.0 and 0.0 <= train.warmup < 1.0, "--cl-prob and --warmup must be in [0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ZsnerError(message)
    resolve_device(train.device)
