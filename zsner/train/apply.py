"""Apply a trained tagger: to another language's vectors (cross-lingual), to a labelled set, or to raw text."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..atomic import write_json
from ..data.batches import EncodedCorpus
from ..data.conll import Sentence, read_conll, write_conll
from ..data.vocab import Vocabulary, build_word_vocab, embedding_matrix
from ..embeddings import WordVectors
from ..errors import ZsnerError
from .evaluate import evaluate, predict
from .model_io import load_model
from .prepare import load_language_vectors, read_splits


def retarget(model, vocabs, sentences: list[Sentence], vectors: WordVectors) -> Vocabulary:
    """Give the model a word table for new text: every word of ``sentences`` that has a vector in ``vectors``
    (e.g. target-language vectors mapped into the source space). Returns the new word vocabulary."""
    words = build_word_vocab([], [w for s in sentences for w in s.words], vectors)
    matrix, _ = embedding_matrix(words, vectors, model.encoder.config.word_dim)
    model.encoder.set_word_embeddings(torch.from_numpy(matrix))
    vocabs.words = words
    return words


def _prepare(model_path, sentences: list[Sentence], lang: str | None, embeddings: str, data_dir=None):
    model, vocabs, config, archive = load_model(model_path)
    if embeddings or (lang and lang != archive.get("lang")):
        retarget(model, vocabs, sentences, load_language_vectors(lang or "", embeddings, 0, data_dir))
    return model, vocabs, config


def evaluate_language(model_path, lang: str, embeddings: str = "", out=None, data_dir=None, threads: int = 1) -> dict:
    """Dev and test metrics of a trained model on ``lang``; predictions and metrics written to ``out``."""
    torch.set_num_threads(threads)
    splits = read_splits(lang, data_dir=data_dir)
    del splits["train"]
    model, vocabs, config = _prepare(model_path, splits["dev"] + splits["test"], lang, embeddings, data_dir)
    out = Path(out) if out else (Path(model_path) if Path(model_path).is_dir() else Path(model_path).parent)
    results = {}
    for split, sentences in splits.items():
        corpus = EncodedCorpus(sentences, vocabs.words, vocabs.chars, vocabs.tags, config.max_word_length)
        metrics, predicted = evaluate(model, corpus, vocabs.tags.items, progress=True, desc=f"evaluate {split}")
        write_conll(out / f"predictions.{lang}.{split}.conll", sentences, predicted)
        results[split] = metrics
    write_json(out / f"metrics.{lang}.json", results)
    return results


def read_text(path: Path, encoding: str) -> list[Sentence]:
    """One whitespace-tokenized sentence per line; blank lines are skipped."""
    try:
        lines = path.read_text(encoding=encoding).splitlines()
    except FileNotFoundError:
        raise ZsnerError("no such file", path) from None
    except UnicodeDecodeError as err:
        raise ZsnerError(f"not valid {encoding}: {err.reason}", path) from None
    sentences = [Sentence(line.split(), ["O"] * len(line.split()), number)
                 for number, line in enumerate(lines, start=1) if line.strip()]
    if not sentences:
        raise ZsnerError("no sentences found (empty file?)", path)
    return sentences


def predict_file(model_path, path: Path, conll: bool, encoding: str, embeddings: str, output: str, threads: int = 1):
    torch.set_num_threads(threads)
    sentences = read_conll(path, encoding) if conll else read_text(path, encoding)
    model, vocabs, config = _prepare(model_path, sentences, None, embeddings)
    corpus = EncodedCorpus(sentences, vocabs.words, vocabs.chars, None, config.max_word_length)
    from ..data.tags import convert

    predicted = [convert(tags, "iob2") for tags in predict(model, corpus, vocabs.tags.items)]
    if output == "-":
        for sentence, tags in zip(sentences, predicted):
            gold = sentence.tags if conll else None
            for i, word in enumerate(sentence.words):
                sys.stdout.write(" ".join([word] + ([gold[i]] if gold else []) + [tags[i]]) + "\n")
            sys.stdout.write("\n")
    elif conll:
        write_conll(output, sentences, predicted)
    else:
        write_conll(output, [Sentence(s.words, tags) for s, tags in zip(sentences, predicted)])
