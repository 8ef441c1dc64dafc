"""The transformer's training on the shared loop (``train/trainer.py``): zero-shot fine-tuning and pseudo-label
fine-tuning, with model selection.

AdamW (no decay on biases and LayerNorm weights), linear warm-up then linear decay to 0, optional plateau
reduction of the lr, gradient clipping and accumulation, mixed precision on CUDA (fp32 on CPU). Dev F1 is measured
every ``eval_every`` optimizer steps (or once per epoch / round); the best step of each selection criterion --
``src-dev`` (mean F1 over the source dev sets, zero-resource) and ``tgt-dev`` (mean over the target dev sets) -- is
kept per phase, in memory and as a checkpoint. Early stopping and the plateau rule watch ``src-dev`` only.

Pseudo-label fine-tuning (``augmented`` mode) follows the classic backend's length-sampled schedule: before each
round a length threshold ``l ~ U(min, max)`` of the target sentence lengths is drawn, the target sentences with at
most ``l`` words are labelled by the current model (or, with ``pseudo_relabel`` off, by the model the phase started
from; with ``teacher``, by fixed teacher models, once: zsner/teachers.py), and training runs on them with CE or the
reverse-focal loss -- one pass, or ``pseudo_round_steps`` batches -- optionally mixed with source batches
(``pseudo_source_ratio`` per pseudo-labelled batch; 1 is the classic joint step). The phase starts from the zero-shot
phase's src-dev choice. Target gold tags are never loaded.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_open, write_text
from ..data.batches import bucketed_order, cycle
from ..data.tags import convert
from ..errors import ZsnerError
from ..train import distributed
from ..train.model_io import CHECKPOINT_FILE, load_archive, save_archive
from ..train.trainer import Trainer, restore_rng_states, rng_states
from ..rounds import sample_threshold, within_threshold
from .align import make_windows
from .auxiliary import entity_words, predictive_cloze, random_cloze
from .checkpoints import resume_problem
from .config import CRITERIA, TransformerConfig, TransformerTrainConfig, split_list
from .inference import Corpus, evaluate, predict_ids
from .report import plot_curves

log = logging.getLogger("zsner.transformer")
RESUME_FORMAT = "zsner-transformer-resume-1"
LOSS_COLUMNS = ["step", "epoch", "phase", "lr", "loss", "ner", "li", "cl", "pc", "src_dev_f1", "tgt_dev_f1",
                "train_seconds"]


def lr_factor(step: int, total: int, warmup_steps: int) -> float:
    """Multiplier of the base lr for 0-based optimizer step ``step`` of ``total``: linear warm-up, linear decay."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total - step) / max(1, total - warmup_steps))


def window_batches(corpus: Corpus, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """One shuffled pass over a corpus's windows, bucketed by length in word pieces (the classic bucketing)."""
    return [batch.tolist() for batch in bucketed_order(np.asarray(window_sizes(corpus)), batch_size, rng)]


def make_optimizer(model, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def window_sizes(corpus: Corpus) -> list[int]:
    return [sum(len(word) for word in corpus.pieces[w.sentence][w.start:w.end]) for w in corpus.windows]


def subset(corpus: Corpus, sentences: list[int], window: int, overlap: int) -> Corpus:
    """Some sentences of a corpus (unlabelled), re-windowed."""
    pieces = [corpus.pieces[i] for i in sentences]
    return Corpus([corpus.words[i] for i in sentences], pieces, make_windows(pieces, window, overlap),
                  [corpus.langs[i] for i in sentences], corpus.tokens)


@dataclass
class DevSet:
    lang: str
    role: str  # "src" or "tgt"
    corpus: Corpus
    gold: list[list[str]]


@dataclass
class Selected:
    """The best evaluation so far of one criterion in one phase."""

    score: float = -1.0
    step: int | None = None
    epoch: float = 0.0
    state: dict | None = field(default=None, repr=False)
    checkpoint: str = ""
    target_dev: dict = field(default_factory=dict, repr=False)  # lang -> (metrics, predicted tags) at that step
    scores: dict = field(default_factory=dict)  # both criteria's scores at that step


class FineTuning:
    """The transformer's phases on the shared training loop: owns the model, optimizer schedules, evaluation rows,
    selection and best checkpoints of one run."""

    def __init__(self, model, model_config: TransformerConfig, config: TransformerTrainConfig, out_dir,
                 sources: Corpus, unlabelled: Corpus | None, dev_sets: list[DevSet],
                 teacher_labels: list[list[int]] | None = None):
        self.model, self.model_config, self.config = model, model_config, config
        self.teacher_labels = teacher_labels  # --teacher: fixed pseudo-labels of the unlabelled text (tag ids)
        self.out_dir = Path(out_dir)
        self.sources, self.unlabelled, self.dev_sets = sources, unlabelled, dev_sets
        self.device = config.device
        self.model.to(self.device)
        self.rng = np.random.default_rng(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.aux = split_list(config.aux)
        self.rows: list[list] = []
        self.best: dict[str, dict[str, Selected]] = {}
        self.step = 0
        self.phase = ""
        self.train_seconds = 0.0
        self.sentences_seen = 0
        self.stopped_early = False
        self.pseudo_rounds: list[dict] = []
        self.plateau_scale = 1.0
        self.bad_evaluations = self.plateau_bad = 0
        self.resume_point: dict | None = None  # the checkpoint a resumed run continues from
        self._schedule: dict = {}  # the current phase's pseudo-label rounds, fixed labels, round labels
        self._unlabelled_queue: list[list[int]] = []
        fp16 = config.amp and str(self.device).startswith("cuda") and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.replica = distributed.replicate(model) if distributed.active() else None  # torchrun: DDP
        distributed.seed_others(config.seed)
        self.loop = Trainer(model, self, config.eval_every, config.max_grad_norm, accumulate=config.grad_accum,
                            device=self.device, amp=config.amp, scaler=self.scaler, progress=config.progress,
                            losses_per_pass=True, no_sync=self.replica.no_sync if self.replica else None)
        self.candidates = self.replacements = None
        if {"cl", "pc"} & set(self.aux):
            vocabulary = model.encoder.get_input_embeddings().num_embeddings
            if config.cloze_vocab == "target":
                ids = sorted({p for sentence in unlabelled.pieces for word in sentence for p in word})
                self.candidates = torch.tensor(ids, dtype=torch.long, device=self.device)
                self.replacements = self.candidates
            else:
                self.replacements = torch.arange(vocabulary, device=self.device)

    # ------------------------------------------------------------------------------------------ losses
    def _next_unlabelled(self) -> list[int]:
        if not self._unlabelled_queue:
            self._unlabelled_queue = window_batches(self.unlabelled, self.config.batch_size, self.rng)
        return self._unlabelled_queue.pop()

    def _language_ids(self, langs: list[str]) -> torch.Tensor:
        return torch.tensor([self.model.languages.index(lang) for lang in langs], device=self.device)

    def _losses(self, corpus: Corpus, indices: list[int], kind: str) -> dict[str, torch.Tensor]:
        """The micro-batch's losses; under DDP this process's share of them (``distributed.shard``: NER is a mean
        over words, or over windows for the CRF head, LI over windows)."""
        config, model = self.config, self.model
        words = [w.end - w.start for w in (corpus.windows[i] for i in indices)] if model.crf is None else None
        mine, share = distributed.shard(indices, words)
        batch = corpus.batch(mine, self.device)
        hidden = model.hidden(batch)
        if kind == "pseudo" or config.train_file:  # a --train-file holds projected labels: pseudo-labels too
            parts = {"ner": model.ner_loss(batch, config.pseudo_loss, config.pseudo_gamma, hidden) * share}
        else:
            parts = {"ner": model.ner_loss(batch, "ce", hidden=hidden) * share}
        if not self.aux:
            return parts
        target_indices = self._next_unlabelled()
        target_mine, target_share = distributed.shard(target_indices)  # cl, pc: one process only (run.py)
        target = self.unlabelled.batch(target_mine, self.device)
        if "li" in self.aux:
            source_li = model.language_loss(hidden, batch, self._language_ids(corpus.window_langs(mine)))
            target_hidden = model.hidden(target)
            target_li = model.language_loss(target_hidden, target,
                                            self._language_ids(self.unlabelled.window_langs(target_mine)))
            window_share = distributed.shard(indices)[1]
            parts["li"] = (source_li * window_share + target_li * target_share) / 2
        if "cl" in self.aux:
            masked, targets = random_cloze(target, config.cl_prob, self.unlabelled.tokens.mask_id, self.generator,
                                           self.replacements)
            parts["cl"] = model.cloze_loss(target, masked, targets, self.candidates)
        if "pc" in self.aux:
            model.eval()
            predicted = model.predict(target)
            model.train()
            masked = predictive_cloze(target, entity_words(predicted, model.tags, tuple(target.word_mask.shape)),
                                      self.unlabelled.tokens.mask_id)
            if masked is not None:
                parts["pc"] = model.cloze_loss(target, masked[0], masked[1], self.candidates)
        return parts

    def _total(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        weights = {"ner": 1.0, "li": self.config.li_weight, "cl": self.config.cl_weight, "pc": self.config.pc_weight}
        return sum(weights[name] * value for name, value in parts.items())

    # ------------------------------------------------------------------------------------------ loop
    def _run(self, plan: list[tuple[Corpus, list[int], str]], optimizer, lr_at, epoch_at, final: bool, desc: str,
             index: int, start: int = 0):
        """One pass over ``plan`` (micro-batches) from ``start`` on the shared training loop, epoch or round
        ``index`` of the phase; returns False when early stopping fired. Every evaluation writes the resumable
        checkpoint."""
        if start and not self._keep_going():  # resumed after the evaluation that stopped training
            return False

        def losses(spec):
            corpus, indices, kind = spec
            compute = lambda: self._losses(corpus, indices, kind)  # noqa: E731
            parts = self.replica(compute) if self.replica is not None else compute()
            sentences = sum(corpus.windows[i].start == 0 for i in indices)
            return {"loss": self._total(parts), **parts}, sentences

        def on_evaluate(means, lr, fraction, position, _at_end):
            keep_going = self._evaluate(means, lr, epoch_at(fraction))
            self._checkpoint(optimizer, plan, index, position)
            return keep_going

        return self.loop.run_pass(plan, optimizer, losses, lambda k: lr_at(k) * self.plateau_scale, on_evaluate,
                                  final, desc, start)

    # ------------------------------------------------------------------------------------------ phases
    def _start_phase(self, name: str) -> dict | None:
        """Enter a phase; returns the resume point when a resumed run continues inside it (state already restored)."""
        point, self.resume_point = self.resume_point, None
        if point is not None and point["phase"] == name:
            log.info("resumed at step %d (%s, %d of %d micro-batches of pass %d)", self.step, name,
                     point["position"], len(point["plan"]), point["index"] + 1)
            return point
        self.phase = name
        self.best[name] = {criterion: Selected() for criterion in CRITERIA}
        self.bad_evaluations = self.plateau_bad = 0
        self.plateau_scale = 1.0
        self._schedule = {}
        log.info("phase %s", name)
        return None

    def fit_zero_shot(self) -> None:
        """Supervised fine-tuning on the source language(s)."""
        config = self.config
        if self.resume_point is not None and self.resume_point["phase"] != "zero-shot":
            return  # resumed in a later phase
        point = self._start_phase("zero-shot")
        windows = len(self.sources.windows)
        steps_per_epoch = math.ceil(math.ceil(windows / config.batch_size) / config.grad_accum)
        total = steps_per_epoch * config.epochs
        warmup = int(round(config.warmup * total))
        optimizer = make_optimizer(self.model, config.lr, config.weight_decay)
        log.info("zero-shot: %d windows, %d steps per epoch, %d epochs, warm-up %d steps",
                 windows, steps_per_epoch, config.epochs, warmup)
        first, start, plan = 0, 0, None
        if point is not None:
            optimizer.load_state_dict(point["optimizer"])
            first, start, plan = point["index"], point["position"], self._plan(point["plan"], {})
        for epoch in range(first, config.epochs):
            if plan is None:
                batches = window_batches(self.sources, config.batch_size, self.rng)
                plan = [(self.sources, batch, "source") for batch in batches]
            base = epoch * steps_per_epoch
            keep_going = self._run(plan, optimizer, lambda k, base=base: config.lr * lr_factor(base + k, total, warmup),
                                   lambda fraction, epoch=epoch: epoch + fraction, epoch == config.epochs - 1,
                                   f"epoch {epoch + 1}/{config.epochs}", epoch, start)
            plan, start = None, 0
            if not keep_going:
                self.stopped_early = True
                log.info("early stopping after %d evaluations without src-dev improvement", config.patience)
                break

    def evaluate_initial(self) -> None:
        """Score the model as it is (no training) so that it can be selected and reported."""
        self._start_phase("zero-shot")
        self._evaluate({}, 0.0, 0.0)

    def fit_pseudo(self) -> None:
        """Pseudo-label rounds on the unlabelled target text, starting from the zero-shot src-dev choice."""
        config = self.config
        start = self.best.get("zero-shot", {}).get("src-dev")
        resuming = self.resume_point is not None and self.resume_point["phase"] == "augmented"
        if start is not None and start.state is not None and not resuming:
            self.model.load_trainable(start.state)
            log.info("pseudo-labelling starts from the zero-shot src-dev choice (step %s)", start.step)
        distributed.broadcast_parameters(self.model)  # DDP: only the first process keeps the selected states
        point = self._start_phase("augmented")
        window, overlap = self.model_config.window, self.model_config.overlap
        if point is None:
            fixed = self.teacher_labels
            if fixed is None and not config.pseudo_relabel:
                fixed = self._pseudo_labels(self.unlabelled)
            self._schedule = {"rounds": self._round_schedule(), "fixed": fixed}
        rounds, fixed = self._schedule["rounds"], self._schedule["fixed"]
        steps = [math.ceil((pseudo + source) / config.grad_accum) for _, _, pseudo, source in rounds]
        total, lr = sum(steps), config.pseudo_lr or config.lr
        optimizer = make_optimizer(self.model, lr, config.weight_decay)
        first, position = 0, 0
        if point is not None:
            optimizer.load_state_dict(point["optimizer"])
            first, position = point["index"], point["position"]
        for number in range(first, len(rounds)):
            threshold, chosen, pseudo_batches, source_batches = rounds[number]
            corpus = subset(self.unlabelled, chosen, window, overlap)
            if point is not None and number == first:
                labels = self._schedule["labels"]
            else:
                labels = [fixed[i] for i in chosen] if fixed is not None else self._pseudo_labels(corpus)
            self._schedule["labels"] = labels
            corpus.set_labels(labels, self.model.tags, self.model_config.scheme)
            if point is not None and number == first:
                plan = self._plan(point["plan"], {"pseudo": corpus})
            else:
                position = 0
                entities = sum(self.model.tags[i].startswith(("B-", "S-")) for row in labels for i in row)
                self.pseudo_rounds.append({"round": number + 1, "threshold": threshold, "sentences": len(chosen),
                                           "windows": len(corpus.windows), "pseudo_entities": entities,
                                           "pseudo_batches": pseudo_batches, "source_batches": source_batches})
                log.info("pseudo round %d: length <= %d, %d sentences, %d predicted entities, %d + %d batches",
                         number + 1, threshold, len(chosen), entities, pseudo_batches, source_batches)
                plan = [(corpus, batch, "pseudo") for batch in
                        cycle(lambda: window_batches(corpus, config.batch_size, self.rng), pseudo_batches)]
                if source_batches:
                    plan += [(self.sources, batch, "source") for batch in
                             cycle(lambda: window_batches(self.sources, config.batch_size, self.rng), source_batches)]
                    self.rng.shuffle(plan)
            base = sum(steps[:number])
            keep_going = self._run(plan, optimizer, lambda k, base=base: lr * lr_factor(base + k, total, 0),
                                   lambda fraction, number=number: number + fraction, number == len(rounds) - 1,
                                   f"pseudo round {number + 1}/{len(rounds)}", number, position)
            if not keep_going:
                self.stopped_early = True
                break

    def _round_schedule(self) -> list[tuple[int, list[int], int, int]]:
        """Per round: length threshold, chosen sentences, pseudo-labelled and source micro-batches."""
        config = self.config
        lengths = [len(words) for words in self.unlabelled.words]
        low, high = min(lengths), max(lengths)
        rounds = []
        for _ in range(config.pseudo_rounds):
            threshold = sample_threshold(self.rng, low, high)
            chosen = within_threshold(lengths, threshold).tolist()
            if config.pseudo_max_sentences and len(chosen) > config.pseudo_max_sentences:
                chosen = sorted(self.rng.choice(chosen, config.pseudo_max_sentences, replace=False).tolist())
            pseudo_batches = config.pseudo_round_steps or math.ceil(
                len(subset(self.unlabelled, chosen, self.model_config.window, self.model_config.overlap).windows)
                / config.batch_size)
            rounds.append((threshold, chosen, pseudo_batches, int(round(config.pseudo_source_ratio * pseudo_batches))))
        return rounds

    # ------------------------------------------------------------------------------------------ resume
    def _plan(self, stored: list, corpora: dict) -> list[tuple[Corpus, list[int], str]]:
        corpora = {"source": self.sources, **corpora}
        return [(corpora[kind], list(indices), kind) for kind, indices in stored]

    def _checkpoint(self, optimizer, plan: list, index: int, position: int) -> None:
        """The resumable checkpoint (tensors and plain containers only), written atomically at every evaluation
        (DDP: by the first process, with every process's generator states)."""
        ranks = distributed.gather(rng_states(self.device))
        if not distributed.is_main():
            return
        save_archive(self.out_dir / CHECKPOINT_FILE, {
            "format": RESUME_FORMAT, "phase": self.phase, "index": index, "position": position,
            "plan": [[kind, list(indices)] for _, indices, kind in plan], "model": self.model.trainable_state(),
            "optimizer": optimizer.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": self.rng.bit_generator.state, "generator": self.generator.get_state(),
            **rng_states(self.device), "step": self.step, "rows": self.rows,
            "best": {phase: {criterion: asdict(chosen) for criterion, chosen in criteria.items()}
                     for phase, criteria in self.best.items()},
            "train_seconds": self.train_seconds, "sentences_seen": self.sentences_seen,
            "pseudo_rounds": self.pseudo_rounds, "plateau_scale": self.plateau_scale,
            "bad_evaluations": self.bad_evaluations, "plateau_bad": self.plateau_bad,
            "queue": self._unlabelled_queue, "schedule": self._schedule,
            **({"rank_rng": ranks} if len(ranks) > 1 else {})})

    def resume(self) -> None:
        """Restore the state of the last checkpoint; ``fit_*`` then continue from its position."""
        path = self.out_dir / CHECKPOINT_FILE
        point = load_archive(path)
        if point.get("format") != RESUME_FORMAT:
            raise ZsnerError("not a resumable zsner transformer checkpoint", path)
        problem = resume_problem(point, self)
        if problem:
            raise ZsnerError(f"damaged checkpoint: {problem}", path)
        try:
            self.model.load_trainable(point["model"])
            self.scaler.load_state_dict(point["scaler"])
            self.rng.bit_generator.state = point["rng"]
            self.generator.set_state(point["generator"])
            ranks = point.get("rank_rng") or [point]  # every process's generator states (DDP), else the one's
            if len(ranks) == distributed.world():
                restore_rng_states(ranks[distributed.rank()], self.device)
            else:  # saved by another number of processes
                restore_rng_states(point, self.device)
                distributed.seed_others(self.config.seed, point["step"])
        except ZsnerError as err:
            raise ZsnerError(str(err), path) from None
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ZsnerError(f"damaged checkpoint: weights or generator states ({type(err).__name__})", path) from None
        self.phase, self.step, self.rows = point["phase"], point["step"], point["rows"]
        self.best = {phase: {criterion: Selected(**chosen) for criterion, chosen in criteria.items()}
                     for phase, criteria in point["best"].items()}
        self.train_seconds, self.sentences_seen = point["train_seconds"], point["sentences_seen"]
        self.pseudo_rounds, self.plateau_scale = point["pseudo_rounds"], point["plateau_scale"]
        self.bad_evaluations, self.plateau_bad = point["bad_evaluations"], point["plateau_bad"]
        self._unlabelled_queue, self._schedule = point["queue"], point["schedule"]
        self.resume_point = point

    def _pseudo_labels(self, corpus: Corpus) -> list[list[int]]:
        """The current model's tags for a corpus, repaired into valid sequences of the training scheme."""
        index = {tag: i for i, tag in enumerate(self.model.tags)}
        predicted = predict_ids(self.model, corpus, batch_size=self.config.eval_batch_size, device=self.device,
                                amp=self.config.amp, progress=self.config.progress, desc="pseudo-label")
        scheme = self.model_config.scheme
        return [[index[tag] for tag in convert([self.model.tags[i] for i in ids], scheme)] for ids in predicted]

    # ------------------------------------------------------------------------------------------ selection
    def _evaluate(self, sums: dict, lr: float, epoch: float) -> bool:
        """Dev F1, loss.tsv row, best checkpoints; returns False when early stopping fires. ``sums``: the mean of
        each loss since the last evaluation. Under DDP the first process scores and the others take its decisions."""
        sums = distributed.average(sums)
        if distributed.is_main():
            self._score(sums, lr, epoch)
        self.bad_evaluations, self.plateau_bad, self.plateau_scale = distributed.broadcast(
            [self.bad_evaluations, self.plateau_bad, self.plateau_scale])
        return self._keep_going()

    def _score(self, sums: dict, lr: float, epoch: float) -> None:
        config = self.config
        options = dict(batch_size=config.eval_batch_size, device=self.device, amp=config.amp)
        scores: dict[str, list[float]] = {"src": [], "tgt": []}
        target_dev, scored = {}, {}
        for dev in self.dev_sets:  # a language that is both source and target: its dev set (shared) scored once
            if dev.lang not in scored:
                scored[dev.lang] = evaluate(self.model, dev.corpus, dev.gold, **options)[:2]
            metrics, predicted = scored[dev.lang]
            scores[dev.role].append(metrics["micro"]["f1"])
            if dev.role == "tgt":
                target_dev[dev.lang] = (metrics, predicted)
        src = round(sum(scores["src"]) / len(scores["src"]), 2) if scores["src"] else None
        tgt = round(sum(scores["tgt"]) / len(scores["tgt"]), 2) if scores["tgt"] else None
        mean = {name: round(value, 5) for name, value in sums.items()}
        self.rows.append([self.step, round(epoch, 3), self.phase, f"{lr:.3g}", mean.get("loss", ""),
                          mean.get("ner", ""), mean.get("li", ""), mean.get("cl", ""), mean.get("pc", ""),
                          "" if src is None else src, "" if tgt is None else tgt, round(self.train_seconds, 1),
                          *(round(target_dev[lang][0]["micro"]["f1"], 2) for lang in self._per_target())])
        columns = self._columns()
        write_text(self.out_dir / "loss.tsv", "\t".join(columns) + "\n" + "".join(
            "\t".join(map(str, row + [""] * (len(columns) - len(row)))) + "\n" for row in self.rows))
        improved_src = False
        for criterion, score in (("src-dev", src), ("tgt-dev", tgt)):
            best = self.best[self.phase][criterion]
            if score is not None and score > best.score:
                best.score, best.step, best.epoch = score, self.step, round(epoch, 3)
                best.state, best.target_dev = self.model.trainable_state(), target_dev
                best.scores = {"src-dev": src, "tgt-dev": tgt}
                best.checkpoint = self._save(criterion, best) if config.save_checkpoints else ""
                improved_src = improved_src or criterion == "src-dev"
        log.info("%s step %d epoch %.2f lr %s loss %s src-dev F1 %s tgt-dev F1 %s", self.phase, self.step, epoch,
                 f"{lr:.3g}", mean.get("loss"), src, tgt)
        plot_curves(self.rows, columns, self.out_dir)
        self.bad_evaluations = 0 if improved_src else self.bad_evaluations + 1
        self.plateau_bad = 0 if improved_src else self.plateau_bad + 1
        if config.plateau and self.plateau_bad >= config.plateau_patience:
            self.plateau_scale *= config.plateau_factor
            self.plateau_bad = 0
            log.info("src-dev plateau: lr scale now %.3g", self.plateau_scale)

    def _per_target(self) -> list[str]:
        """The target languages whose dev F1 gets a loss.tsv column of its own (runs with several targets; the
        ``tgt_dev_f1`` column is then their mean)."""
        targets = [dev.lang for dev in self.dev_sets if dev.role == "tgt"]
        return targets if len(targets) > 1 else []

    def _columns(self) -> list[str]:
        return LOSS_COLUMNS + [f"tgt_dev_f1_{lang}" for lang in self._per_target()]

    def _keep_going(self) -> bool:
        """False once ``patience`` evaluations in a row did not improve src-dev (early stopping)."""
        return not (self.config.patience and self.bad_evaluations >= self.config.patience)

    def _save(self, criterion: str, best: Selected) -> str:
        path = self.out_dir / "checkpoints" / f"{self.phase}.{criterion}.pt"
        archive = checkpoint_archive(self.model, self.model_config, best.state,
                                     {"phase": self.phase, "criterion": criterion, "step": best.step,
                                      "epoch": best.epoch, "score": best.score})
        with atomic_open(path, "wb", encoding=None) as handle:
            torch.save(archive, handle)
        return str(path.relative_to(self.out_dir))


def checkpoint_archive(model, model_config: TransformerConfig, state: dict, meta: dict) -> dict:
    return {"format": "zsner-transformer-1", "model_config": asdict(model_config), "tags": model.tags,
            "languages": model.languages, "cloze": model.cloze_head is not None, "meta": meta, "state": state}
