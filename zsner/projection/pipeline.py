"""`zsner project` end to end: every input read and checked first, then source tagging, alignment (similarity,
or the entity-alignment model trained on examples the similarity alignment and identical strings give),
span projection, and the output files.

Crash-safe: the run folder's ``config.json`` comes first; tagging, the similarity alignment and the entity
aligner's predictions go by chunks of ``--chunk-size`` pairs, the aligner's training as one step (its weights as
safetensors), each finished part stored atomically under ``chunks/<stage>/`` (``zsner/chunks.py``), keyed by the
configuration, the pairs, the tagger file and the encoder's weights. A rerun of a killed run loads the finished
chunks and computes the others; the outputs are assembled from the stored chunks (byte-identical to an
uninterrupted run), then ``chunks/`` is removed. ``timing.json`` holds this invocation's seconds per step and
chunks computed: the one file that differs from run to run. A user error on a fresh folder leaves nothing
(a full disk leaves the finished chunks)."""
from __future__ import annotations

import errno
import functools
import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_open, write_json
from ..chunks import ChunkCache, digest, file_key
from ..data.tags import chunks
from ..device import resolve_device
from ..encoder_vectors.build import model_key
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
from .tagging import TaggerFile, find_tagger, load_tagger

log = logging.getLogger("zsner.projection")
CHUNKS = "chunks"  # the run folder's store of finished chunks (removed once the outputs are written)
RUNTIME = ("threads", "device", "progress")  # fields that change no chunk (the device's kind is keyed apart)


def project(config: ProjectionConfig, out_dir, overwrite: bool = False, data_dir=None) -> dict:
    """Project ``config.src`` entities onto ``config.tgt`` text; returns the statistics written to ``stats.json``.
    A folder that holds a finished projection with the same configuration is reused, an unfinished one resumed."""
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
    existed = out.exists()
    state = claim(out, wanted, overwrite, finished="stats.json")
    if state == "reuse":
        shutil.rmtree(out / CHUNKS, ignore_errors=True)  # left only by a run killed after its last output file
        log.info("reusing the finished projection in %s", out)
        return json.loads((out / "stats.json").read_text(encoding="utf-8"))
    write_json(out / "config.json", wanted)
    key = chunk_key(config, pairs, lines, tagger, encoder_folder, device)
    try:
        return _project(config, out, pairs, lines, tagger, encoder_folder, device, key)
    except ZsnerError as err:
        full = getattr(err.__context__, "errno", None) in (errno.ENOSPC, errno.EDQUOT)  # a failed write (atomic.py)
        if state == "fresh" and not full:  # nothing of a run that cannot finish stays behind; a full disk keeps
            shutil.rmtree(out / CHUNKS, ignore_errors=True)  # the finished chunks for a rerun once there is room
            (out / "config.json").unlink(missing_ok=True)
            if not existed and not any(out.iterdir()):
                out.rmdir()
        raise


def chunk_key(config: ProjectionConfig, pairs: list[Pair], lines: int, tagger: TaggerFile, encoder_folder: str,
              device) -> dict:
    """Everything that determines the chunks: the configuration (runtime fields aside), the kind of device, the
    pairs used, the tagger file (and a transformer tagger's base weights), its extra vectors and the encoder."""
    return {"projection": {name: value for name, value in asdict(config).items() if name not in RUNTIME},
            "device": torch.device(device).type, "pairs": digest([[p.line, p.src, p.tgt] for p in pairs]),
            "pairs_in_files": lines, "tagger": file_key(tagger.file),
            "tagger_base": model_key(tagger.base_model) if tagger.base_model else None,
            "tagger_embeddings": file_key(config.tagger_embeddings) if config.tagger_embeddings else None,
            "encoder": model_key(encoder_folder)}


def _project(config: ProjectionConfig, out: Path, pairs: list[Pair], lines: int, tagger: TaggerFile,
             encoder_folder: str, device, key: dict) -> dict:
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    ranges = [(first, min(first + config.chunk_size, len(pairs))) for first in range(0, len(pairs), config.chunk_size)]
    stages: dict[str, ChunkCache] = {}

    def stage(name: str) -> ChunkCache:
        stages[name] = ChunkCache(out / CHUNKS / name, {**key, "stage": name})
        return stages[name]

    log.info("tagging %d %s sentences with the %s tagger %s (%d chunks)", len(pairs), config.src, tagger.kind,
             tagger.file, len(ranges))
    sources = [pair.src for pair in pairs]
    loaded = functools.cache(lambda: load_tagger(tagger, sources, config.src, embeddings=config.tagger_embeddings,
                                                 device=device))

    def tag_chunk(chunk: int) -> list[list[str]]:
        first, last = ranges[chunk]
        return loaded()(sources[first:last], config.batch_size, config.progress)

    tags = _joined(stage("tag").results(len(ranges), tag_chunk, decode=_tags_decoder(pairs, ranges), log=log,
                                        name="tag"))
    entities = [chunks(row) for row in tags]
    seconds["tag"] = _lap(started)

    heldout = held_out(len(pairs), config.heldout_share, config.seed)
    needed = [bool(spans) and (config.aligner == "similarity" or k not in heldout) for k, spans in enumerate(entities)]
    similar = similarity_projections(stage("similarity"), ranges, pairs, entities, needed, encoder_folder, config,
                                     device)
    seconds["similarity"] = _lap(started, seconds)
    stats: dict = {"src": config.src, "tgt": config.tgt, "aligner": config.aligner, "encoder": encoder_folder,
                   "tagger": str(tagger.file), "pairs_in_files": lines}
    if config.aligner == "similarity":
        projections = similar
    else:
        projections, stats["aligner_training"] = entity_projections(stage, ranges, pairs, entities, similar, heldout,
                                                                    encoder_folder, config, device, seconds, started)
    kept, counts = assemble(pairs, entities, projections, config.keep_empty, config.cased_only)
    if not kept:
        raise ZsnerError("no sentence survived the projection (no pair kept); nothing written", out)
    stats.update(counts)
    stats["identical_string_precision"] = {
        "all": identical_precision(pairs, entities, projections, range(len(pairs))),
        "heldout": identical_precision(pairs, entities, projections, sorted(heldout))}
    stats["device"] = str(device)
    seconds["total"] = round(time.perf_counter() - started, 1)
    write_json(out / "timing.json", {"seconds": seconds, "chunks": {
        name: {"computed": len(cache.computed), "of": len(ranges) if name != "aligner" else 1}
        for name, cache in stages.items()}})
    write_outputs(out, kept, stats, review_table(pairs, entities, projections), config.dev_share, config.seed)
    shutil.rmtree(out / CHUNKS, ignore_errors=True)
    log.info("kept %d of %d sentences (%d dropped); written to %s", stats["sentences"]["kept"], len(pairs),
             stats["sentences"]["dropped"], out)
    return stats


def _joined(parts: list[list]) -> list:
    return [row for part in parts for row in part]


def _tags_decoder(pairs: list[Pair], ranges):
    def decode(stored, chunk: int) -> list[list[str]]:
        first, last = ranges[chunk]
        if len(stored) != last - first or any(len(row) != len(pairs[k].src) for k, row in enumerate(stored, first)):
            raise ValueError("a tag chunk of other pairs")
        return stored
    return decode


def _encode_projections(rows: list[list[Projection] | None]) -> list:
    return [None if row is None else [asdict(projection) for projection in row] for row in rows]


def _projections_decoder(ranges):
    def decode(stored, chunk: int) -> list[list[Projection] | None]:
        first, last = ranges[chunk]
        if len(stored) != last - first:
            raise ValueError("a projection chunk of other pairs")
        return [None if row is None else [Projection(**item) for item in row] for row in stored]
    return decode


def _lap(started: float, seconds: dict | None = None) -> float:
    """Seconds since ``started`` not yet attributed to an earlier step of ``seconds``."""
    return round(time.perf_counter() - started - sum((seconds or {}).values()), 1)


def held_out(count: int, share: float, seed: int) -> set[int]:
    """Pair positions kept out of the aligner's training examples (a seeded random share)."""
    return set(np.random.default_rng([seed, 1]).permutation(count)[: round(share * count)].tolist())


def similarity_projections(cache: ChunkCache, ranges, pairs: list[Pair], entities, needed: list[bool], folder: str,
                           config: ProjectionConfig, device) -> list[list[Projection] | None]:
    """SimAlign-style projections of the entities of the ``needed`` pairs (None elsewhere), by chunks of pairs."""
    encoder = functools.cache(lambda: LayerEncoder(folder, config.layer, config.window, config.overlap, device))
    log.info("aligning %d pairs (layer %d, %s)", sum(needed), config.layer, config.method)

    def compute(chunk: int) -> list[list[Projection] | None]:
        first, last = ranges[chunk]
        result: list[list[Projection] | None] = [None] * (last - first)
        todo = [k for k in range(first, last) if needed[k]]
        if not todo:
            return result
        desc = f"align pairs {first + 1}-{last} of {len(pairs)}"
        sources = encoder().word_vectors([pairs[k].src for k in todo], config.batch_size, config.progress, desc)
        targets = encoder().word_vectors([pairs[k].tgt for k in todo], config.batch_size, config.progress, desc)
        for k, source, target in zip(todo, sources, targets):
            aligned = align(similarity_matrix(source, target), config.method, config.itermax_rounds,
                            config.itermax_alpha)
            result[k - first] = from_alignment(entities[k], aligned, fill_gaps=config.fill_gaps,
                                               ratio=config.length_ratio, slack=config.length_slack)
        return result

    return _joined(cache.results(len(ranges), compute, _encode_projections, _projections_decoder(ranges), log,
                                 "similarity"))


def entity_projections(stage, ranges, pairs: list[Pair], entities, similar, heldout: set[int], folder: str,
                       config: ProjectionConfig, device, seconds: dict, started: float):
    """Train the entity-alignment model on examples from the pairs outside ``heldout`` (or load the weights a
    killed run trained), then project every entity with it by chunks of pairs; returns ``(projections, training
    statistics)``."""
    train_positions = [k for k in range(len(pairs)) if k not in heldout]
    examples = build_examples([pairs[k] for k in train_positions], [entities[k] for k in train_positions],
                              [similar[k] for k in train_positions], config.aligner_examples, config.negative_share,
                              config.seed)
    origins = {name: sum(e.origin == name for e in examples) for name in ("identical", "similarity", "negative")}
    log.info("entity aligner: %d training examples %s", len(examples), origins)
    if not examples:
        raise ZsnerError("no training example for the entity aligner (no entity found on the source side)")
    trained = stage("aligner")
    state: dict = {"model": None, "training": trained.load_json(0)}

    def aligner() -> EntityAligner:
        if state["model"] is None:
            state["model"], state["training"] = trained_aligner(trained, state["training"], examples, origins,
                                                                folder, config, device)
        return state["model"]

    if state["training"] is None:  # trained here, before the predictions (as in an uninterrupted run)
        aligner()
    seconds["aligner_train"] = _lap(started, seconds)

    def compute(chunk: int) -> list[list[Projection] | None]:
        first, last = ranges[chunk]
        result: list[list[Projection] | None] = [[] if entities[k] else None for k in range(first, last)]
        queries = [(k, kind, start, end) for k in range(first, last) for kind, start, end in entities[k]]
        if not queries:
            return result
        model = aligner()
        inputs = AlignerInputs(model.tokens, [pairs[k].src[s:e] for k, _, s, e in queries],
                               [pairs[k].tgt for k, _, _, _ in queries], None, config.window, config.overlap)
        inside = inside_probabilities(model, inputs, config.batch_size, device, config.progress)
        for (k, kind, start, end), probabilities in zip(queries, inside):
            if probabilities is None:  # an entity longer than half a window
                result[k - first].append(Projection(kind, start, end, reason="length"))
                continue
            targets = {j for j, p in enumerate(probabilities) if p > config.aligner_threshold}
            result[k - first].append(project_entity(kind, start, end, targets, set(), fill_gaps=False,
                                                    ratio=config.length_ratio, slack=config.length_slack))
        for row in result:
            if row:
                mark_overlaps(row)
        return result

    projections = _joined(stage("entity").results(len(ranges), compute, _encode_projections,
                                                  _projections_decoder(ranges), log, "entity"))
    seconds["aligner_predict"] = _lap(started, seconds)
    return projections, state["training"]


def trained_aligner(cache: ChunkCache, training: dict | None, examples, origins: dict, folder: str,
                    config: ProjectionConfig, device) -> tuple[EntityAligner, dict]:
    """The entity aligner and its training statistics: the weights ``cache`` holds when its training record is
    there, else trained now and stored (weights first, the record last)."""
    from safetensors import SafetensorError
    from safetensors.torch import load, save

    seed_everything(config.seed)  # the same initial classifier whatever this process loaded before
    model = EntityAligner(folder, config.aligner_freeze_layers, max_word_pieces=min(16, config.window // 2 - 3))
    weights = cache.path("aligner.safetensors")
    if training is not None:
        try:
            model.load_state_dict(load(weights.read_bytes()))
            log.info("entity aligner: trained weights reused from %s", weights)
            return model.eval(), training
        except (OSError, RuntimeError, SafetensorError):
            log.info("entity aligner: unreadable weights in %s, training again", weights)
    inputs = AlignerInputs(model.tokens, [e.entity for e in examples], [e.target for e in examples],
                           [e.span for e in examples], config.window, config.overlap)
    training = train_aligner(model, inputs, epochs=config.aligner_epochs, lr=config.aligner_lr,
                             batch_size=config.aligner_batch_size, seed=config.seed, device=device,
                             progress=config.progress)
    training.update(examples=len(examples), by_origin=origins)
    with atomic_open(weights, "wb") as handle:  # own copies: safetensors refuses tensors that share memory
        handle.write(save({name: value.detach().cpu().clone() for name, value in model.state_dict().items()}))
    training = json.loads(cache.store_json(0, training))
    cache.computed.append(0)
    log.info("entity aligner: trained on %d examples", len(examples))
    return model, training
