"""Groupings as runs: every group of every grouping is one `zsner transformer` run per seed (source = target =
the group's languages), plus Table 4's run per seed (the biggest cluster without the zero-shot languages as source,
those languages as target). A group shared by two groupings (e.g. {ja} per language and per family) is one run.

``group_runs`` lists them as ``(name, (TransformerConfig, TransformerTrainConfig))``; ``name`` (``ar-he/seed1``) is
also the run folder under ``OUT/runs/``, so a grid runner can spread the same runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ZsnerError
from ..resources import WIKIANN, language_code, wikiann_names
from ..transformer.config import TransformerConfig, TransformerTrainConfig, split_list
from .config import GroupsConfig
from .families import LEVELS, lineage_groups

FIXED = ("per-language", "all", *LEVELS)


def read_cluster_groups(path, langs: list[str]) -> list[list[str]]:
    """The groups of a `zsner cluster` groups.json (its majority vote), restricted to ``langs``."""
    path = Path(path)
    try:
        majority = json.loads(path.read_text(encoding="utf-8"))["majority"]
        missing = [lang for lang in langs if lang not in majority]
        clusters = {lang: int(majority[lang]) for lang in langs if lang in majority}
    except FileNotFoundError:
        raise ZsnerError("no such groups file (write one with `zsner cluster`)", path) from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ZsnerError(f"not a `zsner cluster` groups.json ({type(err).__name__}: {err})", path) from None
    if missing:
        raise ZsnerError(f"no group for {', '.join(missing)} (clustered: {', '.join(majority)})", path)
    groups: dict[int, list[str]] = {}
    for lang in langs:
        groups.setdefault(clusters[lang], []).append(lang)
    return list(groups.values())


def run_name(sources: list[str], targets: list[str], seed: int) -> str:
    """``ar-he/seed1`` (trained and tested on ar and he), ``da-de-en-to-sw-yo/seed1`` (zero-shot)."""
    name = "-".join(sources) if sources == targets else f"{'-'.join(sources)}-to-{'-'.join(targets)}"
    return f"{name}/seed{seed}"


@dataclass
class Plan:
    langs: list[str]  # bare codes
    seeds: list[int]
    groupings: dict[str, list[list[str]]]  # column name -> groups
    zero_shot: tuple[list[str], list[str]] | None  # Table 4: (sources, targets)

    def group_of(self, grouping: str, lang: str) -> list[str]:
        return next(group for group in self.groupings[grouping] if lang in group)


def make_plan(config: GroupsConfig) -> Plan:
    """The groupings of ``config`` (cluster files read here); a bad language, grouping or seed is a ZsnerError."""
    langs = [language_code(name) for name in wikiann_names(split_list(config.langs))]
    if len(set(langs)) != len(langs):
        raise ZsnerError(f"--langs names a language twice: {config.langs}")
    try:
        seeds = [int(seed) for seed in split_list(config.seeds)]
    except ValueError:
        raise ZsnerError(f"--seeds takes comma-separated integers, got {config.seeds!r}") from None
    if not seeds or config.max_train < 0 or config.max_eval < 0:
        raise ZsnerError("--seeds needs a value; --max-train and --max-eval must be >= 0")
    groupings: dict[str, list[list[str]]] = {}
    for spec in split_list(config.grouping):
        if spec.startswith("cluster:"):
            groupings["cluster" if "cluster" not in groupings else spec] = read_cluster_groups(spec[8:], langs)
        elif spec == "per-language":
            groupings[spec] = [[lang] for lang in langs]
        elif spec == "all":
            groupings[spec] = [list(langs)]
        elif spec in LEVELS:
            groupings[spec] = lineage_groups(langs, spec)
        else:
            raise ZsnerError(f"unknown grouping {spec!r}: use {', '.join(FIXED)} or cluster:DIR/groups.json")
    if not groupings:
        raise ZsnerError("--grouping needs at least one grouping")
    return Plan(langs, seeds, groupings, _zero_shot(groupings, langs, split_list(config.zero_shot)))


def _zero_shot(groupings: dict, langs: list[str], held: list[str]) -> tuple[list[str], list[str]] | None:
    """Table 4's languages: the biggest cluster group without the held-out languages -> those languages."""
    clusters = [name for name in groupings if name.startswith("cluster")]
    targets = [lang for lang in held if lang in langs]
    if not clusters or not targets:
        return None
    biggest = max(groupings[clusters[0]], key=len)
    sources = [lang for lang in biggest if lang not in targets]
    return (sources, targets) if sources else None


def group_runs(plan: Plan, model: TransformerConfig, train: TransformerTrainConfig, max_train: int = 0,
               max_eval: int = 0) -> list[tuple[str, tuple[TransformerConfig, TransformerTrainConfig]]]:
    """Every run of the plan, once: ``(name, (model config, train config))``."""
    groups = dict.fromkeys(tuple(group) for groups in plan.groupings.values() for group in groups)
    sources_targets = [(list(group), list(group)) for group in groups]
    if plan.zero_shot:
        sources_targets.append(plan.zero_shot)
    runs = []
    for sources, targets in sources_targets:
        for seed in plan.seeds:
            config = replace(train, src=",".join(WIKIANN + lang for lang in sources),
                             tgt=",".join(WIKIANN + lang for lang in targets), seed=seed, mode="zero-shot",
                             train_limit=max_train, eval_limit=max_eval)
            runs.append((run_name(sources, targets, seed), (model, config)))
    return runs
