"""Supervised training of the tagger on one labelled language (``zsner train``), on top of ``EpochTraining``."""
from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_json, write_text
from ..config import TaggerConfig, TrainConfig, load_configs, save_configs
from ..data.batches import bucketed_order
from ..data.conll import write_conll
from ..device import model_device, resolved, to_device
from ..errors import ZsnerError
from ..evaluation import format_report
from ..nn.tagger import count_parameters
from ..runlog import attach_log, resuming
from ..runs import writing
from .evaluate import evaluate
from .model_io import CHECKPOINT_FILE, MODEL_FILE, build_tagger, load_model, save_model
from .prepare import prepare_supervised
from .epochs import EpochTraining
from .trainer import seed_everything

log = logging.getLogger("zsner")


class SupervisedTask:
    """Batches of one labelled corpus (``data.corpora[split]``); evaluation on its dev set."""

    def __init__(self, model, data, train: TrainConfig, tagger: TaggerConfig, split: str = "train"):
        self.model, self.data, self.train, self.tagger, self.split = model, data, train, tagger, split
        corpus = data.corpora[split]
        self.keep = np.flatnonzero(corpus.lengths <= train.max_train_length)
        if len(self.keep) < len(corpus):
            log.info("skipping %d training sentences longer than %d words", len(corpus) - len(self.keep),
                     train.max_train_length)

    def plan_epoch(self, epoch: int) -> list:
        lengths = self.data.corpora[self.split].lengths[self.keep]
        order = bucketed_order(lengths, self.train.batch_size, np.random.default_rng([self.train.seed, epoch]))
        return [self.keep[indices] for indices in order]

    def check_spec(self, indices) -> bool:
        """Whether ``indices`` (read back from a checkpoint) are a batch of this task's training sentences."""
        return (isinstance(indices, np.ndarray) and indices.ndim == 1 and indices.size > 0
                and np.issubdtype(indices.dtype, np.integer)
                and bool(np.isin(indices, self.keep).all()))

    def loss(self, indices):
        batch = to_device(self.data.corpora[self.split].batch(indices), model_device(self.model))
        return self.model.loss(batch), len(indices)

    def evaluate(self) -> dict:
        metrics, _ = evaluate(self.model, self.data.corpora["dev"], self.data.vocabs.tags.items,
                              self.train.eval_batch_size)
        return {"dev": metrics}

    def save_model(self, path, extra: dict) -> None:
        save_model(path, self.model, self.data.vocabs, self.tagger, {**extra, "lang": self.train.lang})

    def with_model(self, model) -> "SupervisedTask":
        twin = copy.copy(self)
        twin.model = model
        return twin

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass


def open_run(out_dir: Path, resume: bool, classes: dict) -> dict | None:
    """Check the run folder; on resume return the configs saved in it."""
    if resume:
        if not (out_dir / "config.json").is_file():
            raise ZsnerError("cannot resume: no config.json in the run folder", out_dir)
        return load_configs(out_dir / "config.json", **classes)
    if (out_dir / CHECKPOINT_FILE).exists() or (out_dir / "config.json").exists():
        raise ZsnerError("run folder already holds a training run; use --resume or another --out", out_dir)
    return None


def train_supervised(train: TrainConfig, tagger: TaggerConfig, out_dir, data_dir=None, resume: bool = False,
                     progress_bars: bool = True, overrides: dict | None = None) -> dict:
    """Train a tagger on ``train.lang`` and write the run folder; returns the final metrics. On ``resume`` the
    saved configs are used, with ``overrides`` (runtime fields only: threads, device, ...) applied."""
    with writing(out_dir):  # one writer per run folder, from before the folder is looked at
        return _train(train, tagger, Path(out_dir), data_dir, resume, progress_bars, overrides)


def _train(train: TrainConfig, tagger: TaggerConfig, out_dir: Path, data_dir, resume: bool, progress_bars: bool,
           overrides: dict | None) -> dict:
    saved = open_run(out_dir, resume, {"train": TrainConfig, "tagger": TaggerConfig})
    if saved:
        train, tagger = dataclasses.replace(saved["train"], **(overrides or {})), saved["tagger"]
    requested, train = train, resolved(train)  # --device resolved once; config.json keeps the request ("auto")
    torch.set_num_threads(train.threads)
    seed_everything(train.seed)
    data = prepare_supervised(train, tagger, data_dir)  # all input is read and checked before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = attach_log(out_dir)
    try:
        log.info("%s: %d words (%d with a pretrained vector), %d chars, %d tags; token coverage %% %s", train.lang,
                 len(data.vocabs.words), data.pretrained_rows, len(data.vocabs.chars), len(data.vocabs.tags),
                 data.coverage)
        log.info("device %s", train.device)
        if not resume:
            save_configs(out_dir / "config.json", train=requested, tagger=tagger)
        model = build_tagger(tagger, data.vocabs).to(train.device)
        model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
        task = SupervisedTask(model, data, train, tagger)
        trainer = EpochTraining(train, out_dir, model, task, {"dev": ("dev", MODEL_FILE)}, ["dev"], progress_bars)
        if resume and (out_dir / CHECKPOINT_FILE).exists():
            with resuming():  # a refused resume leaves training.log as it was
                trainer.resume()
        else:
            log.info("parameters: %d trainable, %d total", count_parameters(model), count_parameters(model, False))
        state = trainer.run()
        return finish(train, out_dir, data, state, progress_bars)
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()


def finish(train: TrainConfig, out_dir: Path, data, state, bars: bool = True) -> dict:
    """Reload the best model, score dev and test, write predictions, metrics.json and the per-type report."""
    model, _, _, archive = load_model(out_dir / MODEL_FILE)
    model.to(train.device)
    tag_names = data.vocabs.tags.items
    results, reports, speed = {}, [], {}
    for split in ("dev", "test"):
        started = time.perf_counter()
        metrics, predicted = evaluate(model, data.corpora[split], tag_names, train.eval_batch_size, train.device,
                                      progress=bars, desc=f"evaluate {split}")
        speed[split] = round(len(data.corpora[split]) / (time.perf_counter() - started), 1)
        write_conll(out_dir / f"predictions.{split}.conll", data.corpora[split].sentences, predicted)
        results[split] = metrics
        reports.append(format_report(metrics, f"{train.lang} {split}"))
    summary = {
        "lang": train.lang,
        "device": train.device,
        "best_step": archive.get("step"),
        **results,
        "parameters": {"trainable": count_parameters(model), "total": count_parameters(model, False)},
        "embedding_coverage": data.coverage,
        "train_sentences_per_second": round(state.sentences_seen / max(state.train_seconds, 1e-9), 1),
        "train_seconds": round(state.train_seconds, 1),
        "decode_sentences_per_second": speed,
    }
    write_json(out_dir / "metrics.json", summary)
    write_text(out_dir / "report.txt", "\n\n".join(reports) + "\n")
    log.info("finished: dev F1 %.2f, test F1 %.2f", results["dev"]["micro"]["f1"], results["test"]["micro"]["f1"])
    return summary
