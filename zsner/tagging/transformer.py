"""A zsner transformer checkpoint as a tagging backend: word lists in, IOB2 tags and scored entities out.

Each word is read at its first sub-word, as in training. An entity's score is the product, over its words, of
the probability of that word's tag at its first sub-word: the softmax probability (softmax head) or the CRF
marginal within the word's window (CRF head). Under the softmax head that is the joint probability of the span's
tags; under the CRF it is an approximation of it. Windows of ``window`` pieces cover long sentences as in
training (``zsner.transformer.align``). ``quantize`` (CPU only): ``int8`` turns the encoder's linear layers into int8
with one activation scale per token (``zsner.transformer.int8``), so no token's scale depends on its batch; ``bf16``
multiplies in bfloat16 on the CPU's AMX / AVX512-BF16 units (``zsner.transformer.bf16``).
``decode``: ``argmax`` (each word's best tag, orphan I- repaired: what the HF pipeline gives an export) or, for the
softmax head, ``viterbi`` (the constrained IOB2 Viterbi over the words' IOB2 marginals, as the teachers' ensemble
rule; a span's score is then the product of its words' IOB2 probabilities).
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from ..data.tags import chunks, convert
from ..errors import ZsnerError
from ..teachers import FLOOR, iob2_matrix, iob2_names, iob2_viterbi
from ..transformer import bf16
from ..transformer.inference import encode, predict_distributions
from ..transformer.int8 import quantize_encoder
from ..transformer.run import load_checkpoint, read_checkpoint
from .classic import Tagged
from .load import DECODINGS, QUANTIZATIONS


class TransformerBackend:
    kind = "transformer"

    def __init__(self, checkpoint, lang: str | None, device, batch_size: int = 64, quantize: str = "none",
                 model_folder: str = "", decode: str = "argmax"):
        if decode not in DECODINGS:
            raise ZsnerError(f"unknown --decode {decode!r}: use {', '.join(DECODINGS)}")
        if quantize not in QUANTIZATIONS:
            raise ZsnerError(f"unknown --quantize {quantize!r}: use {', '.join(QUANTIZATIONS)}")
        if quantize != "none" and torch.device(device).type != "cpu":
            raise ZsnerError(f"--quantize {quantize} runs on the CPU only (use --device cpu)")
        if quantize == "bf16":
            bf16.check_supported()
        archive = read_checkpoint(checkpoint)
        if decode == "viterbi" and archive["model_config"].get("head") == "crf":
            raise ZsnerError("--decode viterbi is for the softmax head: a CRF-head model decodes with its own "
                             "Viterbi already", checkpoint)
        self.model, self.tokens, _ = load_checkpoint(checkpoint, model_folder, cached_tokenizer=True, archive=archive)
        self.model_config = archive["model_config"]
        self.decode = decode
        self.lang = lang or ""
        self.device, self.batch_size = device, batch_size
        if quantize == "int8":
            self.model.encoder = quantize_encoder(self.model.encoder)
        elif quantize == "bf16":
            self.model.encoder = bf16.bf16_linears(self.model.encoder)
        self.precision = bf16.autocast if quantize == "bf16" else nullcontext
        self.model = self.model.to(device).eval()
        self.tags = list(self.model.tags)
        self.index = {tag: position for position, tag in enumerate(self.tags)}

    def tag(self, sentences: list[list[str]]) -> list[Tagged]:
        corpus = encode(sentences, self.tokens, self.model_config["window"], self.model_config["overlap"],
                        self.lang)
        amp = torch.device(self.device).type == "cuda"
        with self.precision():
            predicted = predict_distributions(self.model, corpus, self.batch_size, self.device, amp)
        decoded = self._viterbi(predicted) if self.decode == "viterbi" else map(self._argmax, predicted)
        results = []
        for tags, probability in decoded:
            entities = []
            for kind, start, end in chunks(tags):
                score = 1.0
                for position in range(start, end):
                    score *= probability[position]
                entities.append((start, end, kind, score))
            results.append((tags, entities))
        return results

    def _argmax(self, words) -> tuple[list[str], list[float]]:
        """Each word's best tag, repaired into the scheme (the HF pipeline's tags), and its probability."""
        names = convert([self.tags[best] for best, _ in words], self.model_config["scheme"])
        probability = [float(distribution[self.index[name]]) for name, (_, distribution) in zip(names, words)]
        return convert(names, "iob2"), probability

    def _viterbi(self, predicted) -> list[tuple[list[str], list[float]]]:
        """The constrained IOB2 Viterbi path over each sentence's IOB2 marginals (the teachers' ensemble rule,
        ``zsner.teachers``), and each word's IOB2 probability of its tag."""
        if not any(predicted):
            return [([], []) for _ in predicted]
        names = iob2_names(self.tags)
        lengths = np.array([len(words) for words in predicted], dtype=np.int64)
        rows = torch.stack([distribution for words in predicted for _, distribution in words]).numpy()
        probabilities = rows @ iob2_matrix(self.tags, names)
        best = iob2_viterbi(np.log(np.maximum(probabilities, FLOOR)), lengths, names)
        bounds = np.cumsum(lengths)[:-1]
        tags = np.split(np.asarray(names)[best], bounds)
        scores = np.split(probabilities[np.arange(len(best)), best].astype(np.float64), bounds)
        return [(row.tolist(), score.tolist()) for row, score in zip(tags, scores)]
