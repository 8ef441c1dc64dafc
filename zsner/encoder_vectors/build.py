"""From a loaded encoder and words to a normalised vectors matrix, its record, and files (also cached per language
for the transfer pipeline's ``--vectors encoder``)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..atomic import build_lock, write_error, write_json
from ..errors import ZsnerError
from .cache import ChunkCache
from .extract import Encoder, in_context, isolated, unit_centre_unit, unit_length
from .layer import best_layer, layer_scores

log = logging.getLogger("zsner.vectors")
OUTPUT_SUFFIXES = (".vec", ".vec.gz", ".kv")


def load_encoder(path: str, device: str = "cpu") -> Encoder:
    from ..transformer.align import PieceTokenizer
    from ..transformer.model import load_pretrained

    tokenizer, model = load_pretrained(path)
    try:
        tokens = PieceTokenizer(tokenizer)
    except ValueError as err:
        raise ZsnerError(f"unusable tokenizer: {err}", path) from None
    return Encoder(tokens, model.eval().to(device), device)


def language_words(lang: str, data_dir=None) -> list[str]:
    """The default words of a language: its vectors' vocabulary, then its NER word types (lowercased)."""
    from ..embeddings import load_vectors
    from ..resources import embedding_path
    from .words import default_words

    return default_words(lang, load_vectors(embedding_path(lang, data_dir)), data_dir)


def model_key(path: str) -> dict:
    """What identifies the encoder's weights: folder, file names, sizes and times."""
    folder = Path(path).expanduser().resolve()
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return {"model": str(folder), "weights": [[w.name, w.stat().st_size, int(w.stat().st_mtime)] for w in weights]}


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def choose_layer(encoder: Encoder, words: list[str], reference: list[str], batch_size: int = 256,
                 progress: bool = True) -> tuple[int, list[dict]]:
    """The layer whose isolated vectors of ``words`` and ``reference`` (the other language's most frequent words)
    meet best by the unsupervised criterion, and the criterion of every layer."""
    every = list(range(encoder.layers + 1))
    rows = layer_scores(isolated(words, encoder, every, batch_size=batch_size, progress=progress),
                        isolated(reference, encoder, every, batch_size=batch_size, progress=progress))
    layer = best_layer(rows)
    log.info("layer auto: %d (criterion per layer %s)", layer, [row["criterion"] for row in rows])
    return layer, rows


def build_vectors(encoder: Encoder, model_path: str, words: list[str], layer: int, contexts=(), cache_dir=None,
                  max_contexts: int = 10, batch_size: int = 256, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Normalised ``[len(words), dim]`` vectors at ``layer`` (context means where ``contexts`` show the word,
    isolated states elsewhere) and a record of how they were made. Finished chunks go to ``cache_dir``."""
    started = time.perf_counter()
    cache = None
    if cache_dir is not None:
        key = {**model_key(model_path), "words": _digest(words), "count": len(words), "layers": [layer]}
        cache = ChunkCache(Path(cache_dir) / _digest(key), key)
    matrix = isolated(words, encoder, [layer], cache, batch_size, progress=progress)[0]
    record = {"model": str(Path(model_path).expanduser()), "layer": layer, "words": len(words),
              "dim": int(matrix.shape[1]), "contexts": {"sentences": len(contexts), "max_occurrences": max_contexts}}
    if contexts:
        states, seen = in_context(words, list(contexts), encoder, [layer], max_contexts,
                                  batch_size=max(1, batch_size // 8), progress=progress)
        # both kinds are brought to unit length before they are mixed; unseen words keep their isolated vector
        matrix = np.where(seen[:, None] > 0, unit_length(states[0]), unit_length(matrix))
        record["contexts"].update(words_seen=int((seen > 0).sum()), occurrences=int(seen.sum()))
    record["seconds"] = round(time.perf_counter() - started, 1)
    if cache is not None:
        cache.remove()
    return unit_centre_unit(matrix), record


def write_vectors(out, words: list[str], matrix: np.ndarray, record: dict) -> None:
    """``.vec``/``.vec.gz`` text or a gensim ``.kv``, atomically, and ``OUT.json`` with the record."""
    from ..embeddings import save_vec

    out = Path(out)
    if out.name.endswith(".kv"):
        _save_kv(out, words, matrix)
    else:
        save_vec(out, words, matrix)
    write_json(Path(str(out) + ".json"), record)


def _save_kv(out: Path, words: list[str], matrix: np.ndarray) -> None:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(matrix.shape[1], dtype=np.float32)
    kv.add_vectors(words, matrix)
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        kv.save(str(staging))
        for produced in sorted(out.parent.glob(staging.name + "*")):  # the .kv and, when large, its .vectors.npy
            os.replace(produced, out.parent / (out.name + produced.name[len(staging.name):]))
    except OSError as err:  # a full disk: one line, and no staging file left behind
        for produced in out.parent.glob(staging.name + "*"):
            produced.unlink(missing_ok=True)
        raise write_error(out, err) from None


def ensure_vectors(lang: str, model_path: str, layer: int, cache_dir, data_dir=None, device: str = "cpu",
                   progress: bool = True, contexts: bool = False) -> Path:
    """The language's default words embedded at ``layer``, computed once per (model, words, layer, contexts) and
    reused: ``cache_dir/vectors/LANG-KEY.vec``. ``contexts``: averaged over the language's NER training sentences
    (words only, no tags)."""
    from .words import read_contexts

    words = language_words(lang, data_dir)
    sentences = read_contexts(f"{lang}:train", data_dir) if contexts else []
    identity = {**model_key(model_path), "words": _digest(words), "layer": layer}
    if contexts:
        identity["contexts"] = _digest(sentences)
    key = _digest(identity)
    out = Path(cache_dir) / "vectors" / f"{lang}-L{layer}{'-ctx' if contexts else ''}-{key}.vec"
    with build_lock(out):
        if out.is_file() and Path(str(out) + ".json").is_file():
            log.info("encoder vectors: reusing %s", out)
            return out
        encoder = load_encoder(model_path, device)
        if layer > encoder.layers:
            raise ZsnerError(f"layer {layer} does not exist: the encoder has {encoder.layers} layers", model_path)
        log.info("encoder vectors: %d %s words at layer %d into %s", len(words), lang, layer, out)
        matrix, record = build_vectors(encoder, model_path, words, layer, sentences, out.parent / "chunks",
                                       progress=progress)
        write_vectors(out, words, matrix, {**record, "lang": lang})
    return out
