"""`zsner cluster` end to end: read every input, then for each (seed, cap) setting sample sentences, embed the
held-out ones with the plain encoder, fine-tune it on LID, embed them again, cluster both, and write the results.

Folder layout (the first seed and cap give the main result; every other setting has the same files, pictures
aside, under ``stability/seed<S>-cap<C>/``):
``config.json``; ``groups.json`` (LID-fine-tuned encoder: each language's share of sentences per cluster, its
majority cluster, the groups); ``lid_accuracy.json`` (held-out LID accuracy per language, loss per epoch, sample
sizes); ``map.png``; ``dendrogram.png``; ``baseline/`` (the same three for the plain encoder); ``stability.json``
(ARI between the settings' groupings); ``summary.md`` (written last: a folder without it is unfinished);
``training.log``. A folder is reused only when its config matches (``zsner/runs.py``).

Crash-safe: each setting's files are written as it finishes, then its record (groups, accuracy) as a chunk under
``chunks/settings/`` (``zsner/chunks.py``, keyed by the configuration, the device's kind, the model's weights and
the sentences read); a rerun of a killed run skips the settings recorded there, and ``stability.json`` and
``summary.md`` come from the records (byte-identical to an uninterrupted run); ``chunks/`` goes once they are written.
"""
from __future__ import annotations

import copy
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import write_json, write_text
from ..chunks import ChunkCache, digest
from ..config import save_configs, to_dict
from ..device import resolve_device, to_device
from ..encoder_vectors.build import model_key
from ..errors import ZsnerError
from ..resources import wikiann_names
from ..runlog import attach_log
from ..runs import claim
from ..train.trainer import seed_everything
from ..transformer.align import PieceTokenizer
from ..transformer.config import split_list
from ..transformer.model import freeze, load_pretrained
from .config import ClusterConfig, int_list, validate
from .figures import dendrogram_png, map_png
from .grouping import language_groups, ward_clusters
from .lid import LanguageClassifier, accuracy, embed, fine_tune, piece_ids
from .report import summary_markdown
from .sampling import Sample, draw, read_pools
from .stability import stability

log = logging.getLogger("zsner.cluster")
ENCODERS = {"lid": "LID-fine-tuned encoder", "plain": "plain encoder (baseline)"}
CHUNKS = "chunks"  # finished settings' records (removed once summary.md is written)
RUNTIME = ("threads", "device", "progress")  # fields that change no result (the device's kind is keyed apart)


@dataclass
class Inputs:
    pools: dict  # code -> {"train": sentences, "dev": sentences}
    tokens: PieceTokenizer
    encoder: torch.nn.Module  # the pretrained encoder, copied for every setting
    device: torch.device


def read_inputs(config: ClusterConfig) -> Inputs:
    """Every input, checked before anything is written: languages, k, flags, all data files, the model folder."""
    codes = split_list(config.langs)
    names = wikiann_names(codes)
    if len(set(names)) != len(names):
        raise ZsnerError(f"--langs names a language twice: {config.langs}")
    validate(config, len(names))
    device = resolve_device(config.device)
    pools = read_pools(names, config.data_dir)
    tokenizer, encoder = load_pretrained(config.model)
    return Inputs(pools, PieceTokenizer(tokenizer), encoder, device)


def cluster_setting(config: ClusterConfig, inputs: Inputs, seed: int, cap: int) -> dict:
    """One setting: the sample, the LID fine-tuning, and per encoder its vectors, clusters and groups."""
    sample = draw(inputs.pools, cap, config.held_out, seed)
    seed_everything(seed)
    encoder = copy.deepcopy(inputs.encoder)
    freeze(encoder, config.freeze_layers)
    model = to_device(LanguageClassifier(encoder, len(sample.langs)), inputs.device)
    pad = inputs.tokens.pad_id
    train_rows = piece_ids(inputs.tokens, sample.train, config.max_pieces)
    held_rows = piece_ids(inputs.tokens, sample.held_out, config.max_pieces)
    log.info("seed %d cap %d: %d LID training sentences, %d held-out sentences", seed, cap, len(train_rows),
             len(held_rows))
    plain, _ = embed(model, held_rows, pad, config.eval_batch_size, inputs.device, config.progress)
    losses = fine_tune(model, train_rows, sample.train_labels, pad, config, seed, inputs.device)
    tuned, predicted = embed(model, held_rows, pad, config.eval_batch_size, inputs.device, config.progress)
    result = {"sample": sample, "losses": losses, "accuracy": accuracy(predicted, sample.held_out_labels,
                                                                        sample.langs)}
    for encoder_name, vectors in (("lid", tuned), ("plain", plain)):
        clusters = ward_clusters(vectors, config.k)
        result[encoder_name] = {"vectors": vectors, "clusters": clusters,
                                "groups": language_groups(clusters, sample.held_out_labels, sample.langs, config.k)}
        log.info("seed %d cap %d, %s: groups %s", seed, cap, ENCODERS[encoder_name],
                 result[encoder_name]["groups"]["groups"])
    log.info("seed %d cap %d: LID accuracy %s", seed, cap, result["accuracy"]["overall"])
    return result


def write_setting(folder: Path, config: ClusterConfig, result: dict, seed: int, cap: int,
                  figures: bool = True) -> None:
    """A setting's groups.json and lid_accuracy.json (and, with ``figures``, its map and dendrogram PNGs)."""
    sample: Sample = result["sample"]
    held, trained = sample.counts(sample.held_out_labels), sample.counts(sample.train_labels)
    for encoder_name, where in (("lid", folder), ("plain", folder / "baseline")):
        part = result[encoder_name]
        write_json(where / "groups.json", {
            "encoder": ENCODERS[encoder_name], "model": config.model, "seed": seed, "cap": cap, "k": config.k,
            "langs": sample.langs, "sentences": held, **part["groups"]})
        if not figures:
            continue
        title = f"{ENCODERS[encoder_name]}, seed {seed}, cap {cap}"
        map_png(where / "map.png", part["vectors"], sample.held_out_labels, part["clusters"], sample.langs,
                config.map, seed, title)
        dendrogram_png(where / "dendrogram.png", part["vectors"], sample.held_out_labels, sample.langs, config.k,
                       title)
    write_json(folder / "lid_accuracy.json", {**result["accuracy"], "epoch_losses": result["losses"],
                                              "train_sentences": trained, "held_out_sentences": held,
                                              "seed": seed, "cap": cap})


def setting_key(config: ClusterConfig, inputs: Inputs) -> dict:
    """Everything that determines a setting's result: the configuration (runtime fields aside), the kind of
    device, the model's weights and every sentence read."""
    return {"cluster": {name: value for name, value in to_dict(config).items() if name not in RUNTIME},
            "device": inputs.device.type, "model": model_key(config.model), "data": digest(inputs.pools)}


def setting_record(result: dict, seed: int, cap: int) -> dict:
    """What the report needs of a finished setting (JSON)."""
    return {"seed": seed, "cap": cap, "langs": result["sample"].langs, "lid": result["lid"]["groups"],
            "plain": result["plain"]["groups"], "accuracy": result["accuracy"]}


def run(config: ClusterConfig, out, overwrite: bool = False) -> dict:
    """The whole study into ``out``, resuming a killed run's finished settings; returns the contents of
    ``stability.json``."""
    inputs = read_inputs(config)
    out = Path(out)
    if claim(out, {"cluster": to_dict(config)}, overwrite, finished="summary.md") == "reuse":
        shutil.rmtree(out / CHUNKS, ignore_errors=True)  # left only by a run killed after summary.md
        log.info("reusing the finished clustering in %s", out)
        return json.loads((out / "stability.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    save_configs(out / "config.json", cluster=config)
    handler = attach_log(out)
    try:
        torch.set_num_threads(config.threads)
        grid = [(seed, cap) for cap in int_list(config.caps, "--caps") for seed in int_list(config.seeds, "--seeds")]

        def compute(index: int) -> dict:
            seed, cap = grid[index]
            result = cluster_setting(config, inputs, seed, cap)
            write_setting(out if index == 0 else out / "stability" / f"seed{seed}-cap{cap}", config, result, seed,
                          cap, figures=index == 0)
            return setting_record(result, seed, cap)

        def decode(record: dict, index: int) -> dict:
            parts = [record["langs"], record["lid"]["majority"], record["plain"]["majority"],
                     record["accuracy"]["per_language"]]
            if [record["seed"], record["cap"]] != list(grid[index]) or not all(parts) or "overall" not in \
                    record["accuracy"]:
                raise ValueError("not the record of this setting")
            return record

        cache = ChunkCache(out / CHUNKS / "settings", setting_key(config, inputs))
        records = cache.results(len(grid), compute, decode=decode, log=log, name="setting")
        settings = {f"seed{r['seed']}-cap{r['cap']}": {"seed": r["seed"], "cap": r["cap"],
                                                      "lid": r["lid"]["majority"], "plain": r["plain"]["majority"],
                                                      "lid_accuracy": r["accuracy"]["overall"]} for r in records}
        report = stability(settings)
        write_json(out / "stability.json", report)
        write_text(out / "summary.md", summary_markdown(config, records[0], report))
        shutil.rmtree(out / CHUNKS, ignore_errors=True)
        return report
    finally:
        logging.getLogger("zsner").removeHandler(handler)
        handler.close()
