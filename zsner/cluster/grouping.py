"""Sentences -> clusters -> language groups: Ward agglomerative clustering (scikit-learn), each language's share
of sentences per cluster, the majority vote (a language goes to the cluster holding most of its sentences; ties go
to the lower cluster number), and the adjusted Rand index between two language groupings."""
from __future__ import annotations

import numpy as np


def ward_clusters(vectors: np.ndarray, k: int) -> np.ndarray:
    """Cluster number of every row; clusters are numbered in order of their first row (a canonical naming, so
    two runs' numbers are comparable when their partitions agree)."""
    from sklearn.cluster import AgglomerativeClustering

    raw = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(vectors)
    order = {cluster: number for number, cluster in enumerate(dict.fromkeys(raw.tolist()))}
    return np.array([order[cluster] for cluster in raw.tolist()])


def language_groups(clusters: np.ndarray, labels: np.ndarray, langs: list[str], k: int) -> dict:
    """Shares of each language's sentences per cluster, its majority cluster, and the groups (the languages of
    each cluster by majority; a cluster no language chose has an empty group)."""
    shares, majority = {}, {}
    for index, lang in enumerate(langs):
        counts = np.bincount(clusters[labels == index], minlength=k)
        shares[lang] = [round(float(count) / max(1, counts.sum()), 4) for count in counts]
        majority[lang] = int(np.argmax(counts))
    groups = [[lang for lang in langs if majority[lang] == cluster] for cluster in range(k)]
    return {"shares": shares, "majority": majority, "groups": groups}


def adjusted_rand(first: dict, second: dict) -> float:
    """Adjusted Rand index between two ``{lang: group}`` assignments over their common languages (1 = the same
    partition; about 0 = chance)."""
    from sklearn.metrics import adjusted_rand_score

    common = [lang for lang in first if lang in second]
    return round(float(adjusted_rand_score([first[lang] for lang in common], [second[lang] for lang in common])), 4)
