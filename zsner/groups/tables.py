"""The grouped-training tables: Table 3 (rows: languages and their mean; columns: groupings; test F1 mean ± std
over seeds) and Table 4 (the zero-shot languages: their own model, their cluster's, and zero-shot from the
cluster trained without them). F1 is each run's test F1 at its src-dev selection (the group's own dev sets)."""
from __future__ import annotations

import statistics

from ..report import mean_std, mean_std_text
from ..resources import WIKIANN
from .plan import Plan, run_name


def test_f1(metrics: dict, lang: str) -> float:
    return metrics["selection"]["src-dev"]["test"][WIKIANN + lang]["micro"]["f1"]


def table3(plan: Plan, results: dict) -> dict:
    """``{row: {grouping: cell}}``; the ``mean`` row averages the languages per seed first."""
    rows: dict = {}
    for grouping in plan.groupings:
        per_seed = {seed: {lang: test_f1(results[run_name(group, group, seed)], lang)
                           for lang in plan.langs for group in [plan.group_of(grouping, lang)]}
                    for seed in plan.seeds}
        for lang in plan.langs:
            rows.setdefault(lang, {})[grouping] = mean_std([per_seed[seed][lang] for seed in plan.seeds])
        rows.setdefault("mean", {})[grouping] = mean_std([statistics.mean(per_seed[seed].values())
                                                          for seed in plan.seeds])
    return rows


def table4(plan: Plan, results: dict) -> dict | None:
    """``{lang: {column: cell}}`` for the zero-shot languages, or None without a cluster grouping."""
    if plan.zero_shot is None:
        return None
    sources, targets = plan.zero_shot
    cluster = next(name for name in plan.groupings if name.startswith("cluster"))

    def own(grouping: str, lang: str, seed: int) -> str:  # the run of the group that trained on ``lang``
        group = plan.group_of(grouping, lang)
        return run_name(group, group, seed)

    columns = {grouping: lambda lang, seed, g=grouping: own(g, lang, seed)
               for grouping in ("per-language", cluster) if grouping in plan.groupings}
    columns["zero-shot from " + "+".join(sources)] = lambda lang, seed: run_name(sources, targets, seed)
    return {lang: {column: mean_std([test_f1(results[name(lang, seed)], lang) for seed in plan.seeds])
                   for column, name in columns.items()} for lang in targets}


def markdown(rows: dict, title: str) -> str:
    columns = list(next(iter(rows.values())))
    lines = [f"### {title}", "", "| lang | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row, cells in rows.items():
        shown = [mean_std_text(cells[c], len(cells[c]["values"])) for c in columns]
        lines.append(f"| {'**mean**' if row == 'mean' else row} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"
