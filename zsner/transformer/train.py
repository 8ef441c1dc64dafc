"""The transformer training loop: zero-shot fine-tuning and pseudo-label fine-tuning, with model selection.

AdamW (no decay on biases and LayerNorm weights), linear warm-up then linear decay to 0, optional plateau
reduction of the lr, gradient clipping and accumulation, mixed precision on CUDA (fp32 on CPU). Dev F1 is measured
every ``eval_every`` optimizer steps (or once per epoch / round); the best step of each selection criterion --
``src-dev`` (mean F1 over the source dev sets, zero-resource) and ``tgt-dev`` (mean over the target dev sets) -- is
kept per phase, in memory and as a checkpoint. Early stopping and the plateau rule watch ``src-dev`` only.

Pseudo-label fine-tuning (``augmented`` mode) follows the classic backend's length-sampled schedule: before each
round a length threshold ``l ~ U(min, max)`` of the target sentence lengths is drawn, the target sentences with at
most ``l`` words are labelled by the current model (or, with ``pseudo_relabel`` off, by the model the phase started
from), and training runs on them with CE or the reverse-focal loss -- one pass, or ``pseudo_round_steps``
batches -- optionally mixed with source batches (``pseudo_source_ratio`` per pseudo-labelled batch; 1 is the classic
joint step). The phase starts from the zero-shot phase's src-dev choice. Target gold tags are never loaded.
"""
from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ..atomic import atomic_open, write_text
from ..data.tags import convert
from .align import make_windows
from .auxiliary import entity_words, predictive_cloze, random_cloze
from .config import CRITERIA, TransformerConfig, TransformerTrainConfig, split_list
from ..device import autocast, host_float
from .inference import Corpus, evaluate, predict_ids
from .report import plot_curves

log = logging.getLogger("zsner.transformer")
LOSS_COLUMNS = ["step", "epoch", "phase", "lr", "loss", "ner", "li", "cl", "pc", "src_dev_f1", "tgt_dev_f1",
                "train_seconds"]


def lr_factor(step: int, total: int, warmup_steps: int) -> float:
    """Multiplier of the base lr for 0-based optimizer step ``step`` of ``total``: linear warm-up, linear decay."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total - step) / max(1, total - warmup_steps))


def bucketed(sizes: list[int], batch_size: int, rng: random.Random, pool: int = 50) -> list[list[int]]:
    """Batches of item indices: shuffled, sorted by size within pools of ``pool`` batches, batch order shuffled."""
    order = list(range(len(sizes)))
    rng.shuffle(order)
    batches = []
    for begin in range(0, len(order), batch_size * pool):
        chunk = sorted(order[begin:begin + batch_size * pool], key=lambda index: sizes[index])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _cycle(make_batches, count: int) -> list[list[int]]:
    """``count`` batches from repeated fresh passes (``make_batches()`` gives one shuffled pass)."""
    batches: list[list[int]] = []
    while len(batches) < count:
        batches.extend(make_batches())
    return batches[:count]


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


class Trainer:
    """Owns the model, optimizer state, schedule, evaluation rows and best checkpoints of one run."""

    def __init__(self, model, model_config: TransformerConfig, config: TransformerTrainConfig, out_dir,
                 sources: Corpus, unlabelled: Corpus | None, dev_sets: list[DevSet]):
        self.model, self.model_config, self.config = model, model_config, config
        self.out_dir = Path(out_dir)
        self.sources, self.unlabelled, self.dev_sets = sources, unlabelled, dev_sets
        self.device = config.device
        self.model.to(self.device)
        self.rng = random.Random(config.seed)
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
        self._unlabelled_queue: list[list[int]] = []
        fp16 = config.amp and str(self.device).startswith("cuda") and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
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
            self._unlabelled_queue = bucketed(window_sizes(self.unlabelled), self.config.batch_size, self.rng)
        return self._unlabelled_queue.pop()

    def _language_ids(self, langs: list[str]) -> torch.Tensor:
        return torch.tensor([self.model.languages.index(lang) for lang in langs], device=self.device)

    def _losses(self, corpus: Corpus, indices: list[int], kind: str) -> dict[str, torch.Tensor]:
        config, model = self.config, self.model
        batch = corpus.batch(indices, self.device)
        hidden = model.hidden(batch)
        if kind == "pseudo":
            parts = {"ner": model.ner_loss(batch, config.pseudo_loss, config.pseudo_gamma, hidden)}
        else:
            parts = {"ner": model.ner_loss(batch, "ce", hidden=hidden)}
        if not self.aux:
            return parts
        target_indices = self._next_unlabelled()
        target = self.unlabelled.batch(target_indices, self.device)
        if "li" in self.aux:
            source_li = model.language_loss(hidden, batch, self._language_ids(corpus.window_langs(indices)))
            target_hidden = model.hidden(target)
            target_li = model.language_loss(target_hidden, target,
                                            self._language_ids(self.unlabelled.window_langs(target_indices)))
            parts["li"] = (source_li + target_li) / 2
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
    def _run(self, plan: list[tuple[Corpus, list[int], str]], optimizer, lr_at, epoch_at, final: bool, desc: str):
        """One pass over ``plan`` (micro-batches); returns False when early stopping fired."""
        config, model = self.config, self.model
        accumulate = config.grad_accum
        steps_in_plan = math.ceil(len(plan) / accumulate)
        trainable = [p for p in model.parameters() if p.requires_grad]
        sums: dict[str, tuple] = {}  # loss name -> (sum on the device, micro-batches where it was computed)
        evaluated_last = False
        model.train()
        optimizer.zero_grad(set_to_none=True)
        bar = tqdm(total=len(plan), desc=desc, disable=not config.progress, leave=False)
        started = time.perf_counter()
        for position, (corpus, indices, kind) in enumerate(plan):
            with autocast(self.device, config.amp):
                parts = self._losses(corpus, indices, kind)
                loss = self._total(parts)
            self.scaler.scale(loss / accumulate).backward()
            for name, value in {"loss": loss, **parts}.items():
                total, count = sums.get(name, (0.0, 0))
                sums[name] = (total + value.detach().float(), count + 1)  # read once per evaluation
            self.sentences_seen += sum(corpus.windows[i].start == 0 for i in indices)
            bar.update(1)
            if (position + 1) % accumulate and position != len(plan) - 1:
                continue
            local = position // accumulate
            lr = lr_at(local) * self.plateau_scale
            for group in optimizer.param_groups:
                group["lr"] = lr
            if config.max_grad_norm > 0:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            self.scaler.step(optimizer)
            self.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            self.step += 1
            evaluated_last = False
            if config.eval_every and self.step % config.eval_every == 0:
                self.train_seconds += time.perf_counter() - started
                keep_going = self._evaluate(sums, lr, epoch_at((local + 1) / steps_in_plan))
                sums, evaluated_last = {}, True
                started = time.perf_counter()
                if not keep_going:
                    bar.close()
                    return False
        bar.close()
        self.train_seconds += time.perf_counter() - started
        if (not config.eval_every or final) and not evaluated_last:
            return self._evaluate(sums, optimizer.param_groups[0]["lr"], epoch_at(1.0))
        return True

    # ------------------------------------------------------------------------------------------ phases
    def _start_phase(self, name: str) -> None:
        self.phase = name
        self.best[name] = {criterion: Selected() for criterion in CRITERIA}
        self.bad_evaluations = self.plateau_bad = 0
        self.plateau_scale = 1.0
        log.info("phase %s", name)

    def fit_zero_shot(self) -> None:
        """Supervised fine-tuning on the source language(s)."""
        config = self.config
        self._start_phase("zero-shot")
        sizes = window_sizes(self.sources)
        steps_per_epoch = math.ceil(math.ceil(len(sizes) / config.batch_size) / config.grad_accum)
        total = steps_per_epoch * config.epochs
        warmup = int(round(config.warmup * total))
        optimizer = make_optimizer(self.model, config.lr, config.weight_decay)
        log.info("zero-shot: %d windows, %d steps per epoch, %d epochs, warm-up %d steps",
                 len(sizes), steps_per_epoch, config.epochs, warmup)
        for epoch in range(config.epochs):
            plan = [(self.sources, batch, "source") for batch in bucketed(sizes, config.batch_size, self.rng)]
            base = epoch * steps_per_epoch
            keep_going = self._run(plan, optimizer, lambda k, base=base: config.lr * lr_factor(base + k, total, warmup),
                                   lambda fraction, epoch=epoch: epoch + fraction, epoch == config.epochs - 1,
                                   f"epoch {epoch + 1}/{config.epochs}")
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
        if start is not None and start.state is not None:
            self.model.load_trainable(start.state)
            log.info("pseudo-labelling starts from the zero-shot src-dev choice (step %s)", start.step)
        self._start_phase("augmented")
        lengths = [len(words) for words in self.unlabelled.words]
        low, high = min(lengths), max(lengths)
        window, overlap = self.model_config.window, self.model_config.overlap
        rounds = []  # (threshold, chosen sentences, pseudo-labelled micro-batches, source micro-batches)
        for _ in range(config.pseudo_rounds):
            threshold = self.rng.randint(low, high)
            chosen = [i for i, n in enumerate(lengths) if n <= threshold]
            if config.pseudo_max_sentences and len(chosen) > config.pseudo_max_sentences:
                chosen = sorted(self.rng.sample(chosen, config.pseudo_max_sentences))
            pseudo_batches = config.pseudo_round_steps or math.ceil(
                len(subset(self.unlabelled, chosen, window, overlap).windows) / config.batch_size)
            rounds.append((threshold, chosen, pseudo_batches, int(round(config.pseudo_source_ratio * pseudo_batches))))
        steps = [math.ceil((pseudo + source) / config.grad_accum) for _, _, pseudo, source in rounds]
        total, lr = sum(steps), config.pseudo_lr or config.lr
        fixed = None if config.pseudo_relabel else self._pseudo_labels(self.unlabelled)
        optimizer = make_optimizer(self.model, lr, config.weight_decay)
        source_sizes = window_sizes(self.sources)
        for number, (threshold, chosen, pseudo_batches, source_batches) in enumerate(rounds):
            corpus = subset(self.unlabelled, chosen, window, overlap)
            labels = [fixed[i] for i in chosen] if fixed is not None else self._pseudo_labels(corpus)
            corpus.set_labels(labels, self.model.tags, self.model_config.scheme)
            entities = sum(self.model.tags[i].startswith(("B-", "S-")) for row in labels for i in row)
            self.pseudo_rounds.append({"round": number + 1, "threshold": threshold, "sentences": len(chosen),
                                       "windows": len(corpus.windows), "pseudo_entities": entities,
                                       "pseudo_batches": pseudo_batches, "source_batches": source_batches})
            log.info("pseudo round %d: length <= %d, %d sentences, %d predicted entities, %d + %d batches",
                     number + 1, threshold, len(chosen), entities, pseudo_batches, source_batches)
            plan = [(corpus, batch, "pseudo") for batch in
                    _cycle(lambda: bucketed(window_sizes(corpus), config.batch_size, self.rng), pseudo_batches)]
            if source_batches:
                plan += [(self.sources, batch, "source") for batch in
                         _cycle(lambda: bucketed(source_sizes, config.batch_size, self.rng), source_batches)]
                self.rng.shuffle(plan)
            base = sum(steps[:number])
            keep_going = self._run(plan, optimizer, lambda k, base=base: lr * lr_factor(base + k, total, 0),
                                   lambda fraction, number=number: number + fraction, number == len(rounds) - 1,
                                   f"pseudo round {number + 1}/{len(rounds)}")
            if not keep_going:
                self.stopped_early = True
                break

    def _pseudo_labels(self, corpus: Corpus) -> list[list[int]]:
        """The current model's tags for a corpus, repaired into valid sequences of the training scheme."""
        index = {tag: i for i, tag in enumerate(self.model.tags)}
        predicted = predict_ids(self.model, corpus, batch_size=self.config.eval_batch_size, device=self.device,
                                amp=self.config.amp, progress=self.config.progress, desc="pseudo-label")
        scheme = self.model_config.scheme
        return [[index[tag] for tag in convert([self.model.tags[i] for i in ids], scheme)] for ids in predicted]

    # ------------------------------------------------------------------------------------------ selection
    def _evaluate(self, sums: dict, lr: float, epoch: float) -> bool:
        """Dev F1, loss.tsv row, best checkpoints; returns False when early stopping fires."""
        config = self.config
        options = dict(batch_size=config.eval_batch_size, device=self.device, amp=config.amp)
        scores: dict[str, list[float]] = {"src": [], "tgt": []}
        target_dev = {}
        for dev in self.dev_sets:
            metrics, predicted, _ = evaluate(self.model, dev.corpus, dev.gold, **options)
            scores[dev.role].append(metrics["micro"]["f1"])
            if dev.role == "tgt":
                target_dev[dev.lang] = (metrics, predicted)
        src = round(sum(scores["src"]) / len(scores["src"]), 2) if scores["src"] else None
        tgt = round(sum(scores["tgt"]) / len(scores["tgt"]), 2) if scores["tgt"] else None
        mean = {name: round(host_float(total) / count, 5) for name, (total, count) in sums.items()}
        self.rows.append([self.step, round(epoch, 3), self.phase, f"{lr:.3g}", mean.get("loss", ""),
                          mean.get("ner", ""), mean.get("li", ""), mean.get("cl", ""), mean.get("pc", ""),
                          "" if src is None else src, "" if tgt is None else tgt, round(self.train_seconds, 1)])
        write_text(self.out_dir / "loss.tsv",
                   "\t".join(LOSS_COLUMNS) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in self.rows))
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
        plot_curves(self.rows, LOSS_COLUMNS, self.out_dir)
        self.bad_evaluations = 0 if improved_src else self.bad_evaluations + 1
        self.plateau_bad = 0 if improved_src else self.plateau_bad + 1
        if config.plateau and self.plateau_bad >= config.plateau_patience:
            self.plateau_scale *= config.plateau_factor
            self.plateau_bad = 0
            log.info("src-dev plateau: lr scale now %.3g", self.plateau_scale)
        return not (config.patience and self.bad_evaluations >= config.patience)

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
