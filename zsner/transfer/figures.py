"""Figures of a transfer run (PNG): the paper's Fig. 2 (target sentence length vs the share of words the
source model tags correctly) and Fig. 3 (t-SNE of entity words: monolingual, mapped, common encoder).

Two halves: ``figure_data`` computes what the figures show (the first seed's model on target dev, the t-SNE
points) when that seed is trained, into JSON beside its model; ``draw_figures`` draws the PNGs from it, which is all
a gathering does (no torch). Every input is passed in (the monolingual vectors are loaded by the pipeline,
through its search path); each PNG is written atomically; a set too small for t-SNE gets a smaller perplexity, or
no Fig. 3 with the reason logged.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..atomic import write_png

log = logging.getLogger("zsner")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def length_accuracy(model, corpus, tag_names, batch_size=256):
    """Per target sentence: (length, share of words whose predicted IOBES tag equals the gold one)."""
    from ..data.tags import convert
    from ..train.evaluate import predict

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


def _encoder_features(model, corpus, tokens):
    import torch

    model.eval()
    sentences = sorted({i for i, _, _ in tokens})
    batch = corpus.batch(np.array(sentences))
    with torch.no_grad():
        features = model.encoder(batch)
    row = {index: r for r, index in enumerate(sentences)}
    return np.stack([features[row[i], position].numpy() for i, position, _ in tokens])


MIN_TSNE_POINTS = 10


def tsne_points(panels: dict, seed: int = 0) -> dict:
    """Panel title -> 2-D t-SNE points of its matrix (rows: entity words); perplexity 30, or less on small sets
    (it must stay below the number of points)."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(next(iter(panels.values()))) - 1) / 3)
    return {title: TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(matrix)
            for title, matrix in panels.items()}


def figure_tsne(path: Path, points: dict, languages: np.ndarray, kinds: list) -> None:
    """One scatter panel per title of ``points`` (``tsne_points``)."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(points), figsize=(5 * len(points), 4.5))
    markers = {kind: marker for kind, marker in zip(sorted(set(kinds)), "os^D")}
    for axis, (title, xy) in zip(np.atleast_1d(axes), points.items()):
        xy = np.asarray(xy)
        for lang, colour in zip(sorted(set(languages)), ("tab:blue", "tab:red")):
            for kind, marker in markers.items():
                keep = (languages == lang) & (np.array(kinds) == kind)
                axis.scatter(xy[keep, 0], xy[keep, 1], s=10, c=colour, marker=marker, alpha=0.6,
                             label=f"{lang} {kind}")
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
    np.atleast_1d(axes)[0].legend(fontsize=6, ncol=2)
    figure.tight_layout()
    write_png(path, figure, dpi=120)


def figure_data(data, model_file: Path, config, mono: list | None = None, sample: int = 200) -> dict:
    """What Fig. 2 and Fig. 3 show, JSON-ready: the source model in ``model_file`` (the first seed's, src-dev
    selection) on target dev, and the t-SNE points of entity words from it. ``mono``: the source and target
    monolingual ``WordVectors`` for Fig. 3's first panel (None: no such panel)."""
    from ..train.model_io import load_model

    base = config.base_variant
    model = load_model(model_file, data.embeddings)[0]
    lengths, ratios = length_accuracy(model, data.corpora["tgt-dev"], data.vocabs.tags.items)
    found = {"length": {"title": f"{config.src}→{config.tgt}: source model ({base}) on {config.tgt} dev",
                        "lengths": lengths.tolist(), "ratios": ratios.tolist()}, "tsne": None}
    rng = np.random.default_rng(0)
    src_tokens = _entity_tokens(data.corpora["src-dev"], sample, rng)
    tgt_tokens = _entity_tokens(data.corpora["tgt-dev"], sample, rng)
    if min(len(src_tokens), len(tgt_tokens)) == 0 or len(src_tokens) + len(tgt_tokens) < MIN_TSNE_POINTS:
        found["tsne_skipped"] = (f"{len(src_tokens)} source and {len(tgt_tokens)} target entity words in dev, too "
                                 f"few for t-SNE (need {MIN_TSNE_POINTS})")
        return found
    words = lambda corpus, tokens: [corpus.sentences[i].words[p] for i, p, _ in tokens]  # noqa: E731
    src_words, tgt_words = words(data.corpora["src-dev"], src_tokens), words(data.corpora["tgt-dev"], tgt_tokens)
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
    found["tsne"] = {"points": {title: xy.tolist() for title, xy in tsne_points(panels).items()},
                     "languages": [config.src] * len(src_tokens) + [config.tgt] * len(tgt_tokens),
                     "kinds": [k for _, _, k in src_tokens + tgt_tokens]}
    return found


def draw_figures(out: Path, found: dict) -> None:
    """Fig. 2 and (unless it was skipped) Fig. 3 into ``out`` from ``figure_data``'s dict."""
    length = found["length"]
    figure_length(out / "fig2_length_vs_accuracy.png", np.array(length["lengths"]), np.array(length["ratios"]),
                  length["title"])
    if found.get("tsne") is None:
        log.warning("Fig. 3 skipped: %s", found.get("tsne_skipped", "no t-SNE points"))
        return
    tsne = found["tsne"]
    figure_tsne(out / "fig3_tsne_entities.png", tsne["points"], np.array(tsne["languages"]), tsne["kinds"])
    log.info("figures written to %s", out)
