"""The supervised training loop: SGD with per-epoch decay, clipping, dev evaluation every N batches, best
model kept, and a checkpoint at every evaluation so a killed run resumes (``resume=True``) losing at most one
evaluation interval. Given the same seed, data and thread count, a resumed run ends with the same metrics as an
uninterrupted one: batch order is a function of (seed, epoch) and the RNG states travel in the checkpoint.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..atomic import write_json, write_text
from ..config import TaggerConfig, TrainConfig, load_configs, save_configs
from ..data.batches import bucketed_order
from ..data.conll import write_conll
from ..errors import ZsnerError
from ..evaluation import format_report
from ..nn.tagger import count_parameters
from .evaluate import evaluate
from .model_io import CHECKPOINT_FILE, MODEL_FILE, build_tagger, load_archive, save_archive, save_model
from .prepare import prepare_supervised

log = logging.getLogger("zsner")
LOSS_HEADER = "step\tepoch\tlr\tloss\tdev_f1\n"


def epoch_lr(config: TrainConfig, epoch: int) -> float:
    """lr_e = max(lr0 / (1 + decay * e), min_lr), as in the paper."""
    return max(config.lr / (1.0 + config.lr_decay * epoch), config.min_lr)


def clip_gradients(parameters, max_norm: float) -> float:
    """Rescale gradients so their global L2 norm is at most ``max_norm``; returns the norm before clipping."""
    return float(torch.nn.utils.clip_grad_norm_(list(parameters), max_norm))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    best_f1: float = -1.0
    best_step: int = 0
    rows: list = field(default_factory=list)  # loss.tsv rows so far
    train_seconds: float = 0.0
    sentences_seen: int = 0


def attach_log(out_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(out_dir / "training.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("zsner").addHandler(handler)
    logging.getLogger("zsner").setLevel(logging.INFO)
    return handler


def train_supervised(train: TrainConfig, tagger: TaggerConfig, out_dir, data_dir=None, resume: bool = False,
                     progress_bars: bool = True) -> dict:
    """Train a tagger on ``train.lang`` and write the run folder; returns the final metrics."""
    out_dir = Path(out_dir)
    checkpoint_path = out_dir / CHECKPOINT_FILE
    if resume:
        if not (out_dir / "config.json").is_file():
            raise ZsnerError("cannot resume: no config.json in the run folder", out_dir)
        configs = load_configs(out_dir / "config.json", train=TrainConfig, tagger=TaggerConfig)
        train, tagger = configs["train"], configs["tagger"]
    elif checkpoint_path.exists() or (out_dir / MODEL_FILE).exists():
        raise ZsnerError("run folder already holds a training run; use --resume or another --out", out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = attach_log(out_dir)
    try:
        return _train(train, tagger, out_dir, data_dir, resume and checkpoint_path.exists(), progress_bars)
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()


def _train(train: TrainConfig, tagger: TaggerConfig, out_dir: Path, data_dir, resume: bool, bars: bool) -> dict:
    torch.set_num_threads(train.threads)
    seed_everything(train.seed)
    save_configs(out_dir / "config.json", train=train, tagger=tagger)
    data = prepare_supervised(train, tagger, data_dir)
    model = build_tagger(tagger, data.vocabs).to(train.device)
    model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=train.lr, momentum=train.momentum)
    state = Progress()
    if resume:
        archive = load_archive(out_dir / CHECKPOINT_FILE)
        model.load_state_dict(archive["model"])
        optimizer.load_state_dict(archive["optimizer"])
        state = Progress(**archive["progress"])
        torch.set_rng_state(archive["torch_rng"])
        log.info("resumed at step %d (epoch %d, batch %d)", state.step, state.epoch, state.batch_in_epoch)
    else:
        log.info("parameters: %d trainable, %d total", count_parameters(model), count_parameters(model, False))
    tag_names = data.vocabs.tags.items
    train_corpus, dev_corpus = data.corpora["train"], data.corpora["dev"]
    keep = np.flatnonzero(train_corpus.lengths <= train.max_train_length)
    skipped = len(train_corpus) - len(keep)
    if skipped:
        log.info("skipping %d training sentences longer than %d words", skipped, train.max_train_length)

    def evaluate_and_checkpoint(running_loss: float, batches: int):
        metrics, _ = evaluate(model, dev_corpus, tag_names, train.eval_batch_size, train.device)
        f1 = metrics["micro"]["f1"]
        state.rows.append([state.step, state.epoch, round(optimizer.param_groups[0]["lr"], 6),
                           round(running_loss / max(batches, 1), 5), f1])
        if f1 > state.best_f1:
            state.best_f1, state.best_step = f1, state.step
            save_model(out_dir / MODEL_FILE, model, data.vocabs, tagger, {"step": state.step, "dev_f1": f1, "lang": train.lang})
        write_text(out_dir / "loss.tsv", LOSS_HEADER + "".join("\t".join(map(str, row)) + "\n" for row in state.rows))
        save_archive(out_dir / CHECKPOINT_FILE, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                                 "progress": state.__dict__, "torch_rng": torch.get_rng_state()})
        log.info("step %d epoch %d: loss %.4f dev F1 %.2f (best %.2f at step %d)", state.step, state.epoch,
                 running_loss / max(batches, 1), f1, state.best_f1, state.best_step)

    model.train()
    for epoch in range(state.epoch, train.epochs):
        state.epoch = epoch
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr(train, epoch)
        order = bucketed_order(train_corpus.lengths[keep], train.batch_size, np.random.default_rng([train.seed, epoch]))
        running, counted = 0.0, 0
        bar = tqdm(total=len(order), initial=state.batch_in_epoch, desc=f"epoch {epoch + 1}/{train.epochs}",
                   disable=not bars, leave=False)
        started = time.perf_counter()
        for position in range(state.batch_in_epoch, len(order)):
            batch = train_corpus.batch(keep[order[position]]).to(train.device)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(batch)
            loss.backward()
            clip_gradients(trainable, train.clip)
            optimizer.step()
            running += float(loss.detach())
            counted += 1
            state.step += 1
            state.batch_in_epoch = position + 1
            state.sentences_seen += len(batch.indices)
            bar.update(1)
            if state.step % train.eval_every == 0:
                state.train_seconds += time.perf_counter() - started
                evaluate_and_checkpoint(running, counted)
                running, counted, started = 0.0, 0, time.perf_counter()
        state.train_seconds += time.perf_counter() - started
        bar.close()
        state.batch_in_epoch = 0
        if epoch == train.epochs - 1 and state.step % train.eval_every != 0:
            state.epoch = epoch + 1
            evaluate_and_checkpoint(running, counted)
    return finish(train, out_dir, data, state, bars)


def finish(train: TrainConfig, out_dir: Path, data, state: Progress, bars: bool = True) -> dict:
    """Reload the best model, score dev and test, write predictions, metrics.json and the per-type report."""
    from .model_io import load_model

    model, _, _, archive = load_model(out_dir / MODEL_FILE)
    model.to(train.device)
    tag_names = data.vocabs.tags.items
    results, reports, speed = {}, [], {}
    for split in ("dev", "test"):
        started = time.perf_counter()
        metrics, predicted = evaluate(model, data.corpora[split], tag_names, train.eval_batch_size, train.device,
                                      progress=bars, desc=f"evaluate {split}")
        seconds = time.perf_counter() - started
        write_conll(out_dir / f"predictions.{split}.conll", data.corpora[split].sentences, predicted)
        results[split] = metrics
        speed[split] = round(len(data.corpora[split]) / seconds, 1)
        reports.append(format_report(metrics, f"{train.lang} {split}"))
    summary = {
        "lang": train.lang,
        "best_step": archive.get("step"),
        **results,
        "parameters": {"trainable": count_parameters(model), "total": count_parameters(model, False)},
        "embedding_coverage": data.coverage,
        "train_sentences_per_second": round(state.sentences_seen / max(state.train_seconds, 1e-9), 1),
        "decode_sentences_per_second": speed,
        "train_seconds": round(state.train_seconds, 1),
    }
    write_json(out_dir / "metrics.json", summary)
    write_text(out_dir / "report.txt", "\n\n".join(reports) + "\n")
    log.info("finished: dev F1 %.2f, test F1 %.2f", results["dev"]["micro"]["f1"], results["test"]["micro"]["f1"])
    return summary
