"""Gathering a transfer's seeds: every seed folder's metrics.json into ``results.json`` / ``results.md`` (each
variant's mean ± sd, as in the paper's tables) and the figures, drawn from the first seed's figure data. A
gathering reads no data, vectors or model and imports no torch: when every requested folder is finished, that is
all a command does (a grid's gather step, a rerun of a finished `zsner transfer`)."""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ..atomic import write_json, write_text
from ..report import aggregate, markdown_table
from .config import TransferConfig
from .folders import FIGURE_DATA, figure_folder, finished

log = logging.getLogger("zsner")


def gather_ready(config: TransferConfig, plan: dict, first_seed: int, out: Path) -> bool:
    """Whether every folder of ``plan`` is finished and, with figures, their data is there."""
    if not all((folder / "metrics.json").is_file() for folder, _ in plan.values()):
        return False
    return not config.figures or (figure_folder(config, out, first_seed) / FIGURE_DATA).is_file()


def finished_results(config: TransferConfig, plan: dict) -> dict:
    """Variant -> each seed's metrics, in seed order (base first, then augmented)."""
    results = {config.base_variant: []} if config.mode != "augmented" else {config.base_variant: [], "augmented": []}
    for (_, variant), (folder, _) in sorted(plan.items(), key=lambda item: item[0][0]):
        results[variant].append(finished(folder))
    return results


def write_results(config: TransferConfig, out: Path, results: dict, mapping, timings: dict, steps: dict,
                  first_seed: int, extra: dict | None = None) -> dict:
    """results.json, results.md and the figures; the dict `zsner transfer` returns. ``mapping``: the word space
    folder (None: monolingual vectors); ``timings``: the stage times of this command; ``steps``: this command's
    step seconds (the runs' own are read from their metrics)."""
    summaries = {mode: aggregate(runs) for mode, runs in results.items()}
    table = markdown_table(config.src, config.tgt, summaries)
    per_run = {f"seed{run['seed']}/{mode}": run.get("timings_seconds") for mode, runs in results.items()
               for run in runs}
    write_json(out / "results.json", {"config": dataclasses.asdict(config), "direction": config.mapping_direction,
                                      "mapping": str(mapping) if mapping else None, "summaries": summaries, "runs": results,
                                      "timings_seconds": timings,
                                      "steps_seconds": {"this_command": steps, "runs": per_run}, **(extra or {})})
    write_text(out / "results.md", table)
    if config.figures:
        data_file = figure_folder(config, out, first_seed) / FIGURE_DATA
        if data_file.is_file():
            from .figures import draw_figures

            draw_figures(out, json.loads(data_file.read_text(encoding="utf-8")))
        else:
            log.warning("no figures: %s is missing (the first seed was trained with --figures false)", data_file)
    return {"table": table, "summaries": summaries, "timings": timings, "out": str(out)}
