"""Pictures of a clustering (PNG, written atomically): the sentence embeddings in 2-D (PCA or t-SNE) coloured by
language, and the top of the Ward tree of the sentences (scipy), its leaves named by their languages."""
from __future__ import annotations

import numpy as np

from ..atomic import write_png


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def project(vectors: np.ndarray, method: str, seed: int) -> np.ndarray:
    """2-D coordinates: PCA, or t-SNE (perplexity 30, less on small sets, PCA-initialised)."""
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(vectors) - 1) / 3)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(vectors)


def _colour(index: int) -> int:
    """tab20 index: the 10 strong colours first, then their light partners (neighbours look alike)."""
    return (2 * index) % 20 + (2 * index // 20) % 2


def map_png(path, vectors: np.ndarray, labels: np.ndarray, clusters: np.ndarray, langs: list[str], method: str,
            seed: int, title: str) -> None:
    """One point per sentence: colour = language, marker = Ward cluster."""
    plt = _pyplot()
    points = project(vectors, method, seed)
    colours = plt.get_cmap("tab20")
    markers = "os^Dv<>pP*hX"
    figure, axis = plt.subplots(figsize=(8, 6.5))
    for index, lang in enumerate(langs):
        named = False  # one legend entry per language
        for cluster in np.unique(clusters):
            keep = (labels == index) & (clusters == cluster)
            if keep.any():
                axis.scatter(points[keep, 0], points[keep, 1], s=9, alpha=0.6, color=colours(_colour(index)),
                             marker=markers[cluster % len(markers)], label=None if named else lang)
                named = True
    axis.set_title(f"{title} ({method.upper()}; marker = cluster)")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.legend(fontsize=7, ncol=2, markerscale=2, loc="best")
    figure.tight_layout()
    write_png(path, figure, dpi=120)


def leaf_members(linkage: np.ndarray, n: int) -> dict[int, list[int]]:
    """Rows under every node of a scipy linkage (leaves ``0..n-1``, merges ``n..2n-2``)."""
    members = {i: [i] for i in range(n)}
    for step, (a, b, *_rest) in enumerate(linkage):
        members[n + step] = members[int(a)] + members[int(b)]
    return members


def dendrogram_png(path, vectors: np.ndarray, labels: np.ndarray, langs: list[str], k: int, title: str,
                   leaves: int = 30) -> None:
    """The last ``leaves`` merges of the sentences' Ward tree; a leaf reads ``lang share% (size)`` for its main
    language, and the k clusters of the cut are coloured."""
    from scipy.cluster.hierarchy import dendrogram, linkage

    plt = _pyplot()
    tree = linkage(vectors, method="ward")
    members = leaf_members(tree, len(vectors))

    def name(node: int) -> str:
        inside = np.bincount(labels[members[node]], minlength=len(langs))
        top = int(np.argmax(inside))
        return f"{langs[top]} {100 * inside[top] / inside.sum():.0f}% ({inside.sum()})"

    cut = (tree[-k, 2] + tree[-k + 1, 2]) / 2 if 1 < k < len(vectors) else 0
    figure, axis = plt.subplots(figsize=(10, 5))
    dendrogram(tree, truncate_mode="lastp", p=min(leaves, len(vectors)), leaf_label_func=name,
               color_threshold=cut, leaf_rotation=90, leaf_font_size=7, ax=axis)
    if cut:
        axis.axhline(cut, color="grey", linestyle="--", linewidth=0.8)
    axis.set_ylabel("Ward distance")
    axis.set_title(f"{title}: top of the Ward tree, cut into k = {k}")
    figure.tight_layout()
    write_png(path, figure, dpi=120)
