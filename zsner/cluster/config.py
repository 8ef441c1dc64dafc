"""``ClusterConfig``: the clustering study's settings, with the authors' defaults where they gave them.

The authors fine-tune the encoder on language identification for 3 epochs at batch 20 on all WikiAnn training
sentences and cut the Ward tree into k = 4 clusters. On the CPU we cap the LID training sentences at ``cap`` per
language (default 1,000, a random sample of the train split; yo has only 100). The clustered sentences are a
separate random sample of ``held_out`` dev sentences per language (default 200; yo has 100): the same sentences
give the LID accuracy, so the groups never rest on sentences the classifier was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ZsnerError
from ..resources import WIKIANN_LANGS

MAPS = ("pca", "tsne")


@dataclass
class ClusterConfig:
    model: str = ""  # local Hugging Face encoder folder
    langs: str = ",".join(WIKIANN_LANGS)  # WikiAnn languages (codes, or wikiann:<code>)
    k: int = 4  # clusters (the authors' k)
    caps: str = "1000"  # LID training sentences per language; several (e.g. 200,400) for the stability study
    seeds: str = "1"  # several for the stability study; the first seed and cap give the main result
    held_out: int = 200  # dev sentences per language: LID accuracy and the clustered embeddings
    epochs: int = 3  # LID fine-tuning epochs (authors: 3)
    batch_size: int = 20  # authors: 20
    lr: float = 2e-5  # AdamW, linear decay after 10% warm-up
    weight_decay: float = 0.01
    warmup: float = 0.1
    freeze_layers: int = -1  # -1 none, 0 embeddings, k embeddings + lowest k layers (as `zsner transformer`)
    max_pieces: int = 128  # sub-tokens per sentence, [CLS] and [SEP] included (longer sentences are cut)
    eval_batch_size: int = 64
    map: str = "pca"  # 2-D map of the sentence embeddings: pca | tsne
    data_dir: str = ""
    device: str = "auto"
    threads: int = 1
    progress: bool = True


def int_list(text: str, flag: str) -> list[int]:
    """``"200,400"`` -> ``[200, 400]``; anything else is a one-line error naming the flag."""
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ZsnerError(f"{flag} takes comma-separated integers, got {text!r}") from None
    if not values:
        raise ZsnerError(f"{flag} needs at least one value")
    return values


def validate(config: ClusterConfig, n_langs: int) -> None:
    checks = [
        (n_langs >= 2, "--langs needs at least two languages"),
        (1 <= config.k <= n_langs, f"--k {config.k} must be between 1 and the number of languages ({n_langs})"),
        (all(cap >= 1 for cap in int_list(config.caps, "--caps")), "--caps must be positive"),
        (config.held_out >= 2, "--held-out must be at least 2"),
        (config.epochs >= 0 and config.batch_size >= 1, "--epochs must be >= 0 and --batch-size >= 1"),
        (config.max_pieces >= 3, "--max-pieces must be at least 3"),
        (config.map in MAPS, f"--map must be one of {', '.join(MAPS)}"),
        (0.0 <= config.warmup < 1.0, "--warmup must be in [0, 1)"),
    ]
    int_list(config.seeds, "--seeds")
    for ok, message in checks:
        if not ok:
            raise ZsnerError(message)
