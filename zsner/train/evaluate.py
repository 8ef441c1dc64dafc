"""Decode a corpus with a tagger and score it: predictions as tag strings plus span metrics."""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..data.batches import EncodedCorpus, sequential_order
from ..data.tags import convert
from ..device import model_device, to_device, to_host
from ..evaluation import span_metrics


@torch.no_grad()
def predict(model, corpus: EncodedCorpus, tag_names: list[str], batch_size: int = 256, device=None,
            progress: bool = False, desc: str = "decode") -> list[list[str]]:
    """Viterbi tags (IOBES strings) for every sentence, in corpus order; batches go to ``device`` (default: the
    model's), paths come back through ``to_host`` once per batch."""
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    paths: list = [None] * len(corpus)
    batches = sequential_order(corpus.lengths, batch_size)
    for indices in tqdm(batches, desc=desc, disable=not progress, leave=False):
        decoded = to_host(model.decode(to_device(corpus.batch(indices), device)))
        for row, index in enumerate(indices):
            paths[index] = decoded[row, : corpus.lengths[index]]
    model.train(was_training)
    names = np.asarray(tag_names, dtype=object)
    return [names[path].tolist() for path in paths]


def evaluate(model, corpus: EncodedCorpus, tag_names: list[str], batch_size: int = 256, device=None,
             progress: bool = False, desc: str = "evaluate"):
    """``(metrics, predictions)``: span metrics against the corpus's gold tags and the predicted tags."""
    predicted = predict(model, corpus, tag_names, batch_size, device, progress, desc)
    gold = [sentence.tags for sentence in corpus.sentences]
    return span_metrics(gold, predicted), [convert(tags, "iob2") for tags in predicted]
