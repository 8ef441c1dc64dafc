"""Which unsupervised signal sees refinement drift? (issue 30, item 6; a study, not part of zsner)

Refines the identical-strings seed with MUSE's rule (S2T CSLS dictionaries among the 15k most frequent words, the
seed dropped after the first step, no guard) and records after every step the candidate signals, none of which
uses a dictionary or parallel data, beside the CSLS P@1 on an evaluation dictionary kept aside (measurement only):

* ``criterion``: MUSE's mean cosine of the S2T CSLS translations of the 10k most frequent words;
* ``mnn_rate`` / ``mnn_csls``: share of the 15k most frequent mapped words whose CSLS translation translates back to
  them, and the mean CSLS of those mutual pairs;
* ``agree``: share of the 15k words whose S2T translation is the same as at the previous step;
* ``seed_s2t`` / ``seed_mnn``: share of the seed pairs (among the 15k) still S2T / mutual translations;
* ``held_*``: a second chain whose dictionaries leave out a held-out 20% of the frequent source words (by a hash of
  the word); the same signals measured on those words only (``held_crit`` = mean cosine of their translations);
* ``watch``: the existing guard's held-out identical strings P@1 along the validation-split chain (80% fitted).

    python scripts/drift_signals.py --pairs en-es,en-nl,en-de,en-fi,en-ar --dicts runs/eval-dicts \
        --out runs/bench/drift-signals.json
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from zsner.atomic import write_json
from zsner.embeddings import load_vectors
from zsner.mapping.config import MappingConfig
from zsner.mapping.procrustes import procrustes
from zsner.mapping.retrieval import load_dictionary, translate, unit_rows
from zsner.mapping.seed import identical_pairs, split_seed
from zsner.mapping.space import training_space
from zsner.resources import embedding_path


def hashed(words, fraction):
    return np.array([int.from_bytes(hashlib.sha1(w.encode("utf-8")).digest()[:4], "big") / 2 ** 32 < fraction
                     for w in words])


def analyse(mapped, target, rank, k=10, block=2048):
    """S2T CSLS translations (index, cosine, CSLS) of the ``rank`` first mapped rows and T2S translations."""
    src, tgt = unit_rows(mapped[:rank]), unit_rows(target[:rank])
    r_src = torch.empty(len(src))
    col_top = torch.full((k, len(tgt)), -2.0)
    for start in range(0, len(src), block):
        sims = src[start:start + block] @ tgt.T
        r_src[start:start + block] = sims.topk(k, 1).values.mean(1)
        col_top = torch.cat([col_top, sims]).topk(k, 0).values
    r_tgt = col_top.mean(0)
    s2t, s2t_cos, s2t_csls = (torch.empty(len(src), dtype=torch.long), torch.empty(len(src)), torch.empty(len(src)))
    t2s_best, t2s_arg = torch.full((len(tgt),), -1e9), torch.zeros(len(tgt), dtype=torch.long)
    for start in range(0, len(src), block):
        sims = src[start:start + block] @ tgt.T
        csls = 2 * sims - r_src[start:start + block, None] - r_tgt[None, :]
        value, arg = csls.max(1)
        s2t[start:start + block], s2t_csls[start:start + block] = arg, value
        s2t_cos[start:start + block] = sims.gather(1, arg[:, None])[:, 0]
        value, arg = csls.max(0)
        better = value > t2s_best
        t2s_best[better], t2s_arg[better] = value[better], arg[better] + start
    return s2t, s2t_cos, s2t_csls, t2s_arg


def signals(a, prev, seed, held, n_queries):
    s2t, cos, csls, t2s = a
    mutual = t2s[s2t] == torch.arange(len(s2t))
    out = {"criterion": float(cos[:n_queries].mean()), "mnn_rate": float(mutual.float().mean()),
           "mnn_csls": float(csls[mutual].mean()),
           "agree": None if prev is None else float((prev == s2t).float().mean())}
    inside = seed[(seed < len(s2t)).all(1)]
    rows, cols = torch.as_tensor(inside[:, 0]), torch.as_tensor(inside[:, 1])
    out["seed_s2t"] = float((s2t[rows] == cols).float().mean())
    out["seed_mnn"] = float(((s2t[rows] == cols) & (t2s[cols] == rows)).float().mean())
    if held is not None:
        h = torch.as_tensor(held[:len(s2t)])
        out["held_crit"] = float(cos[h].mean())
        out["held_mnn_rate"] = float(mutual[h].float().mean())
        out["held_mnn_csls"] = float(csls[h & mutual].mean())
    return {key: (round(value, 5) if value is not None else None) for key, value in out.items()}


def evaluate(x, y, w, pairs, identical_mask, k=10):
    """CSLS P@1 over the whole vocabularies (MUSE conventions) on all pairs and on the non-identical ones."""
    mapped, tgt = unit_rows(x @ w.T), unit_rows(y)
    sources = np.unique(pairs[:, 0])
    top = translate(mapped[torch.as_tensor(sources)], tgt, "csls", k, 1, 2048, neighbours=mapped)[:, 0].numpy()
    guess = dict(zip(sources.tolist(), top.tolist()))
    hit = np.array([guess[s] == t for s, t in pairs])

    def p1(mask):
        srcs = np.unique(pairs[mask, 0])
        good = set(pairs[mask & hit, 0].tolist())
        return round(100.0 * sum(s in good for s in srcs) / len(srcs), 2)
    return {"P@1": p1(np.ones(len(pairs), bool)), "P@1_nonidentical": p1(~identical_mask)}


def chain(x, y, w, config, steps, seed, held, exclude=None, watch=None, eval_fn=None, tag="", anchors=None):
    """MUSE's refinement from ``w``; ``anchors`` "all" (the seed joins every dictionary) or "mutual" (the seed
    pairs that are mutual CSLS translations under the current mapping join it)."""
    rank = config.dico_max_rank
    history, prev = [], None
    for step in range(steps + 1):
        started = time.perf_counter()
        a = analyse(x @ w.T, y, rank, config.csls_k)
        entry = {"step": step, **signals(a, prev, seed, held, config.criterion_queries)}
        if watch is not None:
            inside = watch[(watch < rank).all(1)]
            hits = a[0][torch.as_tensor(inside[:, 0])].numpy() == inside[:, 1]
            entry["watch"] = round(100.0 * float(hits.mean()), 2)
        if eval_fn is not None:
            entry.update(eval_fn(w))
        entry["seconds"] = round(time.perf_counter() - started, 1)
        history.append(entry)
        print(tag, entry, flush=True)
        prev = a[0]
        if step == steps:
            break
        keep = torch.ones(len(a[0]), dtype=torch.bool) if exclude is None else ~torch.as_tensor(exclude[:rank])
        rows = torch.arange(len(a[0]))[keep]
        dico = np.stack([rows.numpy(), a[0][rows].numpy()], 1)
        if anchors == "all":
            dico = np.unique(np.concatenate([dico, seed]), axis=0)
        elif anchors == "mutual":
            inside = seed[(seed < rank).all(1)]
            mutual = (a[0][torch.as_tensor(inside[:, 0])] == torch.as_tensor(inside[:, 1])) & (
                a[3][torch.as_tensor(inside[:, 1])] == torch.as_tensor(inside[:, 0]))
            dico = np.unique(np.concatenate([dico, inside[mutual.numpy()]]), axis=0)
            entry["anchors"] = int(mutual.sum())
        w = procrustes(x[dico[:, 0]], y[dico[:, 1]])
    return history


def study(pair, args):
    src_lang, tgt_lang = pair.split("-")
    config = MappingConfig(init="identical")
    spaces = [training_space(load_vectors(embedding_path(lang)), config.max_vocab, True, []) for lang in
              (src_lang, tgt_lang)]
    x, y = spaces[0].matrix, spaces[1].matrix
    if args.max_vocab:
        x, y = x[:args.max_vocab], y[:args.max_vocab]
    words = [spaces[0].words[:len(x)], spaces[1].words[:len(y)]]
    seed = identical_pairs(*words)
    fit, watch = split_seed(seed, words[0], config.watch_fraction)
    pairs, stats = load_dictionary(Path(args.dicts) / f"{pair}.txt", {w: i for i, w in enumerate(words[0])},
                                   {w: i for i, w in enumerate(words[1])})
    identical = np.array([words[0][s] == words[1][t] for s, t in pairs])
    held = hashed(words[0], args.held_fraction)
    held[config.dico_max_rank:] = False
    eval_fn = lambda w: evaluate(x, y, w, pairs, identical, config.csls_k)  # noqa: E731
    w0 = procrustes(x[seed[:, 0]], y[seed[:, 1]])
    out = {"pair": pair, "seed_pairs": len(seed), "dictionary": stats, "identical_eval_pairs": int(identical.sum()),
           "vocab": [len(x), len(y)]}
    chains = args.chains.split(",")
    if "anchored" in chains:
        out["anchored"] = chain(x, y, w0, config, args.steps, seed, None, eval_fn=eval_fn, tag=f"{pair} anchored",
                                anchors="all")
    if "anchored-mutual" in chains:
        out["anchored_mutual"] = chain(x, y, w0, config, args.steps, seed, None, eval_fn=eval_fn,
                                       tag=f"{pair} anchored-mutual", anchors="mutual")
    if "muse" in chains:
        out["muse"] = chain(x, y, w0, config, args.steps, seed, None, eval_fn=eval_fn, tag=f"{pair} muse")
    if "held-out" in chains:
        kept = seed[~held[seed[:, 0]]]  # the held-out words are fitted nowhere, not even in the seed
        out["held_out"] = chain(x, y, procrustes(x[kept[:, 0]], y[kept[:, 1]]), config, args.steps, seed, held,
                                exclude=held, eval_fn=eval_fn, tag=f"{pair} held-out")
    if "validation" in chains:
        out["validation"] = chain(x, y, procrustes(x[fit[:, 0]], y[fit[:, 1]]), config, args.steps, fit, None,
                                  watch=watch, tag=f"{pair} validation")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="en-es,en-nl,en-de,en-fi,en-ar")
    parser.add_argument("--dicts", default="runs/eval-dicts", help="folder of en-XX.txt evaluation dictionaries")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--chains", default="muse,held-out,validation",
                        help="muse, held-out, validation, anchored, anchored-mutual")
    parser.add_argument("--held-fraction", type=float, default=0.2)
    parser.add_argument("--max-vocab", type=int, default=0, help="truncate both vocabularies (0: all)")
    parser.add_argument("--out", default="runs/bench/drift-signals.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = (f"drift_signals, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} CPUs, "
              f"1 torch thread, load {os.getloadavg()[0]:.2f}")
    print(header, flush=True)
    results = {"header": header, "pairs": []}
    for pair in args.pairs.split(","):
        results["pairs"].append(study(pair, args))
        write_json(Path(args.out), results)
    results["load_after"] = round(os.getloadavg()[0], 2)
    write_json(Path(args.out), results)


if __name__ == "__main__":
    main()
