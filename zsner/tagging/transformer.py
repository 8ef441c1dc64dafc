"""A zsner transformer checkpoint as a tagging backend: word lists in, IOB2 tags and scored entities out.

Each word is read at its first sub-word, as in training. An entity's score is the product, over its words, of
the probability of that word's tag at its first sub-word: the softmax probability (softmax head) or the CRF
marginal within the word's window (CRF head). Under the softmax head that is the joint probability of the span's
tags; under the CRF it is an approximation of it. Windows of ``window`` pieces cover long sentences as in
training (``zsner.transformer.align``). ``quantize`` converts the encoder's linear layers that read a LayerNorm's
output to int8 (dynamic quantization, CPU only; see ``quantize_encoder``).
"""
from __future__ import annotations

import torch

from ..data.tags import chunks, convert
from ..errors import ZsnerError
from ..transformer.inference import encode, predict_distributions
from ..transformer.run import load_checkpoint
from .classic import Tagged


class TransformerBackend:
    kind = "transformer"

    def __init__(self, checkpoint, lang: str | None, device, batch_size: int = 64, quantize: bool = False,
                 model_folder: str = ""):
        self.model, self.tokens, archive = load_checkpoint(checkpoint, model_folder)
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


# Linear layers that read a LayerNorm's output (attention's query / key / value, the feed-forward's first layer),
# by their names in BERT / RoBERTa / XLM-R and DistilBERT. Their inputs have no outliers, so per-tensor int8 costs
# nothing measurable; the feed-forward's second layer reads GELU outputs with outliers, and int8 there cost
# multilingual-e5-small 4.9 F1 on Spanish (docs/results/tagging.md §12.3); these cost it 1.1 F1 for 1.3x the speed.
LAYER_NORM_FED = ("query", "key", "value", "intermediate.dense", "q_lin", "k_lin", "v_lin", "lin1")


def quantize_encoder(encoder):
    """``encoder`` with its LayerNorm-fed linear layers as dynamic int8 (weights per tensor, activations per batch)."""
    names = {name for name, module in encoder.named_modules()
             if isinstance(module, torch.nn.Linear) and name.endswith(LAYER_NORM_FED)}
    if not names:
        raise ZsnerError(f"--quantize int8 knows BERT, RoBERTa, XLM-R and DistilBERT layer names; this encoder "
                         f"({type(encoder).__name__}) has none of them: tag without --quantize")
    return torch.ao.quantization.quantize_dynamic(encoder, names, dtype=torch.qint8)
