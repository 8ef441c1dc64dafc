"""The classic BiLSTM-CRF as a tagging backend: word lists in, IOB2 tags and scored entities out.

An entity's score is its exact posterior under the CRF, p(y_i..y_j = the decoded B-..E- / S- tags | sentence),
from one forward-backward pass per batch (``CRF.segment_probabilities``): the probability that exactly this
entity, with this type, is there. A transfer model reads its target language unless ``lang`` names its source;
``embeddings`` (that language's vectors in the model's space, e.g. the mapping's ``tgt.mapped.vec``) give the
words that the model's vocabulary lacks their vectors, batch by batch; a monolingual model given text of another
``lang`` reads it through that language's vectors (``train.apply.text_vectors``, as ``zsner evaluate`` does).
"""
from __future__ import annotations

import torch

from ..data.batches import EncodedCorpus, sequential_order
from ..data.conll import Sentence
from ..data.tags import BatchChunker
from ..device import to_device, to_host
from ..train.apply import check_dimension, cover, open_model, text_vectors

Tagged = tuple[list[str], list[tuple[int, int, str, float]]]  # IOB2 tags; (first word, end word, type, score)


class ClassicBackend:
    kind = "classic"

    def __init__(self, model_file, lang: str | None, embeddings: str, device, batch_size: int = 256):
        self.model, self.vocabs, self.config, archive, self.prefix = open_model(model_file, lang)
        self.lang = self.prefix[:-1] if self.prefix else (lang or archive.get("lang", ""))
        self.vectors = text_vectors(archive, self.prefix, lang, embeddings)
        if self.vectors is not None:
            check_dimension(self.model, self.vectors)
        self.device, self.batch_size = device, batch_size
        self.model = to_device(self.model, device).eval()
        self.chunker = BatchChunker(list(self.vocabs.tags.items))  # paths -> IOB2 tags and entity spans

    def _cover(self, sentences: list[Sentence]) -> None:
        """Vectors for the words the vocabulary lacks (only with ``vectors``)."""
        if self.vectors is not None:
            cover(self.model, self.vocabs, self.prefix, sentences, self.vectors)
            self.model = to_device(self.model, self.device)

    @torch.no_grad()
    def tag(self, sentences: list[list[str]]) -> list[Tagged]:
        wrapped = [Sentence(words, []) for words in sentences]
        self._cover(wrapped)
        corpus = EncodedCorpus(wrapped, self.vocabs.words, self.vocabs.chars, None, self.config.max_word_length,
                               prefix=self.prefix)
        results: list = [None] * len(sentences)
        for indices in sequential_order(corpus.lengths, self.batch_size):
            batch = to_device(corpus.batch(indices), self.device)
            emissions, crf = self.model.tagging_head(batch)
            paths = crf.decode(emissions, batch.mask)
            tags, spans = self.chunker(to_host(paths), corpus.lengths[indices])
            segments = torch.tensor([(row, start, end - 1) for row, start, end, _ in spans], dtype=torch.long,
                                    device=paths.device).view(-1, 3)
            scores = crf.segment_probabilities(emissions, batch.mask, paths, segments).tolist()
            found: list[list] = [[] for _ in indices]
            for (row, start, end, kind), score in zip(spans, scores):
                found[row].append((start, end, kind, score))
            for row, index in enumerate(indices):
                results[index] = (tags[row], found[row])
        return results
