"""The prepared pair: what every run of one (source, target, word space) shares beyond the mapping — the joint
vocabularies, the embedding matrix and the six encoded corpora — built once into ``CACHE/prepared/SRC-TGT-KEY/`` and
loaded by every later run, grid task and gather of that pair in a fraction of a second.

Safe format: JSON (vocabularies, string tables) and NumPy arrays read with ``allow_pickle=False``. Like the mapping
cache, an entry is built under its lock into a temporary folder that is renamed when complete, and its key is a
hash of everything the data depends on: the six CoNLL files' contents and their reading rules, the sentence limits,
the word space (the mapped vectors' folder and files, or the monolingual vectors' contents), the tagger's word
dimension and longest word, and ``FORMAT`` (raised whenever the preparation's code changes what it builds). Only
the pretrained rows of the matrix are stored: the others are drawn from the run's seed on loading, exactly as a
build with that seed draws them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, build_lock, write_json
from ..chunks import add_vectors_file, file_digest, file_key
from ..config import TaggerConfig, TrainConfig
from ..errors import ZsnerError
from ..data.batches import EncodedCorpus
from ..jsonfile import read_json
from ..resources import dataset
from ..timings import StepTimes
from ..train.prepare import Vocabs
from .data import CrossData, log_vocabulary, prepare_crosslingual
from .inputs import TransferInputs

log = logging.getLogger("zsner")
FORMAT = 1
FILES = ("meta.json", "strings.json", "matrix.npy", "corpora.npz")


def prepared_folder(inputs: TransferInputs, mode: str, tagger: TaggerConfig, space: Path | None,
                    target_emb: str, cache_dir) -> Path:
    """The cache entry of this preparation (``space``: the mapped vectors' folder; None: monolingual vectors)."""
    sha = hashlib.sha256()
    identity = {"format": FORMAT, "src": inputs.src, "tgt": inputs.tgt, "limits": inputs.limits,
                "word_dim": tagger.word_dim, "max_word_length": tagger.max_word_length,
                "datasets": [dataclasses.asdict(dataset(lang)) for lang in (inputs.src, inputs.tgt)]}
    if mode == "mono":
        identity["vectors"] = ["monolingual", target_emb]
        kept = inputs.vector_files if target_emb != "random" else inputs.vector_files[:1]
        for path in kept:
            add_vectors_file(sha, path)
    else:
        identity["vectors"] = [file_key(Path(space) / f"{side}.mapped.vec") for side in ("src", "tgt")]
    sha.update(json.dumps(identity, sort_keys=True).encode())
    for (side, split), path in sorted(inputs.split_files.items()):
        sha.update(f"{side}/{split}\0".encode() + file_digest(path))
    return Path(cache_dir) / "prepared" / f"{inputs.src}-{inputs.tgt}-{sha.hexdigest()[:16]}"


def is_prepared(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def prepared_data(inputs: TransferInputs, mode: str, train: TrainConfig, tagger: TaggerConfig, space: Path | None,
                  target_emb: str, cache_dir, times: StepTimes | None = None) -> CrossData:
    """The variant's ``CrossData`` for ``train.seed``: loaded from the cache, or built (then stored) under the
    entry's lock, so that runs started together build it once."""
    times = times or StepTimes()
    folder = prepared_folder(inputs, mode, tagger, space, target_emb, cache_dir)
    with build_lock(folder):
        if is_prepared(folder):
            with times.step("prepared_load"):
                data = load_prepared(folder, train.seed)
            log.info("prepared data: reusing %s", folder)
            return data
        data = prepare_crosslingual(inputs, mode, train, tagger, space, target_emb, times)
        with times.step("prepared_save"):
            save_prepared(data, folder)
    return data


def save_prepared(data: CrossData, folder: Path) -> None:
    """``data`` into ``folder`` (built beside it, then renamed: a reader sees a whole entry or none)."""
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        arrays, strings = {}, {}
        for name, corpus in data.corpora.items():
            corpus_arrays, strings[name] = corpus.to_arrays()
            arrays.update({f"{name}/{key}": value for key, value in corpus_arrays.items()})
        pretrained = data.pretrained
        write_json(building / "meta.json", {"format": FORMAT, "src": data.src, "tgt": data.tgt,
                                            "vocabs": data.vocabs.to_dict(), "coverage": data.coverage,
                                            "pretrained": np.flatnonzero(pretrained).tolist(),
                                            "found": _found(data),
                                            "corpora": list(data.corpora)})
        write_json(building / "strings.json", strings)
        _save_arrays(building / "matrix.npy", np.save, data.embeddings[pretrained])
        _save_arrays(building / "corpora.npz", np.savez, **arrays)
        building.rename(folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    log.info("prepared data: stored in %s", folder)


def _save_arrays(path: Path, save, *args, **kwargs) -> None:
    with atomic_open(path, "wb") as handle:
        save(handle, *args, **kwargs)


def load_prepared(folder: Path, seed: int) -> CrossData:
    """The entry's data, its rows without a vector drawn for ``seed``."""
    meta = read_json(folder / "meta.json", "prepared data")
    strings = read_json(folder / "strings.json", "prepared data")
    vocabs = Vocabs.from_dict(meta["vocabs"])
    rows = np.array(meta["pretrained"], dtype=np.int64)
    try:
        stored = np.load(folder / "matrix.npy", allow_pickle=False)
        with np.load(folder / "corpora.npz", allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as err:
        raise ZsnerError(f"unreadable prepared data ({err}); delete the folder to rebuild it", folder) from None
    matrix = np.zeros((len(vocabs.words), stored.shape[1]), dtype=np.float32)
    matrix[rows] = stored
    pretrained = np.zeros(len(vocabs.words), dtype=bool)
    pretrained[rows] = True
    corpora = {}
    for name in meta["corpora"]:
        prefix = f"{name}/"
        corpora[name] = EncodedCorpus.from_arrays(
            {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}, strings[name])
    data = CrossData(vocabs, matrix, corpora, meta["coverage"], meta["src"], meta["tgt"], pretrained).for_seed(seed)
    log_vocabulary(vocabs, tuple(meta["found"]), data.src, data.tgt, data.coverage)
    return data


def _found(data: CrossData) -> list[int]:
    """Rows with a vector, per side (what the build logged)."""
    sides = np.array([word.split(":", 1)[0] for word in data.vocabs.words.items])
    return [int((data.pretrained & (sides == lang)).sum()) for lang in (data.src, data.tgt)]
