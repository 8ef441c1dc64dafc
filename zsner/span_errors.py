"""Where the F1 is lost: predicted entity spans accounted against gold ones, per type.

A document's spans are ``(start, end, label)`` intervals, end exclusive (character offsets or token indices); gold
spans do not overlap one another, and documents are scored one by one. Every gold span gets one outcome:

- ``correct``: a predicted span with its boundaries and label;
- ``type``: a predicted span with its boundaries and another label;
- ``boundary``: an overlapping predicted span of its label with other boundaries;
- ``both``: only overlapping predicted spans of other labels and boundaries;
- ``missed``: no predicted span overlaps it.

A predicted span that overlaps no gold span is ``spurious``. ``fixed_f1(gold, predicted, label)`` is the micro F1
once that type is made perfect: its gold spans added, every predicted span labelled ``label`` or overlapping one of
its gold spans removed; it never falls below the actual F1, and ``fixed - actual`` is what the type costs.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

OUTCOMES = ("correct", "type", "boundary", "both", "missed")


def _overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def outcome(span, predicted) -> tuple[str, tuple | None]:
    """The outcome of one gold ``span`` among one document's ``predicted`` spans, and the predicted span behind it."""
    near = [p for p in predicted if _overlaps(span, p)]
    same = [p for p in near if p[:2] == span[:2]]
    if span in same:
        return "correct", span
    if same:
        return "type", same[0]
    for kind, found in (("boundary", [p for p in near if p[2] == span[2]]), ("both", near)):
        if found:
            return kind, min(found)
    return "missed", None


@dataclass
class Account:
    """Counts per type: gold outcomes (by the gold label), spurious predictions and all predictions (by theirs)."""

    outcomes: dict = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    spurious: collections.Counter = field(default_factory=collections.Counter)
    predicted: collections.Counter = field(default_factory=collections.Counter)
    confusion: collections.Counter = field(default_factory=collections.Counter)  # (gold, predicted) of "type"
    examples: dict = field(default_factory=lambda: collections.defaultdict(collections.Counter))

    def labels(self) -> list[str]:
        return sorted(set(self.outcomes) | set(self.predicted))

    def scores(self, label: str | None = None) -> dict:
        """Precision, recall and F1 (percent) of one label, or micro over all with ``label=None``."""
        labels = self.labels() if label is None else [label]
        right = sum(self.outcomes[x]["correct"] for x in labels)
        gold = sum(sum(self.outcomes[x].values()) for x in labels)
        found = sum(self.predicted[x] for x in labels)
        return prf(right, found, gold)


def prf(right: int, found: int, gold: int) -> dict:
    precision, recall = 100 * right / max(found, 1), 100 * right / max(gold, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"p": precision, "r": recall, "f1": f1, "gold": gold, "predicted": found}


def account(gold: list, predicted: list, texts: list | None = None) -> Account:
    """The ``Account`` of documents' gold and predicted span collections (``texts``: to keep examples by string)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold but {len(predicted)} predicted documents")
    result = Account()
    for index, (gold_spans, found) in enumerate(zip(gold, predicted)):
        gold_spans, found = set(gold_spans), set(found)
        text = texts[index] if texts is not None else None
        for span in gold_spans:
            kind, match = outcome(span, found)
            result.outcomes[span[2]][kind] += 1
            if kind == "type":
                result.confusion[span[2], match[2]] += 1
            if text is not None and kind != "correct":
                shown = text[span[0]:span[1]]
                if match is not None and kind != "type":
                    shown += f" -> {text[match[0]:match[1]]}"
                suffix = f" as {match[2]}" if kind in ("type", "both") else ""
                result.examples[span[2], kind][shown + suffix] += 1
        for span in found:
            result.predicted[span[2]] += 1
            if not any(_overlaps(span, g) for g in gold_spans):
                result.spurious[span[2]] += 1
                if text is not None:
                    result.examples[span[2], "spurious"][text[span[0]:span[1]]] += 1
    return result


def fixed(gold: list, predicted: list, label: str) -> list[set]:
    """``predicted`` with type ``label`` made perfect (module docstring)."""
    result = []
    for gold_spans, found in zip(gold, predicted):
        targets = {g for g in gold_spans if g[2] == label}
        kept = {p for p in found if p[2] != label and not any(_overlaps(p, g) for g in targets)}
        result.append(kept | targets)
    return result


def fixed_f1(gold: list, predicted: list, label: str) -> float:
    return account(gold, fixed(gold, predicted, label)).scores()["f1"]


def markdown(gold: list, predicted: list, texts: list | None = None, examples: int = 0) -> str:
    """The per-type account as Markdown: outcomes, spurious, F1, the F1 with the type fixed; then examples."""
    result = account(gold, predicted, texts)
    overall, labels = result.scores()["f1"], result.labels()
    lines = ["| type | gold | correct | wrong type | wrong boundary | wrong both | missed | predicted | spurious "
             "| P | R | F1 | F1 with the type fixed (gain) |",
             "|---|" + "---:|" * 12]
    for label in labels:
        counts, score = result.outcomes[label], result.scores(label)
        gain = fixed_f1(gold, predicted, label)
        lines.append(f"| {label} | {score['gold']} | " + " | ".join(str(counts[k]) for k in OUTCOMES)
                     + f" | {score['predicted']} | {result.spurious[label]} | {score['p']:.2f} | {score['r']:.2f} "
                     f"| {score['f1']:.2f} | {gain:.2f} ({gain - overall:+.2f}) |")
    micro = result.scores()
    totals = [sum(result.outcomes[x][k] for x in labels) for k in OUTCOMES]
    lines.append(f"| all | {micro['gold']} | " + " | ".join(map(str, totals)) + f" | {micro['predicted']} | "
                 f"{sum(result.spurious.values())} | {micro['p']:.2f} | {micro['r']:.2f} | **{overall:.2f}** | – |")
    if result.confusion:
        lines.append("\nsame boundaries, other type (gold -> predicted): " + ", ".join(
            f"{g} -> {p} {n}" for (g, p), n in result.confusion.most_common()))
    if examples and texts is not None:
        for (label, kind), counter in sorted(result.examples.items()):
            shown = "; ".join(f"{text!r} {n}" for text, n in counter.most_common(examples))
            lines.append(f"\n{label} {kind} ({sum(counter.values())}): {shown}")
    return "\n".join(lines)
