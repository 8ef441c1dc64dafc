"""Benchmark: which of a transformer encoder's linear layers can be int8 (dynamic quantization) without costing F1.

    python scripts/bench_int8.py --run runs/en-es-e5-softmax-1epoch --lang es

Each variant quantizes a set of the encoder's ``nn.Linear`` layers (by name), either with torch's dynamic int8 (one
activation scale per batch tensor; weights per tensor or per output channel) or with zsner's per-token int8
(zsner.transformer.int8: one activation scale per token, weights per output row, with or without the column
equalisation), and tags the test set given as raw text (one sentence per line) on one thread. Prints F1 by
character offsets (scripts/raw_text_f1.py) and sentences per CPU-second (``time.process_time``, stable when the
machine is shared). ``zsner tag --quantize int8`` is the "zsner per token, equalised" row.
"""
from __future__ import annotations

import argparse
import datetime
import os
import time

import torch
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

import zsner
from zsner.transformer.int8 import quantize_encoder
from bench_tag import texts_and_gold
from raw_text_f1 import predicted_spans, score

FC2 = "output.dense"  # the feed-forward's second layer (attention's output layer is attention.output.dense)
SCOPES = {
    "all": lambda name: True,
    "LayerNorm-fed (query, key, value, intermediate)": lambda name: name.endswith(
        ("query", "key", "value", "intermediate.dense")),
    "intermediate": lambda name: name.endswith("intermediate.dense"),
    "query, key, value": lambda name: name.endswith(("query", "key", "value")),
    "feed-forward second layer": lambda name: name.endswith(FC2) and "attention" not in name,
}
QCONFIGS = {"torch dynamic, weights per tensor": default_dynamic_qconfig,
            "torch dynamic, weights per channel": per_channel_dynamic_qconfig}
ZSNER = {"zsner per token": False, "zsner per token, equalised (`--quantize int8`)": True}


def quantized(encoder, scope: str, scheme: str):
    """``encoder`` with the linear layers of ``scope`` in int8 by ``scheme`` (a QCONFIGS or ZSNER key)."""
    if scheme in ZSNER:
        return quantize_encoder(encoder, equalize=ZSNER[scheme])
    names = {name for name, module in encoder.named_modules()
             if isinstance(module, torch.nn.Linear) and SCOPES[scope](name)}
    return quantize_dynamic(encoder, {name: QCONFIGS[scheme] for name in names}, dtype=torch.qint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="transformer run folder")
    parser.add_argument("--lang", default="es")
    parser.add_argument("--limit", type=int, default=0, help="first N test sentences (0: all)")
    parser.add_argument("--only-zsner", action="store_true", help="float32 and zsner's schemes only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    texts, gold = texts_and_gold(args.lang, "test", args.limit)
    print(f"`python scripts/bench_int8.py --run {args.run} --lang {args.lang}`, {len(texts)} sentences, "
          f"{datetime.datetime.now():%Y-%m-%d %H:%M}, load before {os.getloadavg()[0]:.2f}\n")
    print("| layers in int8 | scheme | sent / CPU-s | F1 | F1 change |\n|---|---|---:|---:|---:|")
    baseline = None
    torch_rows = [] if args.only_zsner else [(scope, scheme) for scope in SCOPES for scheme in QCONFIGS]
    variants = [("none (float32)", None)] + torch_rows + [("all but the pooler", scheme) for scheme in ZSNER]
    for scope, scheme in variants:
        tagger = zsner.load(args.run, lang=args.lang, device="cpu")
        if scheme is not None:
            tagger.backend.model.encoder = quantized(tagger.backend.model.encoder, scope, scheme)
        list(tagger.pipe(texts[:20]))  # warm-up
        started = time.process_time()
        docs = list(tagger.pipe(texts))
        seconds = time.process_time() - started
        f1 = score(gold, predicted_spans(docs))["all"]["f1"]
        baseline = f1 if baseline is None else baseline
        print(f"| {scope} | {scheme or '–'} | {len(texts) / seconds:.1f} | {f1:.2f} | {f1 - baseline:+.2f} |",
              flush=True)
    print(f"\nload after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
