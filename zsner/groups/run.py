"""`zsner groups` end to end: plan, check every input, run (or reuse) each group's transformer run, write tables.

``OUT/config.json`` (the groups config and the base transformer configs), ``OUT/runs/<group>/seed<S>/`` (one
`zsner transformer` run folder each: reused when finished with the same config, resumed from its checkpoint, or
restarted), ``OUT/results.json`` (groups per grouping, Table 3, Table 4) and ``OUT/tables.md``.

The runs go one after the other in this process, or (``ray``) as tasks of the grid's Ray runner, on this
machine's cores or on a cluster (``address``): one `zsner transformer` command each, one CPU (and ``gpus``) a
task, logs in ``OUT/logs/``, with the same folders, so either way reuses the other's finished runs.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..atomic import write_json, write_text
from ..config import override_flags, save_configs, to_dict
from ..data.conll import read_dataset
from ..grid.execute import check_address
from ..errors import ZsnerError
from ..resources import SPLITS, WIKIANN
from ..runs import claim, writing
from ..train.model_io import CHECKPOINT_FILE
from ..transformer.config import TransformerConfig, TransformerTrainConfig, validate
from ..transformer.model import load_pretrained
from ..transformer.run import run as transformer_run
from .config import GroupsConfig
from .plan import Plan, group_runs, make_plan
from .tables import markdown, table3, table4

log = logging.getLogger("zsner.groups")


def check_inputs(plan: Plan, model: TransformerConfig, train: TransformerTrainConfig) -> None:
    """Every data file read once and the model folder loaded, before anything is written."""
    validate(model, train)
    for lang in plan.langs:
        for split in SPLITS:
            read_dataset(WIKIANN + lang, split, train.data_dir or None)
    load_pretrained(model.model)


def run_group(folder: Path, model: TransformerConfig, train: TransformerTrainConfig) -> dict:
    """One group's run: reused when finished with this config, resumed from its checkpoint, else (re)started."""
    with writing(folder):
        return _run_group(folder, model, train)


def _run_group(folder: Path, model: TransformerConfig, train: TransformerTrainConfig) -> dict:
    state = claim(folder, {"model": to_dict(model), "train": to_dict(train)})
    if state == "reuse":
        log.info("reusing %s", folder)
        return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    resume = state == "resume" and (folder / CHECKPOINT_FILE).is_file()
    log.info("%s %s", "resuming" if resume else "training", folder)
    return transformer_run(model, train, folder, overwrite=state == "resume", resume=resume)


def run_on_ray(runs: list, out: Path, address: str = "", cpus: int = 0, gpus: float = 0.0) -> dict:
    """Every run as a task of the grid's runner (a dead process retried, resuming from its checkpoint);
    run name -> its metrics. A run that does not finish stops the command, naming its log."""
    from ..grid.execute import execute
    from ..grid.plan import RUN_FLAGS, GridPlan, Step
    from ..grid.tasks import unfinished

    plan = GridPlan(out)
    for name, (model, train) in runs:
        folder = out / "runs" / name
        command = ("transformer", *override_flags(model), *override_flags(train), "--out", str(folder), *RUN_FLAGS)
        plan.add(Step("run", name, command, str(folder), gpus))
    results = execute(plan, address, cpus)
    failed = unfinished(results.values())
    if failed:
        raise ZsnerError(f"{len(failed)} of {len(results)} group runs did not finish ({failed[0]['name']}: "
                         f"{failed[0].get('error', '')}); logs: {out / 'logs'}")
    return {name: json.loads((out / "runs" / name / "metrics.json").read_text(encoding="utf-8")) for name in results}


def run(config: GroupsConfig, model: TransformerConfig, train: TransformerTrainConfig, out, ray: bool = False,
        address: str = "", cpus: int = 0, gpus: float = 0.0) -> dict:
    """Train every group of every grouping (on Ray when ``ray`` or ``address``); returns what ``results.json``
    holds. ``out`` has one writer (its group folders inside are the tasks', each with its own lock)."""
    with writing(out):
        return _run(config, model, train, Path(out), ray, address, cpus, gpus)


def _run(config: GroupsConfig, model: TransformerConfig, train: TransformerTrainConfig, out: Path, ray: bool,
         address: str, cpus: int, gpus: float) -> dict:
    plan = make_plan(config)
    runs = group_runs(plan, model, train, config.max_train, config.max_eval)
    check_inputs(plan, model, train)
    if address:  # an address nothing answers on stops here, before anything is written
        check_address(address)
    out = Path(out)
    save_configs(out / "config.json", groups=config, model=model, train=train)
    if ray or address:
        results = run_on_ray(runs, out, address, cpus, gpus)
    else:
        results = {name: run_group(out / "runs" / name, model_config, train_config)
                   for name, (model_config, train_config) in runs}
    tables = {"table3": table3(plan, results), "table4": table4(plan, results)}
    seeds = (f"mean ± std over seeds {', '.join(map(str, plan.seeds))}" if len(plan.seeds) > 1
             else f"one seed, {plan.seeds[0]}")
    text = markdown(tables["table3"], f"Table 3: test F1 per language and grouping ({seeds}; max "
                                      f"{config.max_train} training sentences per language)")
    if tables["table4"]:
        sources, targets = plan.zero_shot
        title = (f"Table 4: {', '.join(targets)} with their own model, their cluster's, and zero-shot from the "
                 f"biggest cluster without them ({', '.join(sources)})")
        text += "\n" + markdown(tables["table4"], title)
    summary = {"groupings": plan.groupings, "zero_shot": plan.zero_shot, "runs": [name for name, _ in runs],
               **tables}
    write_json(out / "results.json", summary)
    write_text(out / "tables.md", text)
    return summary
