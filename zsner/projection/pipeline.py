"""`zsner project` end to end: every input read and checked first, then source tagging, alignment (similarity,
or the entity-alignment model trained on examples the similarity alignment and identical strings give),
span projection, and the output folder written at the end (nothing is written before)."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..data.tags import chunks
from ..device import resolve_device
from ..errors import ZsnerError
from ..runs import claim
from ..train.trainer import seed_everything
from .aligner import AlignerInputs, EntityAligner, inside_probabilities, train_aligner
from .alignment import align, similarity_matrix
from .config import ProjectionConfig, validate
from .corpus import assemble, identical_precision, review_table, write_outputs
from .encoder import LayerEncoder
from .examples import build_examples
from .parallel import Pair, load_pairs, parallel_folder
from .spans import Projection, from_alignment, mark_overlaps, project_entity
from .tagging import find_tagger, tag_sentences

log = logging.getLogger("zsner.projection")
CHUNK = 1000  # pairs encoded at a time (bounds the memory of word vectors)


def project(config: ProjectionConfig, out_dir, overwrite: bool = False, data_dir=None) -> dict:
    """Project ``config.src`` entities onto ``config.tgt`` text; returns the statistics written to ``stats.json``.
    A folder that holds a finished projection with the same configuration is reused."""
    validate(config)
    folder = parallel_folder(config.parallel, config.src, config.tgt, data_dir)
    pairs, lines = load_pairs(folder, config.src, config.tgt, config.fraction, config.max_pairs, config.seed,
                              config.exclude)
    tagger = find_tagger(config.tagger)
    encoder_folder = config.model or tagger.base_model
    if not encoder_folder:
        raise ZsnerError("a classic tagger has no encoder: give --model ENCODER_FOLDER for the alignment",
                         tagger.file)
    if not (Path(encoder_folder).expanduser() / "config.json").is_file():
        raise ZsnerError("no Hugging Face model folder (config.json missing) to align with (--model)", encoder_folder)
    device = resolve_device(config.device)
    out = Path(out_dir)
    wanted = {"projection": asdict(config)}
    if claim(out, wanted, overwrite, finished="stats.json") == "reuse":
        log.info("reusing the finished projection in %s", out)
        return json.loads((out / "stats.json").read_text(encoding="utf-8"))
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    log.info("tagging %d %s sentences with the %s tagger %s", len(pairs), config.src, tagger.kind, tagger.file)
    tags = tag_sentences(tagger, [pair.src for pair in pairs], config.src, embeddings=config.tagger_embeddings,
                         batch_size=config.batch_size, device=device, progress=config.progress)
    entities = [chunks(row) for row in tags]
    seconds["tag"] = _lap(started)

    heldout = held_out(len(pairs), config.heldout_share, config.seed)
    needed = [bool(spans) and (config.aligner == "similarity" or k not in heldout) for k, spans in enumerate(entities)]
    similar = similarity_projections(pairs, entities, needed, encoder_folder, config, device)
    seconds["similarity"] = _lap(started, seconds)
    stats: dict = {"src": config.src, "tgt": config.tgt, "aligner": config.aligner, "encoder": encoder_folder,
                   "tagger": str(tagger.file), "pairs_in_files": lines}
    if config.aligner == "similarity":
        projections = similar
    else:
        projections, stats["aligner_training"] = entity_projections(pairs, entities, similar, heldout,
                                                                    encoder_folder, config, device, seconds, started)
    kept, counts = assemble(pairs, entities, projections, config.keep_empty, config.cased_only)
    if not kept:
        raise ZsnerError("no sentence survived the projection (no pair kept); nothing written", out)
    stats.update(counts)
    stats["identical_string_precision"] = {
        "all": identical_precision(pairs, entities, projections, range(len(pairs))),
        "heldout": identical_precision(pairs, entities, projections, sorted(heldout))}
    seconds["total"] = round(time.perf_counter() - started, 1)
    stats["seconds"], stats["device"] = seconds, str(device)
    write_outputs(out, wanted, kept, stats, review_table(pairs, entities, projections), config.dev_share,
                  config.seed)
    log.info("kept %d of %d sentences (%d dropped); written to %s", stats["sentences"]["kept"], len(pairs),
             stats["sentences"]["dropped"], out)
    return stats


def _lap(started: float, seconds: dict | None = None) -> float:
    """Seconds since ``started`` not yet attributed to an earlier step of ``seconds``."""
    return round(time.perf_counter() - started - sum((seconds or {}).values()), 1)


def held_out(count: int, share: float, seed: int) -> set[int]:
    """Pair positions kept out of the aligner's training examples (a seeded random share)."""
    return set(np.random.default_rng([seed, 1]).permutation(count)[: round(share * count)].tolist())


def similarity_projections(pairs: list[Pair], entities, needed: list[bool], folder: str, config: ProjectionConfig,
                           device) -> list[list[Projection] | None]:
    """SimAlign-style projections of the entities of the ``needed`` pairs (None elsewhere)."""
    result: list[list[Projection] | None] = [None] * len(pairs)
    todo = [k for k, need in enumerate(needed) if need]
    if not todo:
        return result
    encoder = LayerEncoder(folder, config.layer, config.window, config.overlap, device)
    log.info("aligning %d pairs (layer %d, %s)", len(todo), config.layer, config.method)
    for first in range(0, len(todo), CHUNK):
        chunk = todo[first:first + CHUNK]
        desc = f"align pairs {first + 1}-{first + len(chunk)} of {len(todo)}"
        sources = encoder.word_vectors([pairs[k].src for k in chunk], config.batch_size, config.progress, desc)
        targets = encoder.word_vectors([pairs[k].tgt for k in chunk], config.batch_size, config.progress, desc)
        for k, source, target in zip(chunk, sources, targets):
            aligned = align(similarity_matrix(source, target), config.method, config.itermax_rounds,
                            config.itermax_alpha)
            result[k] = from_alignment(entities[k], aligned, fill_gaps=config.fill_gaps, ratio=config.length_ratio,
                                       slack=config.length_slack)
    return result


def entity_projections(pairs: list[Pair], entities, similar, heldout: set[int], folder: str,
                       config: ProjectionConfig, device, seconds: dict, started: float):
    """Train the entity-alignment model on examples from the pairs outside ``heldout``, then project every entity
    with it; returns ``(projections, training statistics)``."""
    train_positions = [k for k in range(len(pairs)) if k not in heldout]
    examples = build_examples([pairs[k] for k in train_positions], [entities[k] for k in train_positions],
                              [similar[k] for k in train_positions], config.aligner_examples, config.negative_share,
                              config.seed)
    origins = {name: sum(e.origin == name for e in examples) for name in ("identical", "similarity", "negative")}
    log.info("entity aligner: %d training examples %s", len(examples), origins)
    if not examples:
        raise ZsnerError("no training example for the entity aligner (no entity found on the source side)")
    model = EntityAligner(folder, config.aligner_freeze_layers, max_word_pieces=min(16, config.window // 2 - 3))
    inputs = AlignerInputs(model.tokens, [e.entity for e in examples], [e.target for e in examples],
                           [e.span for e in examples], config.window, config.overlap)
    training = train_aligner(model, inputs, epochs=config.aligner_epochs, lr=config.aligner_lr,
                             batch_size=config.aligner_batch_size, seed=config.seed, device=device,
                             progress=config.progress)
    training.update(examples=len(examples), by_origin=origins)
    seconds["aligner_train"] = _lap(started, seconds)
    queries = [(k, kind, start, end) for k, spans in enumerate(entities) for kind, start, end in spans]
    inputs = AlignerInputs(model.tokens, [pairs[k].src[s:e] for k, _, s, e in queries],
                           [pairs[k].tgt for k, _, _, _ in queries], None, config.window, config.overlap)
    inside = inside_probabilities(model, inputs, config.batch_size, device, config.progress)
    projections: list[list[Projection] | None] = [[] if spans else None for spans in entities]
    for (k, kind, start, end), probabilities in zip(queries, inside):
        if probabilities is None:  # an entity longer than half a window
            projections[k].append(Projection(kind, start, end, reason="length"))
            continue
        targets = {j for j, p in enumerate(probabilities) if p > config.aligner_threshold}
        projections[k].append(project_entity(kind, start, end, targets, set(), fill_gaps=False,
                                             ratio=config.length_ratio, slack=config.length_slack))
    for row in projections:
        if row:
            mark_overlaps(row)
    seconds["aligner_predict"] = _lap(started, seconds)
    return projections, training
