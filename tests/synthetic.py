"""A tiny generated NER language laid out like the data search path (``ner/<lang>/...``, ``embeddings/``)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

NAMES = {"PER": ["John", "Maria", "Chen", "Olga", "Ali"], "LOC": ["Paris", "Lima", "Oslo", "Cairo"],
         "ORG": ["Reuters", "Siemens", "UNESCO"], "MISC": ["German", "Olympic"]}
FILLER = ["the", "a", "visited", "said", "in", "on", "of", "with", "met", "today", "report", "and", "."]
FILES = {"en": ("eng.train", "eng.testa", "eng.testb"), "es": ("esp.train", "esp.testa", "esp.testb")}


def sentence(rng: random.Random):
    words, tags = [], []
    for _ in range(rng.randint(3, 9)):
        if rng.random() < 0.3:
            kind = rng.choice(sorted(NAMES))
            span = [rng.choice(NAMES[kind]) for _ in range(rng.randint(1, 2))]
            words += span + [rng.choice(FILLER)]  # a filler after each entity: spans are unambiguous
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(span) - 1) + ["O"]
        else:
            words.append(rng.choice(FILLER))
            tags.append("O")
    return words, tags


def write_language(root: Path, lang: str = "en", sizes=(300, 60, 60), seed: int = 0, dim: int = 20,
                   encoding: str = "utf-8") -> Path:
    """Write train/dev/test CoNLL files and a ``.vec`` file; returns ``root`` (use it as ``--data-dir``)."""
    rng = random.Random(seed)
    folder = root / "ner" / lang
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in zip(FILES[lang], sizes):
        lines = []
        for _ in range(size):
            words, tags = sentence(rng)
            lines += [f"{w} X {t}" for w, t in zip(words, tags)] + [""]
        (folder / name).write_bytes("\n".join(lines).encode(encoding))
    vocab = sorted({w for names in NAMES.values() for w in names} | set(FILLER))
    vectors = np.random.default_rng(seed).normal(size=(len(vocab), dim)).astype(np.float32)
    (root / "embeddings").mkdir(exist_ok=True)
    with open(root / "embeddings" / f"{lang}.vec", "w", encoding="utf-8") as handle:
        handle.write(f"{len(vocab)} {dim}\n")
        for word, row in zip(vocab, vectors):
            handle.write(word + " " + " ".join(f"{v:.4f}" for v in row) + "\n")
    return root


def write_wikiann(root: Path, langs=("sw", "yo", "ja", "zh"), sizes=(30, 20, 20), seed: int = 0) -> Path:
    """WikiAnn-format files ``wikiann/<code>/{train,dev,test}`` (``code:token<TAB>TAG``, PER/ORG/LOC); each
    language has filler words of its own letters (so languages are identifiable) and shares the entity names.
    Returns ``root`` (use it as ``--data-dir``)."""
    rng = random.Random(seed)
    for number, lang in enumerate(langs):
        letters = "abcdefghijklmnopqrstuvwxyz"[3 * number % 26:][:6] or "xyz"
        fillers = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 5))) for _ in range(12)]
        folder = root / "wikiann" / lang
        folder.mkdir(parents=True, exist_ok=True)
        for split, size in zip(("train", "dev", "test"), sizes):
            lines = []
            for _ in range(size):
                for _ in range(rng.randint(2, 7)):
                    if rng.random() < 0.3:
                        kind = rng.choice(["PER", "ORG", "LOC"])
                        lines += [f"{lang}:{rng.choice(NAMES[kind])}\tB-{kind}", f"{lang}:{rng.choice(fillers)}\tO"]
                    else:
                        lines.append(f"{lang}:{rng.choice(fillers)}\tO")
                lines.append("")
            (folder / split).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_transfer_pair(root: Path, en_sizes=(200, 40, 40), es_sizes=(150, 40, 40)) -> Path:
    """en and es (latin-1) as ``write_language`` writes them, and a quick identical-strings mapping between their
    vectors in ``root/mapping`` (returned), for tiny transfer runs."""
    from zsner.mapping.config import MappingConfig
    from zsner.mapping.pipeline import learn_mapping

    write_language(root, "en", sizes=en_sizes, seed=0)
    write_language(root, "es", sizes=es_sizes, seed=1, encoding="latin-1")
    mapping = root / "mapping"
    learn_mapping(root / "embeddings" / "en.vec", root / "embeddings" / "es.vec",
                  MappingConfig(init="identical", n_refinement=1, dico_max_rank=100, criterion_queries=30, csls_k=3),
                  out_dir=mapping, progress=False)
    return mapping
