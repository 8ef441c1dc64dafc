"""Benchmark: a grid on local Ray against the same runs one after the other (issue 14's target: the 12-run grid
in <= 55% of its sequential time on 2 cores, with identical F1 per run).

    python scripts/bench_grid.py [--spec configs/grids/en-es-nl-de-shared-augmented.json] [--out runs/bench-grid]
                                 [--arms sequential,grid] [--cache-dir DIR] [--tiny]

sequential: each classic folder's own `zsner transfer --seeds N` command (what run.sh does without Ray; each
transformer run's command), one after the other, each in a fresh process with OMP_NUM_THREADS=1.
grid: `zsner grid SPEC` on local Ray (all cores). Each arm learns its mappings into a cache of its own (OUT/ARM/
cache), unless --cache-dir names a prepared one for both. --tiny: synthetic en/es data and tiny flags (a check of
this script, seconds). Prints both wall times, their ratio and whether every run's F1 (each selection criterion)
is identical; writes OUT/bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zsner.atomic import write_json  # noqa: E402
from zsner.grid.plan import expand  # noqa: E402
from zsner.grid.spec import GridSpec, check, read_spec  # noqa: E402

TINY_FLAGS = ("--epochs 2 --eval-every 15 --batch-size 8 --word-dim 20 --char-dim 8 --char-hidden 8 "
              "--word-hidden 16 --dense-dim 16 --rounds 2 --round-steps 10 --figures false")


def tiny_spec(out: Path) -> GridSpec:
    """en->es on synthetic data with a ready tiny mapping: shared/augmented x 2 seeds."""
    from tests.synthetic import write_language
    from zsner.mapping.config import MappingConfig
    from zsner.mapping.pipeline import learn_mapping

    data = out / "data"
    write_language(data, "en", sizes=(200, 40, 40), seed=0)
    write_language(data, "es", sizes=(150, 40, 40), seed=1, encoding="latin-1")
    if not (data / "mapping" / "src.mapped.vec").is_file():
        learn_mapping(data / "embeddings" / "en.vec", data / "embeddings" / "es.vec",
                      MappingConfig(init="identical", n_refinement=1, dico_max_rank=100, criterion_queries=30,
                                    csls_k=3), out_dir=data / "mapping", progress=False)
    return GridSpec(name="tiny", pairs="en-es", modes="shared,augmented", seeds=2,
                    flags=f"--data-dir {data} --mapping-dir {data / 'mapping'} {TINY_FLAGS}")


def arm_spec(spec: GridSpec, out: Path, arm: str, cache_dir: str) -> GridSpec:
    flags = f"{spec.flags} --cache-dir {cache_dir or out / arm / 'cache'}" if spec.backend == "classic" else spec.flags
    return GridSpec(**{**spec.__dict__, "out": str(out / arm), "flags": flags})


def sequential(spec: GridSpec) -> float:
    """Every classic folder's command (all its seeds) and every transformer run, one after the other."""
    plan = expand(spec)
    commands = [step.command for step, _ in plan.steps
                if step.kind == "gather" or (step.kind == "run" and step.command[0] == "transformer")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    clock = time.perf_counter()
    for command in commands:
        print("[sequential] zsner " + " ".join(command), file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "zsner.cli", *command], env=env, check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - clock


def grid(spec: GridSpec, spec_file: Path) -> float:
    write_json(spec_file, {k: v for k, v in spec.__dict__.items()})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    clock = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zsner.cli", "grid", str(spec_file)], env=env, check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - clock


def run_f1(spec: GridSpec) -> dict:
    """Run name -> {folder part: target-test F1 per criterion} of every metrics.json the grid's runs wrote."""
    found = {}
    for step, _ in expand(spec).steps:
        if step.kind != "run":
            continue
        folder = REPO / step.folder
        found[step.name] = {}
        for path in sorted(folder.rglob("metrics.json")):
            criteria = json.loads(path.read_text())["criteria"]
            part = str(path.parent.relative_to(folder))
            found[step.name][part] = {c: v.get("tgt_test_f1") for c, v in criteria.items()}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="configs/grids/en-es-nl-de-shared-augmented.json")
    parser.add_argument("--out", default="runs/bench-grid")
    parser.add_argument("--arms", default="sequential,grid")
    parser.add_argument("--cache-dir", default="", help="a mapping cache both arms share (default: one per arm)")
    parser.add_argument("--tiny", action="store_true", help="synthetic data, tiny flags: a check of this script")
    args = parser.parse_args()
    out = Path(args.out)
    spec = tiny_spec(out) if args.tiny else check(read_spec(args.spec))
    seconds, f1 = {}, {}
    for arm in args.arms.split(","):
        arm_grid = arm_spec(spec, out, arm, args.cache_dir)
        seconds[arm] = round(sequential(arm_grid) if arm == "sequential" else grid(arm_grid, out / "grid.json"), 1)
        f1[arm] = run_f1(arm_grid)
        print(f"{arm}: {seconds[arm]} s", flush=True)
    record = {"spec": spec.__dict__, "cpus": len(os.sched_getaffinity(0)), "seconds": seconds, "f1": f1}
    if len(seconds) == 2:
        record["grid_over_sequential"] = round(seconds["grid"] / seconds["sequential"], 3)
        record["identical_f1"] = f1["grid"] == f1["sequential"]
        print(f"grid / sequential = {record['grid_over_sequential']:.3f}; identical F1 per run: "
              f"{record['identical_f1']}")
    write_json(out / "bench.json", record)


if __name__ == "__main__":
    main()
