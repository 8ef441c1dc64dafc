"""Result tables (Markdown/JSON) and figures for transfer runs; the mean ± std over seeds that every table shows."""
from __future__ import annotations

import statistics

CRITERIA_ORDER = ("src-dev", "tgt-dev", "tgt-test")
LABELS = {"mono": "Source-Mono", "word-nochar": "Cross-Word (no char)", "word": "Cross-Word",
          "shared": "Cross-Shared", "augmented": "Cross-Augmented"}
# Bari et al. (2020) Table 4, en->es/nl/de: F1 with tgt-dev / src-dev model selection (fastText wiki vectors)
PAPER = {("es", "word"): (72.66, 70.49), ("es", "shared"): (74.39, 71.97), ("es", "augmented"): (75.93, 72.36)}


def mean_std(values: list) -> dict:
    """Mean and sample standard deviation (0 for one value), rounded to 2 places, with the values themselves."""
    return {"mean": round(statistics.mean(values), 2),
            "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0, "values": values}


def mean_std_text(stats: dict, seeds: int) -> str:
    """``mean ± std``, or the value alone for one seed (its std of 0 would read as a measured spread)."""
    return f"{stats['mean']:.2f}" if seeds <= 1 else f"{stats['mean']:.2f} ± {stats['std']:.2f}"


def aggregate(results: list[dict]) -> dict:
    """Mean, standard deviation (sample; 0 for one seed) and max of target-test F1 per criterion."""
    summary = {"seeds": [r["seed"] for r in results], "parameters": results[0]["parameters"],
               "train_seconds": round(statistics.mean(r["train_seconds"] for r in results), 1)}
    for criterion in CRITERIA_ORDER:
        values = [r["criteria"][criterion]["tgt_test_f1"] for r in results]
        summary[criterion] = {**mean_std(values), "max": round(max(values), 2)}
    return summary


def markdown_table(src: str, tgt: str, summaries: dict) -> str:
    """Table-4-shaped: one row per variant; target-test F1 under each selection criterion (src-dev first,
    the truly unsupervised setting), mean ± std (max) over seeds (a variant of one seed: its value), parameter
    count, and the paper's figures."""
    lines = [f"### {src} → {tgt}: target-test F1 (mean ± std over seeds, max in brackets)", "",
             "| variant | seeds | src-dev selection | tgt-dev selection | tgt-test (oracle) | trainable params | "
             "paper tgt-dev / src-dev |", "|---|---|---|---|---|---|---|"]
    for mode, summary in summaries.items():
        seeds = len(summary["seeds"])
        cells = [mean_std_text(summary[c], seeds) + (f" ({summary[c]['max']:.2f})" if seeds > 1 else "")
                 for c in CRITERIA_ORDER]
        paper = PAPER.get((tgt, mode))
        paper_cell = f"{paper[0]:.2f} / {paper[1]:.2f}" if paper and src == "en" else "–"
        lines.append(f"| {LABELS.get(mode, mode)} | {seeds} | {' | '.join(cells)} | "
                     f"{summary['parameters']:,} | {paper_cell} |")
    return "\n".join(lines) + "\n"
