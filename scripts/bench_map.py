#!/usr/bin/env python
"""Benchmark the unsupervised mapping (default: en -> es) and print a Markdown table.

Runs `learn_mapping` twice on the same vectors: the default configuration (adversarial init, with the
identical-strings fallback when the adversarial criterion is no better than chance) and ``init=identical``;
reports P@1/5/10 (NN and CSLS, on the MUSE test dictionary) of each stage and its wall time.

    python scripts/bench_map.py --src en --tgt es [--threads 2] [--out-root runs/bench_map] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.contrib.logging import logging_redirect_tqdm

from zsner.mapping.config import MappingConfig
from zsner.mapping.pipeline import learn_mapping
from zsner.resources import dictionary_path, embedding_path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="es")
    parser.add_argument("--data-dir")
    parser.add_argument("--threads", type=int, help="torch threads (default: the config's, 1; 0: torch's choice)")
    parser.add_argument("--out-root", default="runs/bench_map")
    parser.add_argument("--runs", default="default,identical", help="comma-separated: default, identical")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="MappingConfig override for every run (JSON value), e.g. --set epoch_size=32000")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    overrides = {key: _value(value) for key, value in (item.split("=", 1) for item in args.set)}
    src, tgt = embedding_path(args.src, args.data_dir), embedding_path(args.tgt, args.data_dir)
    dico = dictionary_path(args.src, args.tgt, data_dir=args.data_dir)
    load_before = os.getloadavg()
    results = {}
    for name in args.runs.split(","):
        config = MappingConfig(**overrides).replace(threads=args.threads,
                                                    init="identical" if name == "identical" else None)
        start = time.perf_counter()
        with logging_redirect_tqdm():
            result = learn_mapping(src, tgt, config, dico, Path(args.out_root) / f"{args.src}-{args.tgt}-{name}",
                                   progress=not args.quiet)
        results[name] = (result.metrics, time.perf_counter() - start, config)
    print(report(args, results, load_before, os.getloadavg()))


def report(args, results, load_before, load_after) -> str:
    threads = next(iter(results.values()))[2].threads or torch.get_num_threads()
    lines = [f"bench_map: {args.src} -> {args.tgt}, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs, torch {torch.__version__}, {threads} torch threads, "
             f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1-min)", "",
             "| run | stage | criterion | NN P@1 | CSLS P@1 | CSLS P@5 | CSLS P@10 | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, (metrics, wall, config) in results.items():
        timing = metrics["timing"]
        if "adversarial" in metrics:
            adv = metrics["adversarial"]
            stage = (f"adversarial ({config.restarts} x {config.n_epochs} x {config.epoch_size:,} samples; "
                     f"chance {adv['chance_criterion']}{', FAILED' if adv['failed'] else ''})")
            lines.append(_row(name, stage, adv, round(timing["adversarial"] + timing.get("chance", 0), 1)))
        if "identical" in metrics and "nn" in metrics["identical"]:
            seed = metrics["identical"]
            step0 = metrics["refinement"]["identical"]["steps"][0]
            lines.append(_row(name, f"identical strings seed ({seed['pairs']} pairs)", {**step0, **seed},
                              timing.get("identical", 0)))
        for init, refinement in metrics.get("refinement", {}).items():
            best = refinement["steps"][refinement["best_step"]]
            lines.append(_row(name, f"refined from {init} (best of {len(refinement['steps']) - 1} steps: "
                                    f"step {refinement['best_step']})", best, timing[f"refinement_{init}"]))
        final = metrics["final"]
        lines.append(_row(name, f"**final** ({final['init']}); total incl. eval {timing['evaluation']} s, "
                                f"export {timing.get('export', 0)} s", final, round(wall, 1)))
    return "\n".join(lines)


def _row(run, stage, entry, seconds) -> str:
    nn, csls = entry.get("nn", {}), entry.get("csls", {})
    return (f"| {run} | {stage} | {entry.get('criterion', '')} | {nn.get('P@1', '')} | {csls.get('P@1', '')} | "
            f"{csls.get('P@5', '')} | {csls.get('P@10', '')} | {seconds} |")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


if __name__ == "__main__":
    main()
