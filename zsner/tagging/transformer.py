"""A zsner transformer checkpoint as a tagging backend: word lists in, IOB2 tags and scored entities out.

Each word is read at its first sub-word, as in training. An entity's score is the product, over its words, of
the probability of that word's tag at its first sub-word: the softmax probability (softmax head) or the CRF
marginal within the word's window (CRF head). Under the softmax head that is the joint probability of the span's
tags; under the CRF it is an approximation of it. Windows of ``window`` pieces cover long sentences as in
training (``zsner.transformer.align``). ``quantize`` turns the encoder's linear layers into int8 with one
activation scale per token (CPU only; ``zsner.transformer.int8``), so no token's scale depends on its batch.
"""
from __future__ import annotations

import torch

from ..data.tags import chunks, convert
from ..errors import ZsnerError
from ..transformer.inference import encode, predict_distributions
from ..transformer.int8 import quantize_encoder
from ..transformer.run import load_checkpoint
from .classic import Tagged


class TransformerBackend:
    kind = "transformer"

    def __init__(self, checkpoint, lang: str | None, device, batch_size: int = 64, quantize: bool = False,
                 model_folder: str = ""):
        self.model, self.tokens, archive = load_checkpoint(checkpoint, model_folder, cached_tokenizer=True)
        self.model_config = archive["model_config"]
        self.lang = lang or ""
        self.device, self.batch_size = device, batch_size
        if quantize:
            if torch.device(device).type != "cpu":
                raise ZsnerError("--quantize int8 runs on the CPU only (use --device cpu)")
            self.model.encoder = quantize_encoder(self.model.encoder)
        self.model = self.model.to(device).eval()
        self.tags = list(self.model.tags)
        self.index = {tag: position for position, tag in enumerate(self.tags)}

    def tag(self, sentences: list[list[str]]) -> list[Tagged]:
        corpus = encode(sentences, self.tokens, self.model_config["window"], self.model_config["overlap"],
                        self.lang)
        amp = torch.device(self.device).type == "cuda"
        results = []
        for words in predict_distributions(self.model, corpus, self.batch_size, self.device, amp):
            names = convert([self.tags[best] for best, _ in words], self.model_config["scheme"])
            probability = [float(distribution[self.index[name]]) for name, (_, distribution) in zip(names, words)]
            tags = convert(names, "iob2")
            entities = []
            for kind, start, end in chunks(tags):
                score = 1.0
                for position in range(start, end):
                    score *= probability[position]
                entities.append((start, end, kind, score))
            results.append((tags, entities))
        return results
