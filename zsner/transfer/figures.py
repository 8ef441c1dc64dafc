"""Figures of a transfer run (PNG): the paper's Fig. 2 (target sentence length vs the share of words the
source model tags correctly) and Fig. 3 (t-SNE of entity words: monolingual, mapped, common encoder).

Every input is passed in (the monolingual vectors are loaded by the pipeline, through its search path); each PNG
is written atomically; a set too small for t-SNE gets a smaller perplexity, or no Fig. 3 with the reason logged.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_png
from ..train.evaluate import predict
from ..train.model_io import load_model

log = logging.getLogger("zsner")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def length_accuracy(model, corpus, tag_names, batch_size=256):
    """Per target sentence: (length, share of words whose predicted IOBES tag equals the gold one)."""
    from ..data.tags import convert

    predicted = predict(model, corpus, tag_names, batch_size)
    lengths, ratios = [], []
    for sentence, tags in zip(corpus.sentences, predicted):
        gold = convert(sentence.tags, "iobes")
        lengths.append(len(gold))
        ratios.append(float(np.mean([g == p for g, p in zip(gold, tags)])))
    return np.array(lengths), np.array(ratios)


def figure_length(path: Path, lengths, ratios, title: str) -> None:
    plt = _pyplot()
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, 16)).astype(int))
    centres, means = [], []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (lengths >= low) & (lengths <= high)
        if inside.any():
            centres.append((low + high) / 2)
            means.append(ratios[inside].mean())
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.scatter(lengths, ratios, s=4, alpha=0.25, label="sentences")
    axis.plot(centres, means, "r-o", markersize=3, label="mean per length bin")
    axis.set_xlabel("target sentence length (words)")
    axis.set_ylabel("ratio of correctly tagged words")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    write_png(path, figure, dpi=120)


def _entity_tokens(corpus, limit, rng):
    """(sentence index, position, type) of entity words, a random sample of at most ``limit``."""
    from ..data.tags import chunks

    found = [(i, position, kind) for i, s in enumerate(corpus.sentences) for kind, start, end in chunks(s.tags)
             for position in range(start, end)]
    chosen = rng.choice(len(found), size=min(limit, len(found)), replace=False)
    return [found[i] for i in chosen]


@torch.no_grad()
def _encoder_features(model, corpus, tokens):
    model.eval()
    sentences = sorted({i for i, _, _ in tokens})
    batch = corpus.batch(np.array(sentences))
    features = model.encoder(batch)
    row = {index: r for r, index in enumerate(sentences)}
    return np.stack([features[row[i], position].numpy() for i, position, _ in tokens])


MIN_TSNE_POINTS = 10


def figure_tsne(path: Path, panels: dict, languages: np.ndarray, kinds: list, seed: int = 0) -> None:
    """One t-SNE panel per matrix (rows: entity words); perplexity 30, or less on small sets (it must stay below
    the number of points)."""
    from sklearn.manifold import TSNE

    plt = _pyplot()
    perplexity = min(30.0, (len(languages) - 1) / 3)
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5))
    markers = {kind: marker for kind, marker in zip(sorted(set(kinds)), "os^D")}
    for axis, (title, matrix) in zip(np.atleast_1d(axes), panels.items()):
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(matrix)
        for lang, colour in zip(sorted(set(languages)), ("tab:blue", "tab:red")):
            for kind, marker in markers.items():
                keep = (languages == lang) & (np.array(kinds) == kind)
                axis.scatter(points[keep, 0], points[keep, 1], s=10, c=colour, marker=marker, alpha=0.6,
                             label=f"{lang} {kind}")
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
    np.atleast_1d(axes)[0].legend(fontsize=6, ncol=2)
    figure.tight_layout()
    write_png(path, figure, dpi=120)


def write_figures(out: Path, data, results: dict, config, mono: list | None = None, sample: int = 200) -> None:
    """Fig. 2 from the first seed's source model (src-dev selection) on target dev; Fig. 3 from its encoder.
    ``mono``: the source and target monolingual ``WordVectors`` for Fig. 3's first panel (None: no such panel)."""
    base = config.base_variant
    first = results[base][0]["seed"]
    folder = out / f"seed{first}" / (base if config.mode == "augmented" else "")
    model = load_model(folder / "best-src-dev.pt", data.embeddings)[0]
    tag_names = data.vocabs.tags.items
    lengths, ratios = length_accuracy(model, data.corpora["tgt-dev"], tag_names)
    figure_length(out / "fig2_length_vs_accuracy.png", lengths, ratios,
                  f"{config.src}→{config.tgt}: source model ({base}) on {config.tgt} dev")
    rng = np.random.default_rng(0)
    src_tokens = _entity_tokens(data.corpora["src-dev"], sample, rng)
    tgt_tokens = _entity_tokens(data.corpora["tgt-dev"], sample, rng)
    if min(len(src_tokens), len(tgt_tokens)) == 0 or len(src_tokens) + len(tgt_tokens) < MIN_TSNE_POINTS:
        log.warning("Fig. 3 skipped: %d source and %d target entity words in dev, too few for t-SNE (need %d)",
                    len(src_tokens), len(tgt_tokens), MIN_TSNE_POINTS)
        return
    words = lambda corpus, tokens: [corpus.sentences[i].words[p] for i, p, _ in tokens]  # noqa: E731
    src_words, tgt_words = words(data.corpora["src-dev"], src_tokens), words(data.corpora["tgt-dev"], tgt_tokens)
    languages = np.array([config.src] * len(src_tokens) + [config.tgt] * len(tgt_tokens))
    kinds = [k for _, _, k in src_tokens + tgt_tokens]
    ids = np.concatenate([np.concatenate([data.corpora[name].word_ids[i][p:p + 1] for i, p, _ in tokens])
                          for name, tokens in (("src-dev", src_tokens), ("tgt-dev", tgt_tokens))])
    panels = {}
    if mono is not None:
        rows = [m.vector(w) for m, ws in zip(mono, (src_words, tgt_words)) for w in ws]
        zero = np.zeros(mono[0].dim, np.float32)
        panels["monolingual vectors"] = np.stack([r if r is not None else zero for r in rows])
    panels["common-space vectors" if base != "mono" else "model's word vectors"] = data.embeddings[ids]
    panels["common encoder (dense layer)"] = np.concatenate([
        _encoder_features(model, data.corpora["src-dev"], src_tokens),
        _encoder_features(model, data.corpora["tgt-dev"], tgt_tokens)])
    figure_tsne(out / "fig3_tsne_entities.png", panels, languages, kinds)
    log.info("figures written to %s", out)
