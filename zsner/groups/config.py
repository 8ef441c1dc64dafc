"""``GroupsConfig``: which groupings to train, on which languages, with which caps and seeds.

CPU caps (the authors trained on every sentence): the first ``max_train`` training sentences of each language
(default 1,000; 0 = all) and the first ``max_eval`` dev and test sentences (default 1,000; 0 = all). Each group's
model is a `zsner transformer` run (its own defaults: 3 epochs, batch 32, lr 5e-5) selected on the group's dev
sets (src-dev).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..resources import WIKIANN_LANGS


@dataclass
class GroupsConfig:
    grouping: str = "per-language,family,all"  # per-language | family | genus | all | cluster:DIR/groups.json
    langs: str = ",".join(WIKIANN_LANGS)
    seeds: str = "1"
    max_train: int = 1000  # training sentences per language (0 = all)
    max_eval: int = 1000  # dev and test sentences per language (0 = all)
    zero_shot: str = "sw,yo"  # Table 4: left out of the biggest cluster's training, tested zero-shot
