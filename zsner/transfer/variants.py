"""The paper's transfer variants on one pipeline: Source-Mono, Cross-Word (with/without chars), Cross-Shared
and Cross-Augmented (Algorithm 1), each trained on source labels only and selected by src-dev / tgt-dev /
tgt-test (oracle) criteria.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_json
from ..config import TaggerConfig, TrainConfig
from ..data.batches import bucketed_order, cycle
from ..data.conll import write_conll
from ..device import model_device, resolved, to_device
from .augmented import AugmentedTagger
from ..nn.tagger import Tagger, count_parameters
from ..rounds import sample_threshold, within_threshold
from ..runlog import resuming
from ..timings import StepTimes
from .config import AugmentConfig
from .data import CrossData
from ..train.evaluate import evaluate, predict
from ..train.loop import SupervisedTask
from ..train.model_io import build_model, load_model, save_model
from ..train.epochs import EpochTraining
from ..train.trainer import seed_everything

log = logging.getLogger("zsner")
CRITERIA = {"src-dev": ("src-dev", "best-src-dev.pt"), "tgt-dev": ("tgt-dev", "best-tgt-dev.pt"),
            "tgt-test": ("tgt-test", "best-tgt-test.pt")}
EVAL_SETS = ["src-dev", "tgt-dev", "tgt-test"]


class _Evaluations:
    """Evaluation of the three selection sets; the target model may differ from the source model."""

    def __init__(self, data: CrossData, train: TrainConfig, source_model, target_model):
        self.data, self.train, self.source_model, self.target_model = data, train, source_model, target_model

    def __call__(self) -> dict:
        tags, size = self.data.vocabs.tags.items, self.train.eval_batch_size
        return {"src-dev": evaluate(self.source_model, self.data.corpora["src-dev"], tags, size)[0],
                "tgt-dev": evaluate(self.target_model, self.data.corpora["tgt-dev"], tags, size)[0],
                "tgt-test": evaluate(self.target_model, self.data.corpora["tgt-test"], tags, size)[0]}


class SourceTask(SupervisedTask):
    """Train the tagger on labelled source sentences (mono, word-nochar, word, shared); evaluate on the three
    selection sets."""

    def __init__(self, model: Tagger, data: CrossData, train: TrainConfig, tagger: TaggerConfig):
        super().__init__(model, data, train, tagger, split="src-train")
        self.evaluations = _Evaluations(data, train, model, model)

    def evaluate(self) -> dict:
        return self.evaluations()

    def with_model(self, model: Tagger) -> "SourceTask":
        twin = super().with_model(model)
        twin.evaluations = _Evaluations(self.data, self.train, model, model)
        return twin

    def save_model(self, path, extra: dict) -> None:
        save_model(path, self.model, self.data.vocabs, self.tagger,
                   {"kind": "tagger", "lang": self.data.src, "tgt": self.data.tgt, **extra})


class AugmentedTask:
    """Algorithm 1: each round samples l ~ U(min, max), pseudo-labels the target training sentences of length
    <= l with the current source model (Viterbi; gold target tags are never read), then runs joint steps. With
    ``teacher_tags`` (one tag-id array per target training sentence, from a teacher model), the round's
    pseudo-labels are the teacher's tags of the selected sentences instead."""

    def __init__(self, model: AugmentedTagger, data: CrossData, train: TrainConfig, tagger: TaggerConfig,
                 augment: AugmentConfig, teacher_tags: list | None = None):
        self.model, self.data, self.train, self.tagger, self.augment = model, data, train, tagger, augment
        self.teacher_tags = teacher_tags
        self.evaluate = _Evaluations(data, train, model.source, model)
        source, target = data.corpora["src-train"], data.corpora["tgt-train"]
        self.source_keep = np.flatnonzero(source.lengths <= train.max_train_length)
        lengths = target.lengths
        self.length_range = (augment.min_length or int(lengths.min()),
                             min(augment.max_length or int(lengths.max()), train.max_train_length))
        self.pseudo: dict = {}  # round, threshold, indices, tags (of the current round)
        self.history: list = []  # per round: threshold, sentences labelled

    def sample_threshold(self, rng: np.random.Generator) -> int:
        return sample_threshold(rng, *self.length_range)

    def pseudo_label(self, threshold: int) -> tuple[np.ndarray, list]:
        """Indices of target training sentences with length <= threshold and the source model's Viterbi tags."""
        corpus = self.data.corpora["tgt-train"]
        selected = within_threshold(corpus.lengths, threshold)
        if self.teacher_tags is not None:
            return selected, [self.teacher_tags[i] for i in selected]
        subset = _Subset(corpus, selected)
        names = self.data.vocabs.tags.items
        index = {name: i for i, name in enumerate(names)}
        tags = predict(self.model.source, subset, names, self.train.eval_batch_size)
        return selected, [np.array([index[t] for t in sentence], dtype=np.int64) for sentence in tags]

    def plan_epoch(self, round_: int) -> list:
        rng = np.random.default_rng([self.train.seed, 1000 + round_])
        threshold = self.sample_threshold(rng)
        selected, tags = self.pseudo_label(threshold)
        self.pseudo = {"round": round_, "threshold": threshold, "indices": selected, "tags": tags}
        self.history.append({"round": round_, "threshold": threshold, "sentences": int(len(selected))})
        log.info("round %d: length threshold %d -> %d pseudo-labelled target sentences", round_, threshold, len(selected))
        steps = self.augment.round_steps
        lengths = self.data.corpora["src-train"].lengths[self.source_keep]
        source_pass = bucketed_order(lengths, self.train.batch_size, rng)
        target_pass = bucketed_order(self.data.corpora["tgt-train"].lengths[selected], self.train.batch_size, rng)
        source_order = cycle(lambda: source_pass, steps)  # one shuffled pass each, repeated
        target_order = cycle(lambda: target_pass, steps)
        return [(self.source_keep[s], t) for s, t in zip(source_order, target_order)]

    def loss(self, spec):
        source_indices, target_positions = spec
        device = model_device(self.model)
        source_batch = to_device(self.data.corpora["src-train"].batch(source_indices), device)
        target_batch = self.data.corpora["tgt-train"].batch(self.pseudo["indices"][target_positions])
        tags = torch.zeros_like(target_batch.tags)
        for row, position in enumerate(target_positions):
            pseudo = self.pseudo["tags"][position]
            tags[row, : len(pseudo)] = torch.from_numpy(pseudo)
        target_batch.tags = tags
        return (self.model.joint_loss(source_batch, to_device(target_batch, device)),
                len(source_indices) + len(target_positions))

    def with_model(self, model: AugmentedTagger) -> "AugmentedTask":
        twin = copy.copy(self)
        twin.model, twin.evaluate = model, _Evaluations(self.data, self.train, model.source, model)
        return twin

    def save_model(self, path, extra: dict) -> None:
        save_model(path, self.model, self.data.vocabs, self.tagger,
                   {"kind": "augmented", "lang": self.data.src, "tgt": self.data.tgt, **extra})

    def state(self) -> dict:
        return {"pseudo": self.pseudo, "history": self.history}

    def load_state(self, state: dict) -> None:
        self.pseudo, self.history = state.get("pseudo", {}), state.get("history", [])

    def check_state(self, state, plan: list | None) -> str | None:
        """What in a checkpoint's task state (round schedule, pseudo-labels) and epoch plan does not fit this run."""
        if not isinstance(state, dict) or set(state) != {"pseudo", "history"}:
            return "no Algorithm 1 task state (pseudo-labels and round history)"
        history, pseudo = state["history"], state["pseudo"]
        if not isinstance(history, list) or not all(
                isinstance(item, dict) and set(item) == {"round", "threshold", "sentences"}
                and all(_is_count(value) for value in item.values()) for item in history):
            return "task.history is not a list of Algorithm 1 rounds"
        if pseudo == {} and plan is None:
            return None  # before the first round
        if not isinstance(pseudo, dict) or set(pseudo) != {"round", "threshold", "indices", "tags"}:
            return "task.pseudo is not a round of pseudo-labels"
        if not (_is_count(pseudo["round"]) and _is_count(pseudo["threshold"])):
            return "task.pseudo round or threshold is not a count"
        corpus, indices, tags = self.data.corpora["tgt-train"], pseudo["indices"], pseudo["tags"]
        if not _is_index_array(indices, len(corpus), empty=True):
            return "task.pseudo.indices are not target training sentences"
        num_tags = len(self.data.vocabs.tags)
        if not isinstance(tags, list) or len(tags) != len(indices) or not all(
                _is_index_array(row, num_tags, empty=True) and len(row) == corpus.lengths[i]
                for row, i in zip(tags, indices)):
            return "task.pseudo.tags are not one tag sequence per pseudo-labelled sentence"
        if plan is not None and not all(
                isinstance(spec, (tuple, list)) and len(spec) == 2
                and _is_index_array(spec[0], len(self.data.corpora["src-train"]))
                and bool(np.isin(spec[0], self.source_keep).all()) and _is_index_array(spec[1], len(indices))
                for spec in plan):
            return "progress.plan is not a plan of this round's joint batches"
        return None


def _is_count(value) -> bool:
    return type(value) is int and value >= 0


def _is_index_array(value, size: int, empty: bool = False) -> bool:
    """Whether ``value`` is a 1-d integer array of positions in ``range(size)`` (non-empty unless ``empty``)."""
    return (isinstance(value, np.ndarray) and value.ndim == 1 and np.issubdtype(value.dtype, np.integer)
            and (empty or value.size > 0) and bool(((value >= 0) & (value < size)).all()))


class _Subset:
    """A view of some sentences of an encoded corpus (what ``predict`` needs)."""

    def __init__(self, corpus, indices):
        self.corpus, self.indices = corpus, indices
        self.lengths = corpus.lengths[indices]
        self.sentences = [corpus.sentences[i] for i in indices]

    def __len__(self):
        return len(self.indices)

    def batch(self, positions):
        batch = self.corpus.batch(self.indices[positions])
        batch.indices = np.asarray(positions)
        return batch


def train_variant(mode: str, data: CrossData, train: TrainConfig, tagger: TaggerConfig, out_dir: Path,
                  record: dict, augment: AugmentConfig | None = None, base_model: Path | None = None,
                  bars: bool = True, teacher_tags: list | None = None, extra: dict | None = None,
                  steps: dict | None = None) -> dict:
    """Train one variant for one seed into ``out_dir`` and report each criterion's target-test F1. ``record`` is
    the folder's config.json (configs, pair, variant, mapping), the one its reuse is checked against; ``extra``
    goes into metrics.json as it is, and so do ``steps`` (seconds of the command's steps before this run) with
    this run's own steps (training, evaluation, writing) as ``timings_seconds``."""
    clock = time.perf_counter()
    train = resolved(train)  # the record keeps the requested device ("auto")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(train.threads)
    seed_everything(train.seed)
    write_json(out_dir / "config.json", record)
    if mode == "augmented":
        source = load_model(base_model, data.embeddings)[0]
        model = build_model("augmented", tagger, data.vocabs)
        model.source.load_state_dict(source.state_dict())
        task = AugmentedTask(model, data, train, tagger, augment, teacher_tags)
        train = dataclasses.replace(train, epochs=augment.rounds)
    else:
        model = build_model("tagger", tagger, data.vocabs)
        model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
        task = SourceTask(model, data, train, tagger)
    model = to_device(model, train.device)
    trainer = EpochTraining(train, out_dir, model, task, CRITERIA, EVAL_SETS, bars)
    if (out_dir / "checkpoint.pt").exists():
        with resuming():  # a refused resume leaves training.log as it was
            trainer.resume()
    trained_before = trainer.state.train_seconds  # a resumed run's earlier training is not this command's
    state = trainer.run()
    times = StepTimes()
    for name, seconds in (steps or {}).items():
        times.add(name, seconds)
    times.add("training", state.train_seconds - trained_before)
    times.add("evaluation", time.perf_counter() - clock - (state.train_seconds - trained_before))
    return summarize(mode, out_dir, data, train, state, model, getattr(task, "history", None), extra, times)


def summarize(mode, out_dir: Path, data: CrossData, train: TrainConfig, state, model, history,
              extra: dict | None = None, times: StepTimes | None = None) -> dict:
    """Each criterion's chosen step and the target dev/test F1 there; predictions of each chosen model."""
    times = times or StepTimes()
    rows = {row[0]: dict(zip(EVAL_SETS, row[4:])) for row in state.rows}
    criteria = {}
    test_sentences, test_seconds = 0, 0.0
    for criterion, (_, file_name) in CRITERIA.items():
        step = state.best[criterion]["step"]
        with times.step("evaluation"):
            chosen = to_device(load_model(out_dir / file_name, data.embeddings)[0], train.device)
            clock = time.perf_counter()
            metrics, predicted = evaluate(chosen, data.corpora["tgt-test"], data.vocabs.tags.items,
                                          train.eval_batch_size, train.device)
            test_seconds += time.perf_counter() - clock
        test_sentences += len(data.corpora["tgt-test"])
        with times.step("writing"):
            write_conll(out_dir / f"predictions.{criterion}.tgt-test.conll", data.corpora["tgt-test"].sentences,
                        predicted)
        criteria[criterion] = {"step": step, "tgt_test_f1": metrics["micro"]["f1"], "tgt_dev_f1": rows[step]["tgt-dev"],
                               "src_dev_f1": rows[step]["src-dev"], "tgt_test": metrics}
    result = {"mode": mode, "seed": train.seed, "src": data.src, "tgt": data.tgt, "criteria": criteria,
              "parameters": count_parameters(model), "train_seconds": round(state.train_seconds, 1),
              "steps": state.step, "coverage": data.coverage, "device": train.device,
              "inference_sentences_per_second": round(test_sentences / max(test_seconds, 1e-9), 1)}
    if history:
        result["rounds"] = history
    result.update(extra or {})
    result["timings_seconds"] = times.rounded()
    write_json(out_dir / "metrics.json", result)
    log.info("%s seed %d: tgt-test F1 %s", mode, train.seed,
             " ".join(f"{c}={v['tgt_test_f1']:.2f}" for c, v in criteria.items()))
    return result
