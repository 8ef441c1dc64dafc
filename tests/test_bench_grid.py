"""scripts/bench_grid.py's arithmetic: bench_train's rate read from its table, the machine's best grid ratio, the
efficiency and task time / stage time, with null where an input is missing."""
import importlib.util
import random
from pathlib import Path

import pytest

from zsner.errors import ZsnerError

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_grid", REPO / "scripts" / "bench_grid.py")
bench_grid = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_grid)

HEADER = ("| model | threads | trainable params | train sent/s (batch 16) | decode sent/s (batch 256) | "
          "train / decode sent per CPU-s | load (1 min) |\n|---|---|---|---|---|---|---|\n")


def row(label, threads, train, decode):
    return f"| {label} | {threads} | 396,290 | {train:.0f} | {decode:.0f} | {train:.0f} / {decode:.0f} | 1.09 |\n"


@pytest.mark.parametrize("label", ["zsner", "zsner tied LSTMs"])
def test_train_rate_is_the_one_thread_zsner_training_column(label):
    rng = random.Random(label)
    rates = [rng.randrange(100, 5000) for _ in range(6)]
    text = ("loading...\n" + HEADER + row(label, 2, rates[0], rates[1]) + row(label, 1, rates[2], rates[3])
            + row("flair 0.15.1", 1, rates[4], rates[5]))
    assert bench_grid.train_rate(text) == rates[2]


def test_train_rate_is_none_without_its_row_or_header():
    assert bench_grid.train_rate("") is None
    assert bench_grid.train_rate(HEADER + row("zsner", 2, 600, 3000)) is None
    assert bench_grid.train_rate(row("zsner", 1, 600, 3000)) is None  # no header: the column is unknown
    assert bench_grid.train_rate(HEADER + "| zsner | 1 | 396,290 | n/a | 3000 | 1 / 2 | 1.0 |\n") is None


def test_best_grid_ratio_from_two_job_speed():
    assert bench_grid.best_grid_ratio(2, 1.0) == 0.5
    assert bench_grid.best_grid_ratio(2, 0.8) == 0.625
    assert bench_grid.best_grid_ratio(16, 0.8) == 0.625  # a 2-task grid: two jobs at most
    assert bench_grid.best_grid_ratio(1, 0.5) == 1.0  # one CPU: one task at a time
    assert bench_grid.best_grid_ratio(2, None) is None


def test_task_seconds_sums_every_step_or_is_none():
    steps = [{"name": "a", "seconds": 1.25}, {"name": "b", "seconds": 2.5}, {"name": "c", "seconds": 0.0}]
    assert bench_grid.task_seconds({"steps": steps}) == 3.8
    assert bench_grid.task_seconds({"steps": steps + [{"name": "d"}]}) is None
    assert bench_grid.task_seconds({"wall_seconds": 3.0}) is None
    assert bench_grid.task_seconds(None) is None


def test_stage_seconds_sums_folders_without_nested_stages():
    first = {"timings_seconds": {"mapping": 1.5, "seed1-shared": 10.0, "mapping_wait_after_first_seed": 4.0}}
    second = {"timings_seconds": {"mapping": 0.5, "seed1-augmented": 20.0}}
    assert bench_grid.stage_seconds([first, second]) == 32.0
    assert bench_grid.stage_seconds([first, {"config": {}}]) is None
    assert bench_grid.stage_seconds([first, None]) is None
    assert bench_grid.stage_seconds([]) is None


def test_machine_fields_efficiency_and_task_ratio():
    record = {"cpus": 2, "scaling": {"two_job_speed": 0.8}, "grid_over_sequential": 0.7}
    found = {"grid": {"task": {"steps": [{"seconds": 30.0}, {"seconds": 3.0}]}},
             "sequential": {"stages": [{"timings_seconds": {"seed1-shared": 30.0}}]}}
    fields = bench_grid.machine_fields(record, found)
    assert fields["best_grid_over_sequential"] == 0.625
    assert fields["efficiency"] == round(0.625 / 0.7, 3)
    assert fields["task_time_over_stage_time"] == 1.1
    missing = bench_grid.machine_fields({"cpus": 2}, {"grid": {"task": None}})
    assert missing["best_grid_over_sequential"] is None and missing["efficiency"] is None
    assert missing["task_time_over_stage_time"] is None and missing["stage_seconds"] is None


def test_arms_run_scaling_first_and_unknown_arms_are_refused():
    assert bench_grid.parse_arms("grid, sequential,scaling") == ["scaling", "sequential", "grid"]
    with pytest.raises(ZsnerError, match="gird"):
        bench_grid.parse_arms("scaling,gird")
