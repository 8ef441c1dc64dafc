"""What the transformer backend's torch archives must hold to be read back: a model checkpoint
(``checkpoints/<phase>.<criterion>.pt``, ``--init``, a teacher, ``zsner tag``) and the resumable ``checkpoint.pt``.
Each check returns what is wrong, as a message, or None; readers raise it as one ``ZsnerError`` naming the file."""
from __future__ import annotations

import dataclasses
import json

import torch

from ..config import field_type_error, from_dict, short_repr
from ..data.conll import TAG_PATTERN
from ..train.trainer import optimizer_state_problem
from .config import HEADS, TransformerConfig

PHASES = ("zero-shot", "augmented")
KINDS = ("source", "pseudo")  # what a resumed plan's micro-batches index: source windows or a pseudo round's


def _tensors(value) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) and isinstance(item, torch.Tensor)
                                           and item.is_floating_point() for key, item in value.items())


def _count(value) -> bool:
    return type(value) is int and value >= 0


def _number(value) -> bool:
    return type(value) in (int, float)


def _ids(value, limit: int | None = None) -> bool:
    """A list of non-negative ints (below ``limit`` when given)."""
    return isinstance(value, list) and all(_count(item) and (limit is None or item < limit) for item in value)


def model_checkpoint_problem(archive: dict) -> str | None:
    """A model checkpoint: its model config, tags, languages and weights."""
    config, tags, languages = archive.get("model_config"), archive.get("tags"), archive.get("languages")
    if not isinstance(config, dict):
        return "no model_config"
    problem = field_type_error(TransformerConfig, config)
    if problem:
        return f"model_config.{problem}"
    model = from_dict(TransformerConfig, config)
    checks = [(model.head in HEADS, "head"), (model.scheme in ("iob2", "iobes"), "scheme"),
              (model.freeze_layers >= -1, "freeze_layers"), (model.window >= 4, "window"),
              (0 <= model.overlap < model.window - 2, "overlap"), (model.max_word_pieces >= 1, "max_word_pieces"),
              (0.0 <= model.dropout <= 1.0, "dropout")]
    for ok, name in checks:
        if not ok:
            return f"model_config.{name} is out of range ({getattr(model, name)!r})"
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and TAG_PATTERN.match(t) for t in tags):
        return "tags is not a list of NER tags"
    if not isinstance(languages, list) or not all(isinstance(lang, str) for lang in languages):
        return "languages is not a list of language codes"
    if not isinstance(archive.get("cloze"), bool):
        return "cloze is not true or false"
    if not _tensors(archive.get("state")):
        return "state is not a mapping of names to float tensors"
    if not isinstance(archive.get("meta", {}), dict):
        return "meta is not a mapping"
    try:
        json.dumps(archive.get("meta", {}))
    except (TypeError, ValueError):
        return "meta is not plain data"
    return None


def resume_problem(point: dict, trainer) -> str | None:
    """A resumable ``checkpoint.pt`` against the run (``FineTuning``) that continues it: counters, the plan of the
    pass it stopped in, weights, optimizer, generators, selection records and the pseudo-label schedule."""
    from .train import Selected, make_optimizer

    counts = ("index", "position", "step", "sentences_seen", "bad_evaluations", "plateau_bad")
    missing = [name for name in (*counts, "phase", "plan", "model", "optimizer", "scaler", "rng", "generator",
                                 "torch_rng", "rows", "best", "train_seconds", "pseudo_rounds", "plateau_scale",
                                 "queue", "schedule") if name not in point]
    if missing:
        return f"no {missing[0]}"
    if point["phase"] not in PHASES:
        return f"unknown phase {short_repr(point['phase'])}"
    bad = [name for name in counts if not _count(point[name])]
    if bad or not _number(point["train_seconds"]) or not _number(point["plateau_scale"]):
        return f"{(bad or ['train_seconds or plateau_scale'])[0]} is not a count"
    windows = {"source": len(trainer.sources.windows)}
    if point["phase"] == "augmented":
        problem = _schedule_problem(point["schedule"], point["index"], trainer)
        if problem:
            return problem
        windows["pseudo"] = _round_windows(point["schedule"], point["index"], trainer)
    elif not isinstance(point["schedule"], dict):
        return "schedule is not a mapping"
    plan = point["plan"]
    if not isinstance(plan, list) or point["position"] > len(plan) or not all(
            isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] in windows
            and _ids(entry[1], windows[entry[0]]) and entry[1] for entry in plan):
        return "plan is not a plan of this run's micro-batches"
    if not _tensors(point["model"]):
        return "model is not a mapping of names to float tensors"
    problem = optimizer_state_problem(point["optimizer"], make_optimizer(trainer.model, 1.0, 0.0))
    if problem:
        return problem
    generators = [point["generator"], point["torch_rng"], *[rank.get("torch_rng") if isinstance(rank, dict) else None
                                                            for rank in point.get("rank_rng") or []]]
    if not all(isinstance(state, torch.Tensor) and state.dtype == torch.uint8 for state in generators):
        return "no random generator state"
    if not isinstance(point["rng"], dict) or not isinstance(point["scaler"], dict):
        return "no numpy generator or grad-scaler state"
    if not isinstance(point["rows"], list) or not all(isinstance(row, list) for row in point["rows"]):
        return "rows is not a list of loss.tsv rows"
    names = {item.name for item in dataclasses.fields(Selected)}
    best = point["best"]
    if not isinstance(best, dict) or not all(
            isinstance(criteria, dict) and all(isinstance(chosen, dict) and set(chosen) <= names
                                               and _number(chosen.get("score", -1.0))
                                               and (chosen.get("state") is None or _tensors(chosen["state"]))
                                               for chosen in criteria.values())
            for criteria in best.values()):
        return "best is not a record of selected checkpoints"
    if not isinstance(point["pseudo_rounds"], list) or not all(isinstance(item, dict)
                                                               for item in point["pseudo_rounds"]):
        return "pseudo_rounds is not a list of records"
    unlabelled = len(trainer.unlabelled.windows) if trainer.unlabelled is not None else 0
    if not isinstance(point["queue"], list) or not all(_ids(batch, unlabelled) and batch for batch in point["queue"]):
        return "queue is not a list of unlabelled micro-batches"
    return None


def _labels(rows, sentences: list[int], trainer) -> bool:
    """Tag ids of each of ``sentences`` (indices into the unlabelled text), one per word."""
    words, tags = trainer.unlabelled.words, len(trainer.model.tags)
    return isinstance(rows, list) and len(rows) == len(sentences) and all(
        _ids(row, tags) and len(row) == len(words[sentence]) for row, sentence in zip(rows, sentences))


def _schedule_problem(schedule, index: int, trainer) -> str | None:
    """The pseudo-label rounds (threshold, sentences, batches) and labels a resumed ``augmented`` phase reads."""
    if not isinstance(schedule, dict) or trainer.unlabelled is None:
        return "schedule is not a mapping of pseudo-label rounds"
    sentences = len(trainer.unlabelled)
    rounds, fixed = schedule.get("rounds"), schedule.get("fixed", ())
    if not isinstance(rounds, list) or index >= len(rounds) or not all(
            isinstance(item, (list, tuple)) and len(item) == 4 and _count(item[0]) and _ids(item[1], sentences)
            and _count(item[2]) and _count(item[3]) for item in rounds):
        return "schedule.rounds is not a list of pseudo-label rounds"
    if fixed is not None and not _labels(fixed, list(range(sentences)), trainer):
        return "schedule.fixed is not a list of tag ids per sentence"
    if not _labels(schedule.get("labels"), rounds[index][1], trainer):
        return "schedule.labels is not a list of tag ids per sentence of its round"
    return None


def _round_windows(schedule: dict, index: int, trainer) -> int:
    from .train import subset

    config = trainer.model_config
    return len(subset(trainer.unlabelled, list(schedule["rounds"][index][1]), config.window, config.overlap).windows)
