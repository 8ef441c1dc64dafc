"""Span-level NER metrics with seqeval: CoNLL-style exact span match, micro and per-type P/R/F1 (in %).

Both sequences are converted to IOB2 through ``zsner.data.tags`` first, so every scheme (IOB1, IOB2, IOBES,
stray ``I-`` starts) is scored by the same span definition as conlleval.
"""
from __future__ import annotations

from seqeval.metrics import classification_report

from .data.tags import chunks, convert


def span_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """``{"micro": {p, r, f1, support}, "per_type": {TYPE: {...}}}`` with p/r/f1 in percent."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold but {len(predicted)} predicted sentences")
    for g, p in zip(gold, predicted):
        if len(g) != len(p):
            raise ValueError("gold and predicted sentence lengths differ")
    gold2 = [convert(tags, "iob2") for tags in gold]
    pred2 = [convert(tags, "iob2") for tags in predicted]
    if not any(chunks(tags) for tags in gold2 + pred2):
        return {"micro": _row(0.0, 0.0, 0.0, 0), "per_type": {}}
    report = classification_report(gold2, pred2, output_dict=True, zero_division=0)
    per_type = {kind: _row(row["precision"], row["recall"], row["f1-score"], row["support"])
                for kind, row in report.items() if not kind.endswith(" avg")}
    micro = report["micro avg"]
    return {"micro": _row(micro["precision"], micro["recall"], micro["f1-score"], micro["support"]),
            "per_type": dict(sorted(per_type.items()))}


def _row(precision, recall, f1, support) -> dict:
    return {"precision": round(100 * float(precision), 2), "recall": round(100 * float(recall), 2),
            "f1": round(100 * float(f1), 2), "support": int(support)}


def format_report(metrics: dict, title: str = "") -> str:
    """A per-type table in the style of conlleval / flair's test report."""
    lines = [title] if title else []
    lines.append(f"{'type':<8} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for kind, row in [*metrics["per_type"].items(), ("micro", metrics["micro"])]:
        lines.append(f"{kind:<8} {row['precision']:>9.2f} {row['recall']:>7.2f} {row['f1']:>7.2f} {row['support']:>8}")
    return "\n".join(lines)
