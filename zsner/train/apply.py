"""Apply a trained tagger: to another language's vectors (cross-lingual), to a labelled set, or to raw text.

Two kinds of model files: a monolingual tagger (``zsner train``; other languages go through ``retarget``) and a
transfer model (``zsner transfer``: a joint ``"<lang>:<word>"`` vocabulary over the common space, tagger or
Cross-Augmented). A transfer model reads text of its source or target language; ``--embeddings`` (that
language's vectors in the common space, e.g. the mapping's ``tgt.mapped.vec``) adds the words it has not seen."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..atomic import write_json
from ..data.batches import EncodedCorpus
from ..data.conll import Sentence, write_conll
from ..data.vocab import Vocabulary, build_word_vocab, embedding_matrix
from ..device import resolve_device, to_device
from ..embeddings import WordVectors
from ..errors import ZsnerError
from .model_io import load_model, model_file
from .prepare import load_language_vectors, read_splits


def check_dimension(model, vectors: WordVectors) -> None:
    if vectors.dim != model.encoder.config.word_dim:
        raise ZsnerError(f"vectors of dimension {vectors.dim}, but the model's word table has "
                         f"{model.encoder.config.word_dim}", vectors.source or None)


def retarget(model, vocabs, sentences: list[Sentence], vectors: WordVectors) -> Vocabulary:
    """Give the model a word table for new text: every word of ``sentences`` that has a vector in ``vectors``
    (e.g. target-language vectors mapped into the source space). Returns the new word vocabulary."""
    check_dimension(model, vectors)
    words = build_word_vocab([], [w for s in sentences for w in s.words], vectors)
    matrix, _ = embedding_matrix(words, vectors, model.encoder.config.word_dim)
    model.encoder.set_word_embeddings(torch.from_numpy(matrix))
    vocabs.words = words
    return words


def extend(model, vocabs, sentences: list[Sentence], vectors: WordVectors, prefix: str) -> int:
    """Add the words of ``sentences`` that ``vectors`` knows to a joint vocabulary under ``prefix`` (rows already
    there keep their vectors). Returns the number of words added."""
    check_dimension(model, vectors)
    words = vocabs.words
    before = len(words)
    build_word_vocab([], [w for s in sentences for w in s.words], vectors, words, prefix)
    table = model.encoder.word_embedding.weight.detach().cpu().numpy()
    added = np.zeros((len(words) - before, table.shape[1]), dtype=np.float32)
    for row, entry in enumerate(words.items[before:]):
        added[row] = vectors.vector(entry[len(prefix):])
    matrix = torch.from_numpy(np.concatenate([table, added]))
    model.encoder.set_word_embeddings(matrix)
    if hasattr(model, "target_encoder"):  # Cross-Augmented: one table shared by both encoders
        model.target_encoder.word_embedding = model.encoder.word_embedding
    return len(words) - before


def open_model(model_path, lang: str | None):
    """The model and the vocabulary prefix for text of ``lang`` (a transfer model must know the language)."""
    model, vocabs, config, archive = load_model(model_path)
    if not archive.get("tgt"):
        return model, vocabs, config, archive, ""
    lang = lang or archive["tgt"]
    if lang not in (archive["lang"], archive["tgt"]):
        raise ZsnerError(f"this transfer model reads {archive['lang']} and {archive['tgt']}, not {lang}",
                         model_file(model_path))
    return model, vocabs, config, archive, f"{lang}:"


def text_vectors(archive: dict, prefix: str, lang: str | None, embeddings: str, data_dir=None) -> WordVectors | None:
    """The vectors that text of ``lang`` needs: ``embeddings`` for a transfer model (``prefix``: its language); for a
    monolingual model ``embeddings``, or ``lang``'s own vectors when it is another language than the model's. None:
    the model's table serves as it is."""
    if prefix:
        return load_language_vectors(prefix[:-1], embeddings, 0, data_dir) if embeddings else None
    if embeddings or (lang and lang != archive.get("lang")):
        return load_language_vectors(lang or "", embeddings, 0, data_dir)
    return None


def cover(model, vocabs, prefix: str, sentences: list[Sentence], vectors: WordVectors | None) -> None:
    """Give the model ``vectors`` for the words of ``sentences``: added to a transfer model's joint vocabulary under
    ``prefix``, or a monolingual model's table swapped for them (nothing without ``vectors``)."""
    if vectors is None:
        return
    if prefix:
        extend(model, vocabs, sentences, vectors, prefix)
    else:
        retarget(model, vocabs, sentences, vectors)


def _adapt(loaded, sentences: list[Sentence], lang: str | None, embeddings: str, data_dir=None):
    """Give the model the vectors that the words of ``sentences`` need (``text_vectors``)."""
    model, vocabs, _, archive, prefix = loaded
    cover(model, vocabs, prefix, sentences, text_vectors(archive, prefix, lang, embeddings, data_dir))


def evaluate_language(model_path, lang: str, embeddings: str = "", out=None, data_dir=None, threads: int = 1,
                      device: str = "auto", progress: bool = True) -> dict:
    """Dev and test metrics of a trained model on ``lang``; predictions and metrics written to ``out``."""
    from .evaluate import evaluate  # seqeval (and scikit-learn) only where something is scored

    device = resolve_device(device)
    torch.set_num_threads(threads)
    loaded = open_model(model_path, lang)
    model, vocabs, config, _, prefix = loaded
    splits = read_splits(lang, data_dir=data_dir)
    del splits["train"]
    _adapt(loaded, splits["dev"] + splits["test"], lang, embeddings, data_dir)
    model = to_device(model, device)
    out = Path(out) if out else (Path(model_path) if Path(model_path).is_dir() else Path(model_path).parent)
    results = {}
    for split, sentences in splits.items():
        corpus = EncodedCorpus(sentences, vocabs.words, vocabs.chars, vocabs.tags, config.max_word_length, prefix=prefix)
        metrics, predicted = evaluate(model, corpus, vocabs.tags.items, progress=progress, desc=f"evaluate {split}")
        write_conll(out / f"predictions.{lang}.{split}.conll", sentences, predicted)
        results[split] = metrics
    write_json(out / f"metrics.{lang}.json", results)
    return results
