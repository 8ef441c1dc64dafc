"""`zsner transfer`: mapping (cached) -> prepared data (cached) -> source training -> (augmented fine-tuning) ->
selection -> report, over several seeds, into ``runs/SRC-TGT-MODE/``.

A command whose every requested seed folder is finished only gathers them (transfer/gather.py): it reads no data,
vectors or model and imports no torch. The heavy modules are imported by the functions that train."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

from ..config import TaggerConfig, TrainConfig
from ..runlog import attach_log
from ..runs import claim, writing
from ..timings import StepTimes, startup_seconds
from .config import AugmentConfig, TransferConfig, check_options, space_tagger, variant_tagger
from .folders import FIGURE_DATA, figure_folder, finished, seed_folders
from .gather import finished_results, gather_ready, write_results
from .inputs import (TransferInputs, check_mapping_dir, mapping_cached, mapping_folder, read_mapping_config,
                     resolve_inputs)

__all__ = ["TransferConfig", "run_transfer"]
log = logging.getLogger("zsner")
stage_log = logging.getLogger("zsner.stage")  # one line per finished stage; the CLI shows these


def run_transfer(config: TransferConfig, train: TrainConfig, tagger: TaggerConfig, augment: AugmentConfig,
                 out=None, data_dir=None, bars: bool = True, overwrite: bool = False) -> dict:
    """The whole pipeline into ``out``. A seed folder is reused (finished) or resumed (checkpoint) only when its
    config.json matches this run's; another config stops the run before anything is written, unless
    ``overwrite``, which recomputes the requested seeds."""
    steps = StepTimes()
    steps.add("startup", startup_seconds())
    check_options(config, augment.teacher, augment.teacher_decode)
    out = Path(out or f"runs/{config.src}-{config.tgt}-{config.mode}")
    if train.device not in ("auto", "cpu"):  # a bad --device fails here; each variant resolves it for its folder
        from ..device import resolve_device

        resolve_device(train.device)
    tagger = space_tagger(config, tagger)
    teachers = None
    if augment.teacher:  # every teacher checked before any work
        from ..teachers import teacher_checkpoints

        teachers = teacher_checkpoints(augment.teacher)
    plan = seed_folders(config, train, tagger, augment, out, read_mapping_config(config.mapping_config), teachers)
    # one writer per seed folder, not per OUT: a grid runs a transfer's seeds side by side, each `--seeds 1` into
    # the same OUT (the shared files there, results.json and the log, are rewritten or appended by each)
    with writing(*(folder for folder, _ in plan.values())):
        gather = not (overwrite or config.base_only) and gather_ready(config, plan, train.seed, out) and \
            all(claim(folder, wanted) == "reuse" for folder, wanted in plan.values())
        inputs = None if gather else _inputs(config, train, tagger, data_dir)
        for folder, wanted in plan.values() if not gather else ():  # a stale folder stops here, before any write
            claim(folder, wanted, overwrite)
        out.mkdir(parents=True, exist_ok=True)
        handler = attach_log(out)
        try:
            if gather:
                return _gather(config, out, plan, train.seed, teachers, steps)
            return _run(config, train, tagger, augment, out, inputs, bars, plan, data_dir, teachers, steps)
        finally:
            logging.getLogger("zsner").removeHandler(handler)
            handler.close()


def _inputs(config: TransferConfig, train: TrainConfig, tagger: TaggerConfig, data_dir) -> TransferInputs:
    """The run's inputs, found (bad input fails here, before any write); the sentences are read now unless the
    prepared data is cached (it was built from these very files)."""
    inputs = resolve_inputs(config.src, config.tgt, train, data_dir, config.vectors_required, config.mapping_config,
                            read=False)
    if config.base_variant != "mono" and config.mapping_dir:
        check_mapping_dir(Path(config.mapping_dir))
    if not _prepared_already(config, inputs, variant_tagger(config.base_variant, tagger)):
        inputs.splits  # noqa: B018  (reading is the check)
    return inputs


def _gather(config, out: Path, plan: dict, first_seed: int, teachers, steps: StepTimes) -> dict:
    clock = time.perf_counter()
    results = finished_results(config, plan)
    first = results[config.base_variant][0]
    extra = {"teacher": {"checkpoints": list(map(str, teachers))}} if teachers else None
    result = write_results(config, out, results, first.get("word_space"), {}, steps.rounded(), first_seed, extra)
    stage_log.info("gathered %d finished runs in %.1f s", sum(map(len, results.values())),
                   time.perf_counter() - clock)
    return result


def _prepared_already(config: TransferConfig, inputs: TransferInputs, tagger: TaggerConfig) -> bool:
    """Whether the prepared data of this run is cached (then its sentences need not be read, nor checked again)."""
    from .prepared import is_prepared, prepared_folder

    if config.base_variant == "mono":
        space = None
    elif config.mapping_dir:
        space = Path(config.mapping_dir)
    elif config.vectors == "fasttext":
        space = mapping_folder(inputs, config.mapping_direction, config.cache_dir)[0]
        if not mapping_cached(space):
            return False
    else:
        return False  # encoder spaces: their folders are known once built
    return is_prepared(prepared_folder(inputs, config.base_variant, tagger, space, config.target_emb,
                                       config.cache_dir))


def _monolingual_vectors(inputs) -> list | None:
    """Both languages' monolingual vectors for Fig. 3's first panel; None, logged, if either file is absent."""
    from ..embeddings import load_vectors

    if None in inputs.vector_files:
        log.warning("Fig. 3 will have no monolingual panel: no vectors file for one of the languages")
        return None
    return [load_vectors(path) for path in inputs.vector_files]


def _run(config, train, tagger, augment, out: Path, inputs, bars, plan, data_dir, teachers, steps) -> dict:
    with steps.step("imports"):  # torch and the training stack (a gathering never needs them)
        from .prepared import prepared_data
        from .variants import train_variant

    timings = {}
    clock = time.perf_counter()
    base = config.base_variant
    with steps.step("mapping"):
        mapping_dir, speculation = _word_space(config, inputs, train, data_dir, bars)
    timings["mapping"] = round(time.perf_counter() - clock, 1)
    stage_log.info("stage mapping: %.1f s (%s%s)", timings["mapping"], mapping_dir or "monolingual vectors",
                   "; a candidate: the adversarial chain goes on beside the first seed's training"
                   if speculation and speculation.first else "")
    base_tagger = variant_tagger(base, tagger)
    prepare = lambda space: prepared_data(inputs, base, train, base_tagger, space, config.target_emb,  # noqa: E731
                                          config.cache_dir, steps)
    data = prepare(mapping_dir)
    if inputs.read_seconds:  # at the edge, or while preparing (a cache hit reads nothing)
        steps.add("read_conll", inputs.read_seconds)
    pseudo, teacher_record = None, None
    if teachers:
        from ..device import resolve_device
        from .teacher import teacher_tags

        sentences = [sentence.words for sentence in data.corpora["tgt-train"].sentences]
        pseudo, teacher_record = teacher_tags(teachers, sentences, config.tgt, data.vocabs.tags, config.cache_dir,
                                              device=resolve_device(train.device), progress=bars,
                                              decode=augment.teacher_decode)
        timings["teacher"] = teacher_record["teacher_wall_seconds"]
    results: dict[str, list] = {base: []} if config.mode != "augmented" else {base: [], "augmented": []}
    shared = steps  # the command's own steps go to the first folder it trains; later ones get theirs only

    def trained(variant: str, seed: int, *args, **kwargs) -> dict:
        """The finished metrics of ``plan[seed, variant]``'s folder, trained now unless it is finished."""
        nonlocal shared
        folder, record = plan[seed, variant]
        done = finished(folder)
        if done is None:
            done = train_variant(variant, data.for_seed(seed), dataclasses.replace(train, seed=seed), base_tagger,
                                 folder, record, *args, bars=bars, steps=shared.seconds,
                                 extra={"word_space": str(mapping_dir) if mapping_dir else None}, **kwargs)
            shared = StepTimes()
        return done

    try:
        for seed in range(train.seed, train.seed + config.seeds):
            clock = time.perf_counter()
            base_dir = plan[seed, base][0]
            results[base].append(trained(base, seed))
            if speculation is not None:  # the mapping is final now: keep the work done on the candidate, or redo it
                mapping_dir, kept = _settle(speculation, base, timings)
                speculation = None
                if not kept:
                    data = prepare(mapping_dir)
                    shutil.rmtree(base_dir)
                    results[base][-1] = trained(base, seed)
            if config.figures and seed == train.seed:
                _figure_data(config, out, seed, data, inputs)
            timings[f"seed{seed}-{base}"] = round(time.perf_counter() - clock, 1)
            stage_log.info("stage %s seed %d: %.1f s", base, seed, timings[f"seed{seed}-{base}"])
            if config.mode == "augmented" and not config.base_only:
                clock = time.perf_counter()
                results["augmented"].append(trained("augmented", seed, augment, base_dir / "best-src-dev.pt",
                                                    teacher_tags=pseudo))
                timings[f"seed{seed}-augmented"] = round(time.perf_counter() - clock, 1)
                stage_log.info("stage augmented seed %d: %.1f s", seed, timings[f"seed{seed}-augmented"])
    finally:
        if speculation is not None:
            speculation.close()
    if config.base_only:
        return {"table": "", "summaries": {}, "timings": timings, "out": str(out)}
    extra = {"teacher": teacher_record} if teachers else None
    return write_results(config, out, results, mapping_dir, timings, shared.rounded(), train.seed, extra)


def _figure_data(config, out: Path, seed: int, data, inputs) -> None:
    """The figures' data from the first seed's base model, computed once (when it is not there yet)."""
    from ..atomic import write_json
    from .figures import figure_data

    folder = figure_folder(config, out, seed)
    if not (folder / FIGURE_DATA).is_file():
        write_json(folder / FIGURE_DATA, figure_data(data.for_seed(seed), folder / "best-src-dev.pt", config,
                                                     _monolingual_vectors(inputs)))


def _word_space(config: TransferConfig, inputs, train: TrainConfig, data_dir, bars: bool):
    """(the folder of the run's mapped vectors (None: monolingual), the speculation when the first seed trains on
    the identical-strings chain's mapping while the mapping is still being learned)."""
    from .spaces import word_space
    from .speculation import SpeculativeMapping, speculation_wanted

    direction = config.mapping_direction
    if config.base_variant == "mono":
        return None, None
    if config.mapping_dir:
        return Path(config.mapping_dir), None
    if config.vectors == "fasttext" and speculation_wanted(config.speculate, inputs, direction, config.cache_dir,
                                                           train.threads):
        speculation = SpeculativeMapping(inputs, direction, config.cache_dir)
        return speculation.candidate(), speculation
    return word_space(config.vectors, inputs, direction, config.cache_dir, config.encoder, config.encoder_layer,
                      data_dir, bars, config.encoder_contexts), None


def _settle(speculation, base: str, timings: dict) -> tuple[Path, bool]:
    """(the final mapping folder, whether it is the candidate the first seed's ``base`` training used)."""
    clock = time.perf_counter()
    try:
        final, kept = speculation.result(), speculation.confirmed()
    finally:
        speculation.close()
    timings["mapping_wait_after_first_seed"] = round(time.perf_counter() - clock, 1)
    if kept:
        log.info("mapping: the final mapping %s is the candidate the first seed trained on; that training is kept",
                 final)
    else:
        log.warning("mapping: the final mapping %s is not the candidate; the first seed's %s training is redone "
                    "on it", final, base)
    return final, kept
