"""`zsner transfer`: mapping (cached) -> source training -> (augmented fine-tuning) -> selection -> report,
over several seeds, into ``runs/SRC-TGT-MODE/``."""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json, write_text
from ..config import TaggerConfig, TrainConfig
from ..errors import ZsnerError
from ..report import aggregate, markdown_table
from .data import default_direction, ensure_mapping, prepare_crosslingual, read_crosslingual
from ..train.loop import attach_log
from .variants import MODES, AugmentConfig, train_variant, variant_tagger

log = logging.getLogger("zsner")
stage_log = logging.getLogger("zsner.stage")  # one line per finished stage; the CLI shows these


@dataclass
class TransferConfig:
    src: str = "en"
    tgt: str = "es"
    mode: str = "augmented"  # mono | word-nochar | word | shared | augmented
    base: str = "shared"  # the variant Cross-Augmented starts from
    target_emb: str = "mono"  # Source-Mono only: target vectors mono | random
    direction: str = ""  # s2t | t2s; empty = the paper's (t2s for ar and fi, s2t otherwise)
    seeds: int = 1  # the paper reports 5
    cache_dir: str = "runs/cache"
    mapping_dir: str = ""  # a finished `zsner map` run folder to use instead of the cached mapping
    figures: bool = True


def run_transfer(config: TransferConfig, train: TrainConfig, tagger: TaggerConfig, augment: AugmentConfig,
                 out=None, data_dir=None, bars: bool = True) -> dict:
    if config.mode not in MODES:
        raise ZsnerError(f"unknown --mode {config.mode!r}; choose from {', '.join(MODES)}")
    if config.base not in MODES[:-1]:
        raise ZsnerError(f"--base must be one of {', '.join(MODES[:-1])}")
    out = Path(out or f"runs/{config.src}-{config.tgt}-{config.mode}")
    splits = read_crosslingual(config.src, config.tgt, train, data_dir)  # bad input fails before anything is written
    out.mkdir(parents=True, exist_ok=True)
    handler = attach_log(out)
    try:
        return _run(config, train, tagger, augment, out, data_dir, bars, splits)
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()


def _run(config, train, tagger, augment, out: Path, data_dir, bars, splits) -> dict:
    timings = {}
    clock = time.perf_counter()
    direction = config.direction or default_direction(config.tgt)
    base = config.base if config.mode == "augmented" else config.mode
    mapping_dir = None
    if base != "mono" and config.mapping_dir:
        mapping_dir = Path(config.mapping_dir)
    elif base != "mono":
        mapping_dir = ensure_mapping(config.src, config.tgt, direction, config.cache_dir, data_dir, progress=bars)
    timings["mapping"] = round(time.perf_counter() - clock, 1)
    stage_log.info("stage mapping: %.1f s (%s)", timings["mapping"], mapping_dir or "monolingual vectors")
    base_tagger = variant_tagger(base, tagger)
    data = prepare_crosslingual(config.src, config.tgt, base, train, base_tagger, mapping_dir, config.target_emb,
                                data_dir, splits)
    results: dict[str, list] = {base: []} if config.mode != "augmented" else {base: [], "augmented": []}
    for seed in range(train.seed, train.seed + config.seeds):
        seeded = dataclasses.replace(train, seed=seed)
        folder = out / f"seed{seed}"
        clock = time.perf_counter()
        base_dir = folder / base if config.mode == "augmented" else folder
        results[base].append(_cached(base_dir) or train_variant(base, data, seeded, base_tagger, base_dir, bars=bars))
        timings[f"seed{seed}-{base}"] = round(time.perf_counter() - clock, 1)
        stage_log.info("stage %s seed %d: %.1f s", base, seed, timings[f"seed{seed}-{base}"])
        if config.mode == "augmented":
            clock = time.perf_counter()
            results["augmented"].append(
                _cached(folder / "augmented") or train_variant("augmented", data, seeded, base_tagger,
                                                               folder / "augmented", augment,
                                                               base_dir / "best-src-dev.pt", bars))
            timings[f"seed{seed}-augmented"] = round(time.perf_counter() - clock, 1)
            stage_log.info("stage augmented seed %d: %.1f s", seed, timings[f"seed{seed}-augmented"])
    summaries = {mode: aggregate(runs) for mode, runs in results.items()}
    table = markdown_table(config.src, config.tgt, summaries)
    write_json(out / "results.json", {"config": dataclasses.asdict(config), "direction": direction,
                                      "mapping": str(mapping_dir) if mapping_dir else None, "summaries": summaries,
                                      "runs": results, "timings_seconds": timings})
    write_text(out / "results.md", table)
    if config.figures:
        from .figures import write_figures

        write_figures(out, data, results, config)
    return {"table": table, "summaries": summaries, "timings": timings, "out": str(out)}


def _cached(folder: Path) -> dict | None:
    """A finished run's metrics (its folder has metrics.json): repeated invocations reuse it."""
    import json

    path = folder / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None
