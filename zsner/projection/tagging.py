"""The source side's entities: a trained tagger from a transformer run folder (its ``checkpoints/zero-shot.src-dev.pt``)
or a classic one (``zsner train`` / ``zsner transfer`` folder or model file), applied to tokenised sentences."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..data.conll import Sentence
from ..data.tags import convert
from ..errors import ZsnerError

log = logging.getLogger("zsner.projection")
TRANSFORMER_CHECKPOINT = "checkpoints/zero-shot.src-dev.pt"


@dataclass
class TaggerFile:
    """Which kind of tagger a path holds and its model file; ``base_model`` is a transformer's encoder folder."""

    kind: str  # transformer | classic
    file: Path
    base_model: str = ""


def find_tagger(path: str) -> TaggerFile:
    """Resolve ``--tagger`` (a run folder or a model file); a transformer checkpoint is read (tensors only) to
    find its base encoder folder."""
    from ..train.model_io import model_file, read_torch_file

    given = Path(path)
    if not given.exists():
        raise ZsnerError("no such tagger run folder or model file", given)
    candidate = given / TRANSFORMER_CHECKPOINT if given.is_dir() else given
    if candidate.is_file():
        archive = read_torch_file(candidate)
        if isinstance(archive, dict) and archive.get("format") == "zsner-transformer-1":
            config = archive.get("model_config")
            base = config.get("model", "") if isinstance(config, dict) else ""
            return TaggerFile("transformer", candidate, str(base))
    classic = model_file(given)
    if not classic.is_file():
        raise ZsnerError(f"not a tagger run folder: no {TRANSFORMER_CHECKPOINT}, best-model.pt or best-src-dev.pt",
                         given)
    return TaggerFile("classic", classic)


def tag_sentences(tagger: TaggerFile, sentences: list[list[str]], lang: str, *, model_folder: str = "",
                  embeddings: str = "", batch_size: int = 32, device="cpu", progress: bool = False) -> list[list[str]]:
    """IOB2 tags of every word of ``sentences`` (in ``lang``, the tagger's source language)."""
    tag = load_tagger(tagger, sentences, lang, model_folder=model_folder, embeddings=embeddings, device=device)
    return tag(sentences, batch_size, progress)


def load_tagger(tagger: TaggerFile, sentences: list[list[str]], lang: str, *, model_folder: str = "",
                embeddings: str = "", device="cpu") -> Callable[..., list[list[str]]]:
    """The tagger loaded once, as ``tag(some_sentences, batch_size, progress) -> IOB2 tags``; a classic tagger's
    vocabulary is given ``embeddings``' vectors for the words of all ``sentences`` first (so every part of them
    is tagged by the same model, whichever parts are tagged)."""
    if tagger.kind == "transformer":
        from ..transformer.inference import encode, predict_tags
        from ..transformer.run import load_checkpoint

        model, tokens, archive = load_checkpoint(tagger.file, model_folder)
        model.to(device)
        config = archive["model_config"]

        def tag(part: list[list[str]], batch_size: int = 32, progress: bool = False) -> list[list[str]]:
            corpus = encode(part, tokens, config["window"], config["overlap"], lang)
            return predict_tags(model, corpus, batch_size=batch_size, device=device, amp=True, progress=progress,
                                desc=f"tag {lang}")
        return tag
    return _classic_tagger(tagger.file, sentences, lang, embeddings, device)


def _classic_tagger(path: Path, sentences: list[list[str]], lang: str, embeddings: str, device):
    from ..data.batches import EncodedCorpus
    from ..train.apply import cover, open_model
    from ..train.evaluate import predict
    from ..train.prepare import load_language_vectors

    model, vocabs, config, _, prefix = open_model(path, lang)
    if embeddings:  # vectors for the words the model's vocabulary lacks
        cover(model, vocabs, prefix, [Sentence(words, ["O"] * len(words)) for words in sentences],
              load_language_vectors(lang, embeddings))
    model.to(device)

    def tag(part: list[list[str]], batch_size: int = 32, progress: bool = False) -> list[list[str]]:
        wrapped = [Sentence(words, ["O"] * len(words)) for words in part]
        corpus = EncodedCorpus(wrapped, vocabs.words, vocabs.chars, None, config.max_word_length, prefix=prefix)
        with torch.no_grad():
            predicted = predict(model, corpus, vocabs.tags.items, max(batch_size, 64), device, progress, f"tag {lang}")
        return [convert(tags, "iob2") for tags in predicted]
    return tag
