"""Benchmark: does Procrustes/CSLS refinement from the identical-strings seed drift? (issue 9, item 3)

For each pair, refinement from identical strings under three rules: MUSE's (S2T dictionaries, seed dropped after
the first step, best criterion), zsner's default drift guard, and the guard with the seed anchored in every step.
Prints per rule the held-out identical strings' P@1 along the validation-split chain, the steps it allowed, the
final criterion and, where a MUSE test dictionary exists (en-es), the CSLS P@1 of the final mapping.

    python scripts/bench_refinement.py --pairs en-es,en-nl,en-de,en-fi --out runs/bench/refinement.json
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from zsner.atomic import write_json
from zsner.errors import ZsnerError
from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import learn_mapping
from zsner.resources import dictionary_path, embedding_path

RULES = {"MUSE (no guard)": dict(drift_tolerance=1e9, mutual_tolerance=1.0),
         "guard (default)": {},
         "guard + anchored seed": dict(anchor_seed=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="en-es,en-nl,en-de,en-fi")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rules", default=",".join(RULES), help="comma-separated subset of the rules")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/bench/refinement.json")
    args = parser.parse_args()
    rows = []
    print(f"bench_refinement, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"1 torch thread, load {os.getloadavg()[0]:.2f}")
    print("| pair | rule | held-out P@1 per validation step | steps allowed | final step | criterion | CSLS P@1 |")
    print("|---|---|---|---|---|---|---|")
    for pair in args.pairs.split(","):
        src, tgt = pair.split("-")
        try:
            eval_dict = dictionary_path(src, tgt, data_dir=args.data_dir)
        except ZsnerError:  # no test dictionary for this pair: the watch is the only quality signal
            eval_dict = None
        for rule, changes in RULES.items():
            if rule not in args.rules.split(","):
                continue
            config = MappingConfig(init="identical", n_refinement=args.steps, export=False, **changes)
            started = time.perf_counter()
            result = learn_mapping(embedding_path(src, args.data_dir), embedding_path(tgt, args.data_dir), config,
                                   eval_dict=eval_dict, progress=False)
            chain = result.metrics["refinement"]["identical"]
            validation = chain.get("validation", {})
            watch = [step.get("watch_P@1") for step in validation.get("steps", [])]
            final = result.metrics["final"]
            row = {"pair": pair, "rule": rule, "watch": watch, "allowed": validation.get("allowed_steps"),
                   "final_step": final["refinement_step"], "criterion": final["criterion"],
                   "csls_P@1": final.get("csls", {}).get("P@1"), "seconds": round(time.perf_counter() - started, 1)}
            rows.append(row)
            print(f"| {pair} | {rule} | {' / '.join(map(str, watch))} | {row['allowed']} | {row['final_step']} | "
                  f"{row['criterion']} | {row['csls_P@1'] if row['csls_P@1'] is not None else '–'} |", flush=True)
    write_json(Path(args.out), {"rows": rows})


if __name__ == "__main__":
    main()
