"""Benchmark: does refinement from identical strings end at or above its seed? (issue 30, item 6)

For each pair, ``learn_mapping`` with ``--init identical`` and the default refinement (no dictionary given to it),
then the CSLS P@1 of the seed mapping (Procrustes on the identical strings) and of the final mapping on evaluation
dictionaries kept out of the method: MUSE's ``en-es.5000-6500.txt`` for en-es, and for every pair the dictionary
that ``scripts/eval_dictionaries.py`` aligned from the parallel corpora (``--dicts``). P@1 is given on all pairs
and on the pairs whose two words differ (identical strings are the seed itself). MUSE conventions: one query per
source word, retrieval over the whole target vocabulary, CSLS neighbourhoods over both whole vocabularies.

    python scripts/eval_dictionaries.py --out runs/eval-dicts
    python scripts/mapping_drift.py --pairs en-es,en-de,en-nl,en-fi,en-ar --dicts runs/eval-dicts \
        --label after --out runs/bench/mapping-drift-after.json
    python scripts/mapping_drift.py --pairs en-nl --set init='"adversarial"' --label default  # both chains
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from zsner.atomic import write_json
from zsner.errors import ZsnerError
from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import learn_mapping
from zsner.mapping.procrustes import procrustes
from zsner.mapping.retrieval import load_dictionary, translate, unit_rows
from zsner.mapping.seed import identical_pairs
from zsner.mapping.space import training_space
from zsner.embeddings import load_vectors
from zsner.resources import dictionary_path, embedding_path


def evaluate(x, y, w, pairs, identical, k=10, block=2048) -> dict:
    """CSLS P@1 (percent) of ``x @ w.T`` against ``y`` on all ``pairs`` and on the non-``identical`` ones."""
    mapped, tgt = unit_rows(x @ w.T), unit_rows(y)
    sources = np.unique(pairs[:, 0])
    top = translate(mapped[torch.as_tensor(sources)], tgt, "csls", k, 1, block, neighbours=mapped)[:, 0].numpy()
    guess = dict(zip(sources.tolist(), top.tolist()))
    hit = np.array([guess[s] == t for s, t in pairs])

    def p1(mask):
        queries = np.unique(pairs[mask, 0])
        right = set(pairs[mask & hit, 0].tolist())
        return round(100.0 * sum(q in right for q in queries) / max(len(queries), 1), 2)
    return {"P@1": p1(np.ones(len(pairs), bool)), "P@1_nonidentical": p1(~identical)}


def dictionaries(pair: str, args) -> dict[str, Path]:
    found = {}
    src, tgt = pair.split("-")
    try:
        found["MUSE"] = dictionary_path(src, tgt, data_dir=args.data_dir)
    except ZsnerError:
        pass
    aligned = Path(args.dicts) / f"{pair}.txt"
    if aligned.is_file():
        found["aligned"] = aligned
    return found


def bench(pair: str, args, changes: dict) -> dict:
    src_lang, tgt_lang = pair.split("-")
    config = MappingConfig(**{"init": "identical", "export": False, **changes})
    vectors = [load_vectors(embedding_path(lang, args.data_dir)) for lang in (src_lang, tgt_lang)]
    started = time.perf_counter()
    result = learn_mapping(vectors[0], vectors[1], config, progress=False)
    seconds = round(time.perf_counter() - started, 1)
    spaces = [training_space(v, config.max_vocab, config.lowercase, config.norm_steps) for v in vectors]
    x, y = spaces[0].matrix, spaces[1].matrix
    seed = identical_pairs(spaces[0].words, spaces[1].words)
    w_seed, w_final = procrustes(x[seed[:, 0]], y[seed[:, 1]]), torch.from_numpy(result.w)
    chain = result.metrics["refinement"]["identical"]
    row = {"pair": pair, "seconds": seconds, "final_init": result.metrics["final"]["init"],
           "final_step": result.metrics["final"]["refinement_step"], "chains": result.metrics["refinement"],
           "adversarial": result.metrics.get("adversarial"),
           "allowed_steps": chain.get("validation", {}).get("allowed_steps"),
           "stopped_by_drift": chain.get("validation", {}).get("stopped_by_drift"),
           "validation": chain.get("validation", {}).get("steps"), "steps": chain["steps"], "dictionaries": {}}
    for name, path in dictionaries(pair, args).items():
        pairs, stats = load_dictionary(path, spaces[0].index, spaces[1].index, config.lowercase)
        identical = np.array([spaces[0].words[s] == spaces[1].words[t] for s, t in pairs])
        row["dictionaries"][name] = {"file": str(path), **stats, "identical_pairs": int(identical.sum()),
                                     "seed": evaluate(x, y, w_seed, pairs, identical, config.csls_k),
                                     "final": evaluate(x, y, w_final, pairs, identical, config.csls_k)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="en-es,en-de,en-nl,en-fi,en-ar")
    parser.add_argument("--dicts", default="runs/eval-dicts", help="folder of the aligned en-XX.txt dictionaries")
    parser.add_argument("--label", default="", help="name of this run in the table (e.g. before / after)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                        help="a MappingConfig field, e.g. --set n_refinement=10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/bench/mapping-drift.json")
    args = parser.parse_args()
    changes = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(1)
    header = (f"mapping_drift {args.label}: {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
              f"{os.cpu_count()} CPUs, torch {torch.__version__}, 1 torch thread, load average before "
              f"{os.getloadavg()[0]:.2f} (1-min), config changes {changes or 'none'}")
    print(header)
    print("| pair | dictionary (pairs, identical) | final chain: steps run (identical chain allowed) | seed P@1 | "
          "final P@1 | seed → final, non-identical pairs | wall s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for pair in args.pairs.split(","):
        row = bench(pair, args, changes)
        rows.append(row)
        for name, d in row["dictionaries"].items():
            print(f"| {pair} | {name} ({d['pairs_in_vocab']}, {d['identical_pairs']}) | {row['final_init']}: "
                  f"{row['final_step']} "
                  f"({row['allowed_steps']}) | {d['seed']['P@1']} | {d['final']['P@1']} | "
                  f"{d['seed']['P@1_nonidentical']} → {d['final']['P@1_nonidentical']} | {row['seconds']} |",
                  flush=True)
        write_json(Path(args.out), {"header": header, "label": args.label, "rows": rows})
    footer = f"load average after {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}"
    print(footer)
    write_json(Path(args.out), {"header": header, "footer": footer, "label": args.label, "rows": rows})


if __name__ == "__main__":
    main()
