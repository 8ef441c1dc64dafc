"""Linear-chain CRF written from scratch: batched forward algorithm, batched Viterbi, marginals, constraints.

Parameters follow pytorch-crf's names and layout (``transitions[from, to]``, ``start_transitions``,
``end_transitions``) so benchmarks can copy them across. Every operation is batched tensor work on the input's
device: the Viterbi backtrace follows back-pointers with one ``gather`` per time step for the whole batch, with
no per-sample loop and no host synchronisation, so the module runs on CUDA unchanged. Every computation runs
in float32 whatever autocast the caller opened: in half precision the forward algorithm's tiny clamp rounds to 0
(log Z = -inf) and Viterbi scores lose the digits that separate paths.

Masks are boolean ``[B, L]``, left-aligned, with at least one true position per sequence.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from .device import full_precision

IMPOSSIBLE = -1e4  # added to the score of a forbidden transition; exp() of it is 0 in float32


def float32(method):
    """Run ``method(emissions, ...)`` with autocast off, half-precision emissions upcast to float32 (float64 kept)."""

    @functools.wraps(method)
    def wrapper(self, emissions, *args):
        with full_precision(emissions.device):
            return method(self, emissions.float() if emissions.element_size() < 4 else emissions, *args)

    return wrapper


class CRF(nn.Module):
    """Linear-chain conditional random field over ``num_tags`` tags.

    ``constraints``: optional ``(start[T], transitions[T][T], end[T])`` booleans of allowed moves (see
    ``zsner.data.tags.allowed_transitions``); forbidden moves are scored ``IMPOSSIBLE`` in training and decoding.
    """

    def __init__(self, num_tags: int, constraints=None):
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        penalties = [torch.zeros(num_tags), torch.zeros(num_tags, num_tags), torch.zeros(num_tags)]
        if constraints is not None:
            penalties = [(~torch.as_tensor(allowed, dtype=torch.bool)).float() * IMPOSSIBLE for allowed in constraints]
        self.register_buffer("start_penalty", penalties[0], persistent=False)
        self.register_buffer("transition_penalty", penalties[1], persistent=False)
        self.register_buffer("end_penalty", penalties[2], persistent=False)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={bool(self.transition_penalty.any())}"

    def _scores(self):
        return (self.start_transitions + self.start_penalty, self.transitions + self.transition_penalty,
                self.end_transitions + self.end_penalty)

    # ----------------------------------------------------------------------------------------- training
    @float32
    def log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log p(tags | emissions) per sequence, ``[B]``."""
        return self.path_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def forward(self, emissions, tags, mask):
        """Mean negative log-likelihood over the batch (the training loss)."""
        return -self.log_likelihood(emissions, tags, mask).mean()

    @float32
    def path_score(self, emissions, tags, mask) -> torch.Tensor:
        """Unnormalised score of the given tag paths, ``[B]``; fully vectorised (no loop over time)."""
        start, transitions, end = self._scores()
        mask_f = mask.to(emissions.dtype)
        tags = tags.masked_fill(~mask, 0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = start[tags[:, 0]] + (emitted * mask_f).sum(1)
        score = score + (transitions[tags[:, :-1], tags[:, 1:]] * mask_f[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1, keepdim=True) - 1).clamp(min=0)).squeeze(1)
        return score + end[last]

    @float32
    def log_partition(self, emissions, mask) -> torch.Tensor:
        """log Z per sequence by the forward algorithm, ``[B]``.

        Each step is a matrix product in probability space around a per-row max shift,
        ``alpha' = log(exp(alpha - m) @ exp(T - t)) + m + t + e``, which is exact, stable, and much cheaper than
        a ``[B, T, T]`` logsumexp. Steps run over the whole batch; each sequence's result is read at its own
        last position.
        """
        _, _, end = self._scores()
        last = (mask.sum(1) - 1).view(-1, 1, 1).expand(-1, 1, self.num_tags)
        final = torch.stack(self._alphas(emissions), dim=1).gather(1, last).squeeze(1)
        return torch.logsumexp(final + end, dim=1)

    def _alphas(self, emissions) -> list[torch.Tensor]:
        """The forward algorithm's ``alpha`` at every step (``[B, T]`` each), as ``log_partition`` explains."""
        start, transitions, _ = self._scores()
        shift = transitions.max().detach()
        exp_transitions = (transitions - shift).exp()
        shifted = (emissions + shift).unbind(1)
        tiny = torch.finfo(emissions.dtype).tiny
        alpha = start + emissions[:, 0]
        alphas = [alpha]
        for step in range(1, emissions.shape[1]):
            peak = alpha.amax(dim=1, keepdim=True).detach()
            alpha = torch.mm((alpha - peak).exp(), exp_transitions).clamp_min(tiny).log() + (peak + shifted[step])
            alphas.append(alpha)
        return alphas

    def marginals(self, emissions, mask) -> torch.Tensor:
        """Posterior tag marginals p(y_t = j | x), ``[B, L, T]`` (zero at padding), via the gradient of log Z."""
        with torch.enable_grad():
            emissions = emissions.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_partition(emissions, mask).sum(), emissions)
        return grad * mask.unsqueeze(2)

    @float32
    def forward_backward(self, emissions, mask):
        """``(log_alpha [B, L, T], log_beta [B, L, T], log Z [B])``: ``alpha[t, j]`` sums the paths that reach tag
        ``j`` at ``t`` (its emission included), ``beta[t, i]`` the continuations from tag ``i`` at ``t`` to the end
        (the end transition included, emission ``t`` excluded). Values at padding are meaningless."""
        _, transitions, end = self._scores()
        shift = transitions.max()
        exp_back = (transitions - shift).exp().t().contiguous()
        tiny = torch.finfo(emissions.dtype).tiny
        length = emissions.shape[1]
        alphas = self._alphas(emissions)
        last = mask.sum(1) - 1
        betas = [end.expand_as(emissions[:, 0])] * length
        for step in range(length - 2, -1, -1):
            ahead = betas[step + 1] + emissions[:, step + 1]
            peak = ahead.amax(dim=1, keepdim=True)
            inner = torch.mm((ahead - peak).exp(), exp_back).clamp_min(tiny).log() + (peak + shift)
            betas[step] = torch.where((step < last).unsqueeze(1), inner, end.expand_as(inner))
        log_alpha, log_beta = torch.stack(alphas, 1), torch.stack(betas, 1)
        final = log_alpha.gather(1, last.view(-1, 1, 1).expand(-1, 1, self.num_tags)).squeeze(1)
        return log_alpha, log_beta, torch.logsumexp(final + end, dim=1)

    @torch.no_grad()
    @float32
    def segment_probabilities(self, emissions, mask, paths, segments) -> torch.Tensor:
        """Exact posterior probability of each segment of ``paths`` (``[B, L]``, e.g. Viterbi's): ``segments`` is
        ``[S, 3]`` rows of ``(sequence, first, last)`` positions (inclusive), and the result ``[S]`` is
        p(y_first..y_last = the path's tags there | x). For an IOBES entity (``B-..E-`` or ``S-``) that is the
        probability that exactly this entity is there."""
        if len(segments) == 0:
            return emissions.new_zeros(0)
        start, transitions, _ = self._scores()
        log_alpha, log_beta, log_z = self.forward_backward(emissions, mask)
        tags = paths.clamp(min=0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        edges = torch.cat([emitted[:, :1], transitions[tags[:, :-1], tags[:, 1:]] + emitted[:, 1:]], 1)
        running = edges.cumsum(1)  # running[b, t]: score of the path's edges 1..t (+ the first emission)
        row, first, last = segments.unbind(1)
        alpha = log_alpha[row, first, tags[row, first]]
        beta = log_beta[row, last, tags[row, last]]
        inside = running[row, last] - running[row, first]
        total = alpha.double() + inside.double() + beta.double() - log_z[row].double()  # float64: the same digits
        return total.exp().clamp(max=1.0).to(emissions.dtype)  # whatever else shares the batch

    # ----------------------------------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Best tag path per sequence (batched Viterbi), ``LongTensor [B, L]`` with -1 at padding."""
        return self.viterbi(emissions, mask)[0]

    @torch.no_grad()
    @float32
    def viterbi(self, emissions, mask):
        """``(paths [B, L] with -1 at padding, best scores [B])``.

        The forward pass keeps scores as ``[T, B]`` and reduces with ``amax`` over the leading (from) axis,
        the fastest layout on CPU. The score history is then right-aligned (each sequence's last position moved
        to ``L - 1``) so one backtrace serves every length; back-pointers are recomputed there for the one
        chosen tag per sequence (an ``argmax`` over ``[B, T]``), cheaper than storing an argmax for every tag.
        """
        start, transitions, end = self._scores()
        batch, length, num_tags = emissions.shape
        steps = emissions.permute(1, 2, 0).contiguous().unbind(0)  # L x [T, B]
        from_to = transitions.unsqueeze(2)  # [from, to, 1]
        score = start.unsqueeze(1) + steps[0]
        scores = [score]
        for step in steps[1:]:
            score = (score.unsqueeze(1) + from_to).amax(0).add_(step)
            scores.append(score)
        offset = length - mask.sum(1)  # right-shift that puts each sequence's end at L - 1
        positions = torch.arange(length, device=emissions.device).unsqueeze(1)  # [L, 1]
        source = (positions - offset).clamp(min=0)  # [L, B]: right-aligned step -> left-aligned step
        history = torch.stack(scores, 0).transpose(1, 2)  # [L, B, T]
        history = history.gather(0, source.unsqueeze(2).expand(length, batch, num_tags))
        best, current = (history[-1] + end).max(dim=1)
        into = transitions.t().contiguous()  # [to, from]
        path = [current]
        for scores_at in reversed(history.unbind(0)[:-1]):
            current = into.index_select(0, current).add_(scores_at).argmax(1)
            path.append(current)
        path.reverse()
        right_aligned = torch.stack(path, dim=1)  # [B, L]
        back = (positions.t() + offset.unsqueeze(1)).clamp(max=length - 1)  # left step -> right-aligned step
        return right_aligned.gather(1, back).masked_fill(~mask, -1), best
