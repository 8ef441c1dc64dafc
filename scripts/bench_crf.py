"""Benchmark: zsner's CRF against pytorch-crf on identical parameters and inputs (CPU by default).

Checks equal Viterbi paths and log-likelihoods, then prints the time of each and the speed-up ratio.
    python scripts/bench_crf.py [--threads 1] [--device cpu] [--repeats 20]
"""
from __future__ import annotations

import argparse
import time

import torch
from torchcrf import CRF as TorchCRF

from zsner.crf import CRF

CASES = [(64, 30, 17), (64, 120, 17)]  # (batch, max length, tags): CoNLL-sized and a long-sentence case


def timed(function, repeats: int, device: str) -> float:
    function()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def run_case(batch, length, tags, repeats, device):
    generator = torch.Generator().manual_seed(0)
    ours, theirs = CRF(tags).to(device), TorchCRF(tags, batch_first=True).to(device)
    for name in ("transitions", "start_transitions", "end_transitions"):
        getattr(theirs, name).data.copy_(getattr(ours, name).data)
    emissions = torch.randn(batch, length, tags, generator=generator).to(device)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = (torch.arange(length)[None] < lengths[:, None]).to(device)
    gold = torch.randint(0, tags, (batch, length), generator=generator).to(device)

    ours_paths = ours.decode(emissions, mask)
    their_paths = theirs.decode(emissions, mask)
    same_paths = all(ours_paths[b, : lengths[b]].tolist() == their_paths[b] for b in range(batch))
    ll_gap = (ours.log_likelihood(emissions, gold, mask) - theirs(emissions, gold, mask, reduction="none")).abs().max().detach()

    def ours_ll():
        ours.log_likelihood(emissions.requires_grad_(), gold, mask).sum().backward()

    def theirs_ll():
        theirs(emissions.requires_grad_(), gold, mask, reduction="sum").backward()

    rows = []
    for what, mine, other in (("decode", lambda: ours.decode(emissions, mask), lambda: theirs.decode(emissions, mask)),
                              ("log-likelihood fwd+bwd", ours_ll, theirs_ll)):
        t_ours, t_theirs = timed(mine, repeats, device), timed(other, repeats, device)
        rows.append((what, t_ours, t_theirs))
    return same_paths, float(ll_gap), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print("| B | L | T | operation | zsner ms | pytorch-crf ms | speed-up | equal paths | max |dLL| |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for batch, length, tags in CASES:
        same, gap, rows = run_case(batch, length, tags, args.repeats, args.device)
        ok &= same and gap < 1e-3
        for what, mine, theirs in rows:
            print(f"| {batch} | {length} | {tags} | {what} | {mine * 1e3:.2f} | {theirs * 1e3:.2f} | "
                  f"{theirs / mine:.1f}x | {same} | {gap:.2e} |")
    if not ok:
        raise SystemExit("MISMATCH between zsner and pytorch-crf")


if __name__ == "__main__":
    main()
