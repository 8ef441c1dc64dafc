"""Adversarial training of the mapping (Conneau et al. 2017): a discriminator tells mapped source vectors
from target vectors, W learns to fool it and is kept near-orthogonal; several restarts, best criterion kept.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .retrieval import mean_cosine_criterion

log = logging.getLogger(__name__)


class Discriminator(nn.Module):
    """MLP ``d -> hid -> ... -> 1`` (logit) with LeakyReLU(0.2), input dropout and hidden dropout."""

    def __init__(self, dim: int, layers: int = 2, hid_dim: int = 2048, dropout: float = 0.0,
                 input_dropout: float = 0.1):
        super().__init__()
        modules: list[nn.Module] = [nn.Dropout(input_dropout)]
        for i in range(layers + 1):
            modules.append(nn.Linear(dim if i == 0 else hid_dim, 1 if i == layers else hid_dim))
            if i < layers:
                modules += [nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        self.net = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


@torch.no_grad()
def orthogonalize(w: torch.Tensor, beta: float) -> None:
    """In place: ``W <- (1 + beta) W - beta (W W^T) W``, a step towards the closest orthogonal matrix."""
    if beta > 0:
        w.copy_((1 + beta) * w - beta * (w @ w.T) @ w)


def nearest_orthogonal(w: torch.Tensor) -> torch.Tensor:
    """The orthogonal matrix closest to ``w`` (polar factor ``U V^T`` of its SVD)."""
    u, _, vt = torch.linalg.svd(w.detach().double())
    return (u @ vt).float()


def orthogonality_defect(w: torch.Tensor) -> float:
    """``max |W W^T - I|``: 0 for an orthogonal matrix."""
    return float((w @ w.T - torch.eye(w.shape[0])).abs().max())


@dataclass
class AdversarialResult:
    w: torch.Tensor                      # best mapping of the best restart by the criterion, orthogonalised
    criterion: float
    seed: int
    history: list[dict] = field(default_factory=list)  # one entry per (restart, epoch)


class _Trainer:
    """One adversarial run: the MUSE schedule over ``n_epochs x epoch_size`` samples."""

    def __init__(self, x, y, config, seed):
        self.x, self.y, self.cfg = x, y, config
        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # discriminator initialisation and dropout
        self.w = torch.eye(x.shape[1]).requires_grad_(True)
        self.dis = Discriminator(x.shape[1], config.dis_layers, config.dis_hid_dim, config.dis_dropout,
                                 config.dis_input_dropout)
        self.dis_opt = torch.optim.SGD(self.dis.parameters(), lr=config.dis_lr)
        self.map_opt = torch.optim.SGD([self.w], lr=config.map_lr)
        n = config.batch_size
        smooth = config.dis_smooth
        self.labels = torch.cat([torch.full((n,), 1 - smooth), torch.full((n,), smooth)])  # mapped = 1
        bf16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
        self.autocast = bf16 if config.bf16 else contextlib.nullcontext

    def _batch(self, grad_w: bool) -> torch.Tensor:
        n, top = self.cfg.batch_size, self.cfg.dis_most_frequent
        src = self.x[torch.randint(0, min(top, len(self.x)), (n,), generator=self.gen)]
        tgt = self.y[torch.randint(0, min(top, len(self.y)), (n,), generator=self.gen)]
        with torch.set_grad_enabled(grad_w):
            return torch.cat([src @ self.w.T, tgt])

    def dis_step(self) -> float:
        self.dis.train()
        inputs = self._batch(grad_w=False)
        with self.autocast():
            loss = F.binary_cross_entropy_with_logits(self.dis(inputs).float(), self.labels)
        self.dis_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dis_opt.step()
        if self.cfg.dis_clip_weights > 0:
            with torch.no_grad():
                for p in self.dis.parameters():
                    p.clamp_(-self.cfg.dis_clip_weights, self.cfg.dis_clip_weights)
        return loss.item()

    def map_step(self) -> None:
        self.dis.eval()
        inputs = self._batch(grad_w=True)
        with self.autocast():
            loss = F.binary_cross_entropy_with_logits(self.dis(inputs).float(), 1 - self.labels)
        (grad,) = torch.autograd.grad(self.cfg.dis_lambda * loss, self.w)
        self.w.grad = grad
        self.map_opt.step()
        orthogonalize(self.w.data, self.cfg.map_beta)

    def criterion(self) -> tuple[float, torch.Tensor]:
        """Criterion of the nearest orthogonal matrix (returned too): a W drifting away from orthogonality,
        e.g. collapsing a direction, inflates mean cosines without translating better."""
        w = nearest_orthogonal(self.w)
        return mean_cosine_criterion(self.x @ w.T, self.y, self.cfg.criterion_queries, self.cfg.dico_max_rank,
                                     self.cfg.csls_k, self.cfg.block_size), w


def train_adversarial(x: torch.Tensor, y: torch.Tensor, config, progress: bool = True) -> AdversarialResult:
    """Run ``config.restarts`` adversarial trainings (seeds ``config.seed + i``) of W mapping ``x`` onto
    ``y``; return the nearest orthogonal matrix of the W with the best unsupervised criterion over all
    epochs of all restarts."""
    best = AdversarialResult(torch.eye(x.shape[1]), float("-inf"), config.seed)
    with torch.random.fork_rng(devices=[]):  # seeding dropout must not change the caller's random stream
        _restarts(x, y, config, progress, best)
    if best.criterion == float("-inf"):  # no epoch ran: the result is the identity start
        best.criterion = mean_cosine_criterion(x, y, config.criterion_queries, config.dico_max_rank,
                                               config.csls_k, config.block_size)
    return best


def _restarts(x, y, config, progress, best: AdversarialResult) -> None:
    for restart in range(config.restarts):
        seed = config.seed + restart
        trainer, lr_best = _Trainer(x, y, config, seed), float("-inf")
        iterations = config.epoch_size // config.batch_size
        for epoch in range(config.n_epochs):
            start, losses = time.perf_counter(), []
            bar = tqdm(range(iterations), desc=f"adversarial seed {seed} epoch {epoch}", disable=not progress,
                       leave=False, mininterval=2.0)
            for _ in bar:
                for _ in range(config.dis_steps):
                    losses.append(trainer.dis_step())
                if config.dis_lambda > 0:
                    trainer.map_step()
            value, w = trainer.criterion()
            lr = trainer.map_opt.param_groups[0]["lr"]
            entry = {"restart": restart, "seed": seed, "epoch": epoch, "criterion": round(value, 5),
                     "dis_loss": round(sum(losses) / max(len(losses), 1), 4), "map_lr": round(lr, 8),
                     "orthogonality_defect": round(orthogonality_defect(trainer.w.detach()), 5),
                     "seconds": round(time.perf_counter() - start, 1)}
            best.history.append(entry)
            log.info("adversarial seed %d epoch %d: criterion %.5f, discriminator loss %.4f, lr %.2e, "
                     "max |WW^T - I| %.4f, %.1fs", seed, epoch, value, entry["dis_loss"], lr,
                     entry["orthogonality_defect"], entry["seconds"])
            if value > best.criterion:
                best.w, best.criterion, best.seed = w, value, seed
            if _update_lr(trainer.map_opt, config, value, lr_best) < config.min_lr:
                log.info("adversarial seed %d: learning rate below %g, stopping", seed, config.min_lr)
                break
            lr_best = max(lr_best, value)


def _update_lr(optimizer, config, value: float, best: float) -> float:
    """MUSE schedule: decay every epoch (floored at min_lr), halve when the criterion drops below its best."""
    group = optimizer.param_groups[0]
    group["lr"] = max(config.min_lr, group["lr"] * config.lr_decay)
    if config.lr_shrink < 1 and value < best:
        group["lr"] *= config.lr_shrink
    return group["lr"]
