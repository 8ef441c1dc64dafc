"""flair 0.15.1's BiLSTM-CRF on zsner's own batches: the peer row of scripts/bench_train.py.

    FLAIR_PYTHON scripts/bench_flair.py EXCHANGE_DIR [--threads 1 2]
Runs in flair's own environment (flair pins older ``transformers``; see bench_train.py's docstring for the
setup) and imports nothing from zsner: bench_train.py writes EXCHANGE_DIR (batches.json: the vocabulary, the
length-bucketed training batches, the dev sentences with entity spans; embeddings.npy: the word vectors).
The architecture matches zsner's: frozen 300-d word vectors + char BiLSTM 25+25 -> dropout 0.5 -> word BiLSTM
100+100 -> dropout 0.5 -> CRF, no re-projection, no word or locked dropout; SGD lr 0.1, clipping 5.0. zsner's
dense layer (200 -> 100, tanh) has no flair counterpart. Prints one JSON line per thread count.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def build(spec, matrix):
    import flair
    from flair.data import Dictionary, Sentence
    from flair.embeddings import CharacterEmbeddings, StackedEmbeddings, WordEmbeddings
    from flair.models import SequenceTagger

    flair.device = torch.device("cpu")

    def sentences(rows):
        made = []
        for tokens, spans in rows:
            sentence = Sentence(tokens)
            for kind, start, end in spans:
                sentence[start:end].add_label("ner", kind)
            made.append(sentence)
        return made

    chars = Dictionary(add_unk=True)
    for tokens, _ in spec["train"] + spec["dev"]:
        for char in sorted({c for token in tokens for c in token}):
            chars.add_item(char)
    types = Dictionary(add_unk=False)
    for kind in spec["types"]:
        types.add_item(kind)
    types.span_labels = True
    words = WordEmbeddings(None, vocab={w: i for i, w in enumerate(spec["vocab"])}, embedding_length=matrix.shape[1],
                           name="zsner-vectors")
    words.embedding.weight.data[: len(matrix)] = torch.from_numpy(matrix)
    embeddings = StackedEmbeddings([words, CharacterEmbeddings(chars, 25, 25)])
    tagger = SequenceTagger(embeddings, types, "ner", hidden_size=100, reproject_embeddings=False, dropout=0.5,
                            word_dropout=0.0, locked_dropout=0.0, tag_format="BIOES", use_crf=True)
    return tagger, sentences(spec["train"]), sentences(spec["dev"])


def measure(spec, matrix, threads, warmup):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tagger, train, dev = build(spec, matrix)
    trainable = [p for p in tagger.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    tagger.train()
    seen = 0
    for position, batch in enumerate(spec["batches"]):
        if position == warmup:
            seen, wall, cpu = 0, time.perf_counter(), time.process_time()
        sentences = [train[i] for i in batch]
        loss, _ = tagger.forward_loss(sentences)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 5.0)
        optimizer.step()
        for sentence in sentences:
            sentence.clear_embeddings()
        seen += len(batch)
    train_wall, train_cpu = seen / (time.perf_counter() - wall), seen / (time.process_time() - cpu)
    tagger.eval()
    tagger.predict(dev, mini_batch_size=spec["eval_batch_size"], label_name="predicted", embedding_storage_mode="none")
    wall, cpu = time.perf_counter(), time.process_time()
    tagger.predict(dev, mini_batch_size=spec["eval_batch_size"], label_name="predicted", embedding_storage_mode="none")
    decode_wall, decode_cpu = len(dev) / (time.perf_counter() - wall), len(dev) / (time.process_time() - cpu)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    return {"threads": threads, "params": sum(p.numel() for p in trainable), "train": train_wall,
            "train_cpu": train_cpu, "decode": decode_wall, "decode_cpu": decode_cpu, "load": load}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exchange", type=Path)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    spec = json.loads((args.exchange / "batches.json").read_text(encoding="utf-8"))
    matrix = np.load(args.exchange / "embeddings.npy")
    for threads in args.threads:
        print(json.dumps(measure(spec, matrix, threads, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
