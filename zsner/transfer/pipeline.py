"""`zsner transfer`: mapping (cached) -> source training -> (augmented fine-tuning) -> selection -> report,
over several seeds, into ``runs/SRC-TGT-MODE/``."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json, write_text
from ..config import TaggerConfig, TrainConfig, to_dict
from ..device import resolve_device
from ..errors import ZsnerError
from ..extras import require
from ..report import aggregate, markdown_table
from ..runlog import attach_log
from ..runs import claim, writing
from .data import default_direction, prepare_crosslingual, resolve_inputs
from .spaces import VECTORS, encoder_dim, word_space
from .speculation import SPECULATE, SpeculativeMapping, speculation_wanted
from .teacher import teacher_checkpoint, teacher_tags
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
    vectors: str = "fasttext"  # word space: fasttext (the paper's: mapped monolingual vectors) | encoder | concat
    encoder: str = ""  # local Hugging Face encoder folder for --vectors encoder|concat
    encoder_layer: int = 6  # the encoder layer the static word vectors are read from
    encoder_contexts: bool = False  # average each word's states over its occurrences in the language's NER
                                    # training sentences (read without tags); isolated words otherwise
    figures: bool = True
    base_only: bool = False  # --mode augmented: train only the seeds' base folders (the augmented run reuses them;
                             # a grid runs them as tasks of their own)
    mapping_config: str = ""  # JSON file of MappingConfig fields for the mapping learned here (default: MUSE's)
    speculate: str = "auto"  # train the first seed's source model on the identical-strings chain's mapping while
                             # adversarial training finishes; kept only if the final mapping is that one (same
                             # results): auto (a spare core, one torch thread) | on | off

    @property
    def base_variant(self) -> str:
        """The variant trained on source labels: ``base`` under augmented, else the mode itself."""
        return self.base if self.mode == "augmented" else self.mode

    @property
    def mapping_direction(self) -> str:
        return self.direction or default_direction(self.tgt)


def run_transfer(config: TransferConfig, train: TrainConfig, tagger: TaggerConfig, augment: AugmentConfig,
                 out=None, data_dir=None, bars: bool = True, overwrite: bool = False) -> dict:
    """The whole pipeline into ``out``. A seed folder is reused (finished) or resumed (checkpoint) only when its
    config.json matches this run's; another config stops the run before anything is written, unless
    ``overwrite``, which recomputes the requested seeds."""
    if config.mode not in MODES:
        raise ZsnerError(f"unknown --mode {config.mode!r}; choose from {', '.join(MODES)}")
    if config.base not in MODES[:-1]:
        raise ZsnerError(f"--base must be one of {', '.join(MODES[:-1])}")
    out = Path(out or f"runs/{config.src}-{config.tgt}-{config.mode}")
    resolve_device(train.device)  # a bad --device fails here; each variant resolves it for its run folder
    base = config.base_variant
    if config.speculate not in SPECULATE:
        raise ZsnerError(f"unknown --speculate {config.speculate!r}; choose from {', '.join(SPECULATE)}")
    if config.vectors not in VECTORS:
        raise ZsnerError(f"unknown --vectors {config.vectors!r}; choose from {', '.join(VECTORS)}")
    if config.vectors != "fasttext":
        require("transformer", f"--vectors {config.vectors}")
    if augment.teacher:
        require("transformer", "--teacher")
    if config.vectors != "fasttext":
        if base == "mono" or config.mapping_dir:
            raise ZsnerError(f"--vectors {config.vectors} builds its own shared space: it does not go with "
                             "--mode mono or --mapping-dir")
        added = encoder_dim(config.encoder)
        tagger = dataclasses.replace(tagger, word_dim=added + (tagger.word_dim if config.vectors == "concat" else 0))
    mono_only = base == "mono"
    required = (mono_only or not config.mapping_dir,
                (mono_only and config.target_emb != "random") or (not mono_only and not config.mapping_dir))
    inputs = resolve_inputs(config.src, config.tgt, train, data_dir, required,  # bad input fails before any write
                            config.mapping_config)
    if not mono_only and config.mapping_dir:
        _check_mapping_dir(Path(config.mapping_dir))
    teacher = teacher_checkpoint(augment.teacher) if augment.teacher else None
    if teacher is not None and config.mode != "augmented":
        raise ZsnerError("--teacher replaces Algorithm 1's pseudo-labels: it needs --mode augmented")
    plan = _seed_folders(config, train, tagger, augment, out, inputs.mapping_overrides)
    # one writer per seed folder, not per OUT: a grid runs a transfer's seeds side by side, each `--seeds 1` into
    # the same OUT (the shared files there, results.json and the log, are rewritten or appended by each)
    with writing(*(folder for folder, _ in plan.values())):
        return _claimed(config, train, tagger, augment, out, inputs, bars, plan, data_dir, teacher, overwrite)


def _claimed(config, train, tagger, augment, out: Path, inputs, bars, plan, data_dir, teacher, overwrite) -> dict:
    for folder, wanted in plan.values():  # a stale folder stops the run before anything is written
        claim(folder, wanted, overwrite)
    mono = _monolingual_vectors(inputs) if config.figures else None
    out.mkdir(parents=True, exist_ok=True)
    handler = attach_log(out)
    try:
        return _run(config, train, tagger, augment, out, inputs, bars, plan, mono, data_dir, teacher)
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()


def _seed_folders(config: TransferConfig, train: TrainConfig, tagger: TaggerConfig, augment: AugmentConfig,
                  out: Path, mapping: dict) -> dict:
    """(seed, variant) -> (folder, the config.json its run writes): what decides whether a folder is reusable,
    and what ``train_variant`` records there."""
    base = config.base_variant
    identity = {"src": config.src, "tgt": config.tgt, "base": base, "target_emb": config.target_emb,
                "direction": config.mapping_direction, "mapping_dir": config.mapping_dir}
    if config.vectors != "fasttext":
        identity.update(vectors=config.vectors, encoder=str(Path(config.encoder).expanduser().resolve()),
                        encoder_layer=config.encoder_layer)
        if config.encoder_contexts:  # recorded only when set, so that earlier isolated-word folders still match
            identity["encoder_contexts"] = True
    if mapping:  # likewise
        identity["mapping_config"] = mapping
    base_tagger = variant_tagger(base, tagger)
    plan = {}
    for seed in range(train.seed, train.seed + config.seeds):
        seeded, folder = to_dict(dataclasses.replace(train, seed=seed)), out / f"seed{seed}"
        wanted = {"train": seeded, "tagger": to_dict(base_tagger), "transfer": {**identity, "variant": base}}
        plan[seed, base] = (folder / base if config.mode == "augmented" else folder, wanted)
        if config.mode == "augmented":
            plan[seed, "augmented"] = (folder / "augmented", {**wanted, "augment": to_dict(augment),
                                                              "transfer": {**identity, "variant": "augmented"}})
    return plan


def _check_mapping_dir(folder: Path) -> None:
    for name in ("src.mapped.vec", "tgt.mapped.vec"):
        if not (folder / name).is_file():
            raise ZsnerError(f"--mapping-dir is not a finished `zsner map` folder ({name} missing)", folder)


def _monolingual_vectors(inputs) -> list | None:
    """Both languages' monolingual vectors for Fig. 3's first panel; None, logged, if either file is absent."""
    from ..embeddings import load_vectors

    if None in inputs.vector_files:
        log.warning("Fig. 3 will have no monolingual panel: no vectors file for one of the languages")
        return None
    return [load_vectors(path) for path in inputs.vector_files]


def _run(config, train, tagger, augment, out: Path, inputs, bars, plan, mono, data_dir, teacher) -> dict:
    timings = {}
    clock = time.perf_counter()
    direction, base = config.mapping_direction, config.base_variant
    mapping_dir, speculation = _word_space(config, inputs, train, data_dir, bars)
    timings["mapping"] = round(time.perf_counter() - clock, 1)
    stage_log.info("stage mapping: %.1f s (%s%s)", timings["mapping"], mapping_dir or "monolingual vectors",
                   "; a candidate: the adversarial chain goes on beside the first seed's training"
                   if speculation and speculation.first else "")
    base_tagger = variant_tagger(base, tagger)
    data = prepare_crosslingual(inputs, base, train, base_tagger, mapping_dir, config.target_emb)
    pseudo, teacher_speed = None, None
    if teacher is not None:
        sentences = [sentence.words for sentence in data.corpora["tgt-train"].sentences]
        pseudo, teacher_speed = teacher_tags(teacher, sentences, config.tgt, data.vocabs.tags,
                                             device=resolve_device(train.device), progress=bars)
        timings["teacher"] = teacher_speed["teacher_seconds"]
    results: dict[str, list] = {base: []} if config.mode != "augmented" else {base: [], "augmented": []}
    try:
        for seed in range(train.seed, train.seed + config.seeds):
            seeded = dataclasses.replace(train, seed=seed)
            folder = out / f"seed{seed}"
            clock = time.perf_counter()
            base_dir, record = plan[seed, base]
            train_base = lambda: _cached(base_dir) or train_variant(  # noqa: E731
                base, data.for_seed(seed), seeded, base_tagger, base_dir, record, bars=bars)
            results[base].append(train_base())
            if speculation is not None:  # the mapping is final now: keep the work done on the candidate, or redo it
                mapping_dir, kept = _settle(speculation, base, timings)
                speculation = None
                if not kept:
                    data = prepare_crosslingual(inputs, base, train, base_tagger, mapping_dir, config.target_emb)
                    shutil.rmtree(base_dir)
                    results[base][-1] = train_base()
            timings[f"seed{seed}-{base}"] = round(time.perf_counter() - clock, 1)
            stage_log.info("stage %s seed %d: %.1f s", base, seed, timings[f"seed{seed}-{base}"])
            if config.mode == "augmented" and not config.base_only:
                clock = time.perf_counter()
                results["augmented"].append(_cached(folder / "augmented") or train_variant(
                    "augmented", data.for_seed(seed), seeded, base_tagger, *plan[seed, "augmented"], augment,
                    base_dir / "best-src-dev.pt", bars, pseudo))
                timings[f"seed{seed}-augmented"] = round(time.perf_counter() - clock, 1)
                stage_log.info("stage augmented seed %d: %.1f s", seed, timings[f"seed{seed}-augmented"])
    finally:
        if speculation is not None:
            speculation.close()
    if config.base_only:
        return {"table": "", "summaries": {}, "timings": timings, "out": str(out)}
    summaries = {mode: aggregate(runs) for mode, runs in results.items()}
    table = markdown_table(config.src, config.tgt, summaries)
    write_json(out / "results.json", {"config": dataclasses.asdict(config), "direction": direction,
                                      "mapping": str(mapping_dir) if mapping_dir else None, "summaries": summaries,
                                      "runs": results, "timings_seconds": timings,
                                      **({"teacher": {"checkpoint": str(teacher), **teacher_speed}} if teacher else {})})
    write_text(out / "results.md", table)
    if config.figures:
        from .figures import write_figures

        write_figures(out, data, results, config, mono)
    return {"table": table, "summaries": summaries, "timings": timings, "out": str(out)}


def _word_space(config: TransferConfig, inputs, train: TrainConfig, data_dir, bars: bool):
    """(the folder of the run's mapped vectors (None: monolingual), the speculation when the first seed trains on
    the identical-strings chain's mapping while the mapping is still being learned)."""
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


def _settle(speculation: SpeculativeMapping, base: str, timings: dict) -> tuple[Path, bool]:
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


def _cached(folder: Path) -> dict | None:
    """A finished run's metrics (its config was checked by ``claim`` before the run started)."""
    import json

    path = folder / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None
