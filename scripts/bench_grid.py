"""Benchmark: a grid on local Ray against the same runs one after the other, and against what this machine's cores
can give (issue 14's target: the 12-run grid in <= 55% of its sequential time on 2 cores, with identical F1 per
run; issue 29: efficiency >= 0.9 of the machine's best and task time <= 1.05 x the stage time).

    python scripts/bench_grid.py [--spec configs/grids/en-es-nl-de-shared-augmented.json] [--out runs/bench-grid]
                                 [--arms scaling,sequential,grid] [--scaling-batches 800] [--cache-dir DIR] [--tiny]

scaling (run first): how well two jobs share this machine. scripts/bench_train.py (one thread, --scaling-batches
training batches of the tagger on English CoNLL, ~25 s idle) alone, then two copies side by side, each with
OMP_NUM_THREADS=1; two_job_speed = mean side-by-side training rate / lone rate (1.0: the cores scale perfectly).
Their outputs: OUT/scaling/*.out.
sequential: each classic folder's own `zsner transfer --seeds N` command (what run.sh does without Ray; each
transformer run's command), one after the other, each in a fresh process with OMP_NUM_THREADS=1.
grid: `zsner grid SPEC` on local Ray (all cores). Each arm learns its mappings into a cache of its own (OUT/ARM/
cache), unless --cache-dir names a prepared one for both. --tiny: synthetic en/es data, tiny flags and 20 scaling
batches (a check of this script, ~40 s on 2 idle cores).

Prints the scaling rates, both wall times, grid / sequential beside the best ratio this machine allows
(1 / (jobs x two_job_speed), jobs = min(2, CPUs); efficiency = best / measured), whether every run's F1 (each
selection criterion) is identical, and task time / stage time: the sum of the grid steps' seconds (its
results.json) over the sum of the sequential classic folders' stage times (their results.json timings_seconds).
Writes OUT/bench.json; a value that cannot be computed (an arm not run, a field missing) is null.
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
from zsner.errors import ZsnerError  # noqa: E402
from zsner.grid.plan import expand  # noqa: E402
from zsner.grid.spec import GridSpec, check, read_spec  # noqa: E402

TINY_FLAGS = ("--epochs 2 --eval-every 15 --batch-size 8 --word-dim 20 --char-dim 8 --char-hidden 8 "
              "--word-hidden 16 --dense-dim 16 --rounds 2 --round-steps 10 --figures false")
ARMS = ("scaling", "sequential", "grid")
SCALING_BATCHES = 800  # ~19 s of training at bench_train's idle ~690 sent/s, plus ~7 s of loading and decoding
TINY_SCALING_BATCHES = 20
NESTED_STAGES = ("mapping_wait_after_first_seed",)  # timed inside a seed's stage: not added a second time


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


def train_rate(text: str) -> float | None:
    """The one-thread zsner row's training sentences/s (wall) in bench_train.py's Markdown table; None if absent."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.strip().startswith("|")]
    header = next((row for row in rows if any("train sent/s" in cell for cell in row)), None)
    if header is None or "threads" not in header:
        return None
    rate_at = next(at for at, cell in enumerate(header) if "train sent/s" in cell)
    threads_at = header.index("threads")
    for row in rows:
        if len(row) == len(header) and row[0].startswith("zsner") and row[threads_at] == "1":
            try:
                return float(row[rate_at].replace(",", ""))
            except ValueError:
                return None
    return None


def bench_train_jobs(names: list[str], batches: int, folder: Path) -> list[float]:
    """Training rates of bench_train.py jobs started together, one per name (its output: FOLDER/NAME.out)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(REPO / "scripts" / "bench_train.py"), "--threads", "1", "--batches", str(batches)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    jobs = []
    for name in names:
        with open(folder / f"{name}.out", "w") as out, open(folder / f"{name}.err", "w") as err:
            jobs.append((name, subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=REPO)))
    codes = [job.wait() for _, job in jobs]  # all of them end before any failure is reported
    rates = []
    for (name, _), code in zip(jobs, codes):
        if code != 0:
            lines = (folder / f"{name}.err").read_text().strip().splitlines() or ["no error output"]
            raise ZsnerError(f"bench_train.py failed (exit {code}): {lines[-1]}", folder / f"{name}.err")
        rate = train_rate((folder / f"{name}.out").read_text())
        if rate is None:
            raise ZsnerError("bench_train.py's output has no training rate (a '| zsner | 1 | ... |' row under a "
                             "'train sent/s' header)", folder / f"{name}.out")
        rates.append(rate)
    return rates


def scaling(batches: int, folder: Path) -> dict:
    """One bench_train job alone, then two side by side; their rates and two_job_speed."""
    print(f"[scaling] bench_train.py --threads 1 --batches {batches}: alone, then two side by side",
          file=sys.stderr, flush=True)
    clock = time.perf_counter()
    lone, = bench_train_jobs(["lone"], batches, folder)
    pair = bench_train_jobs(["side-by-side-1", "side-by-side-2"], batches, folder)
    return {"batches": batches, "seconds": round(time.perf_counter() - clock, 1), "lone_rate": lone,
            "side_by_side_rates": pair, "two_job_speed": round(sum(pair) / len(pair) / lone, 3)}


def best_grid_ratio(cpus: int, two_job_speed: float | None) -> float | None:
    """The least grid / sequential time a grid of 2-at-once tasks can reach: 1 / (jobs x two_job_speed); on one
    CPU the grid runs one task at a time (ratio 1)."""
    jobs = min(2, cpus)
    if jobs == 1:
        return 1.0
    return None if not two_job_speed else round(1 / (jobs * two_job_speed), 3)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else round(numerator / denominator, 3)


def read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def task_seconds(results: dict | None) -> float | None:
    """The sum of a grid results.json's step seconds; None if a step (or the file) lacks them."""
    steps = (results or {}).get("steps")
    if not isinstance(steps, list) or not steps:
        return None
    seconds = [step.get("seconds") if isinstance(step, dict) else None for step in steps]
    if not all(isinstance(value, (int, float)) for value in seconds):
        return None
    return round(sum(seconds), 1)


def stage_seconds(results: list[dict | None]) -> float | None:
    """The sum of the stage times (timings_seconds) of classic results.json files; None if one lacks them."""
    total = 0.0
    for result in results:
        timings = (result or {}).get("timings_seconds")
        if not isinstance(timings, dict):
            return None
        values = [value for stage, value in timings.items() if stage not in NESTED_STAGES]
        if not all(isinstance(value, (int, float)) for value in values):
            return None
        total += sum(values)
    return round(total, 1) if results else None


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


def arm_results(spec: GridSpec, arm: str) -> dict:
    """What the arm wrote that the task-time comparison reads: the grid's results.json, or the sequential arm's
    classic folders' results.json files."""
    if arm == "grid":
        return {"task": read_json(REPO / spec.folder / "results.json")}
    return {"stages": [read_json(REPO / step.folder / "results.json") for step, _ in expand(spec).steps
                       if step.kind == "gather"]}


def machine_fields(record: dict, found: dict) -> dict:
    """Best grid / sequential ratio, efficiency and task time / stage time (null where an input is missing)."""
    speed = (record.get("scaling") or {}).get("two_job_speed")
    best = best_grid_ratio(record["cpus"], speed)
    task = task_seconds(found.get("grid", {}).get("task"))
    stage = stage_seconds(found["sequential"]["stages"]) if "sequential" in found else None
    return {"jobs": min(2, record["cpus"]), "best_grid_over_sequential": best,
            "efficiency": ratio(best, record.get("grid_over_sequential")), "task_seconds": task,
            "stage_seconds": stage, "task_time_over_stage_time": ratio(task, stage)}


def scaling_line(result: dict) -> str:
    pair = " and ".join(f"{rate:.0f}" for rate in result["side_by_side_rates"])
    return (f"scaling: alone {result['lone_rate']:.0f} sent/s; side by side {pair} sent/s; "
            f"two_job_speed {result['two_job_speed']:.3f}")


def summary_lines(record: dict) -> list[str]:
    lines = []
    if "grid_over_sequential" in record:
        best, efficiency = record["best_grid_over_sequential"], record["efficiency"]
        lines.append(f"grid / sequential = {record['grid_over_sequential']:.3f} (best on this machine: "
                     f"{best if best is None else f'{best:.3f}'}, efficiency {efficiency}); "
                     f"identical F1 per run: {record['identical_f1']}")
    lines.append(f"task time / stage time = {record['task_time_over_stage_time']} "
                 f"({record['task_seconds']} s of grid steps / {record['stage_seconds']} s of sequential stages)")
    return lines


def parse_arms(text: str) -> list[str]:
    arms = [arm.strip() for arm in text.split(",") if arm.strip()]
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown or not arms:
        raise ZsnerError(f"--arms: {', '.join(unknown) or 'none'} not among {', '.join(ARMS)}")
    return [arm for arm in ARMS if arm in arms]  # scaling first


def bench(args) -> None:
    arms = parse_arms(args.arms)
    batches = args.scaling_batches or (TINY_SCALING_BATCHES if args.tiny else SCALING_BATCHES)
    if batches < 1:
        raise ZsnerError(f"--scaling-batches must be >= 1, not {batches}")
    out = Path(args.out)
    spec = tiny_spec(out) if args.tiny else check(read_spec(args.spec))
    record = {"spec": spec.__dict__, "cpus": len(os.sched_getaffinity(0))}
    if "scaling" in arms:
        record["scaling"] = scaling(batches, out / "scaling")
        print(scaling_line(record["scaling"]), flush=True)
    seconds, f1, found = {}, {}, {}
    for arm in (arm for arm in arms if arm != "scaling"):
        arm_grid = arm_spec(spec, out, arm, args.cache_dir)
        seconds[arm] = round(sequential(arm_grid) if arm == "sequential" else grid(arm_grid, out / "grid.json"), 1)
        f1[arm], found[arm] = run_f1(arm_grid), arm_results(arm_grid, arm)
        print(f"{arm}: {seconds[arm]} s", flush=True)
    record.update(seconds=seconds, f1=f1)
    if len(seconds) == 2:
        record["grid_over_sequential"] = round(seconds["grid"] / seconds["sequential"], 3)
        record["identical_f1"] = f1["grid"] == f1["sequential"]
    record.update(machine_fields(record, found))
    for line in summary_lines(record):
        print(line, flush=True)
    write_json(out / "bench.json", record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="configs/grids/en-es-nl-de-shared-augmented.json")
    parser.add_argument("--out", default="runs/bench-grid")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"some of {', '.join(ARMS)} (scaling runs first)")
    parser.add_argument("--scaling-batches", type=int, default=0,
                        help=f"bench_train.py batches per scaling job (default {SCALING_BATCHES}; "
                             f"--tiny: {TINY_SCALING_BATCHES})")
    parser.add_argument("--cache-dir", default="", help="a mapping cache both arms share (default: one per arm)")
    parser.add_argument("--tiny", action="store_true", help="synthetic data, tiny flags: a check of this script")
    args = parser.parse_args()
    try:
        bench(args)
    except ZsnerError as err:
        print(f"bench_grid.py: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
