"""The error account: a hand-made case of every outcome, and properties against brute force and seqeval."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zsner.data.tags import chunks
from zsner.evaluation import span_metrics
from zsner.span_errors import OUTCOMES, account, fixed, fixed_f1, markdown

LABELS = ("PER", "LOC", "ORG", "MISC")


def test_every_outcome_once():
    text = "Acme Corp met Ann at Lima Peru on the Nile for Real Madrid , said Bob ."
    words = [(0, 4), (5, 9), (14, 17), (21, 25), (26, 30), (38, 42), (47, 51), (52, 58), (66, 69)]
    span = lambda a, b, label: (words[a][0], words[b][1], label)  # noqa: E731
    gold = [{span(0, 1, "ORG"), span(2, 2, "PER"), span(3, 4, "LOC"), span(5, 5, "LOC"), span(6, 7, "ORG")}]
    predicted = [{span(0, 1, "ORG"), span(2, 2, "LOC"), span(3, 3, "LOC"), span(6, 6, "LOC"), span(8, 8, "PER")}]
    result = account(gold, predicted, [text])
    assert dict(result.outcomes["ORG"]) == {"correct": 1, "both": 1}
    assert dict(result.outcomes["PER"]) == {"type": 1}
    assert dict(result.outcomes["LOC"]) == {"boundary": 1, "missed": 1}
    assert dict(result.spurious) == {"PER": 1} and dict(result.confusion) == {("PER", "LOC"): 1}
    assert result.scores() == {"p": 20.0, "r": 20.0, "f1": 20.0, "gold": 5, "predicted": 5}
    assert dict(result.examples["ORG", "both"]) == {"Real Madrid -> Real as LOC": 1}
    assert dict(result.examples["LOC", "boundary"]) == {"Lima Peru -> Lima": 1}
    assert dict(result.examples["PER", "spurious"]) == {"Bob": 1}
    # ORG made perfect: Real Madrid added, the LOC span inside it removed; 2 of 5 gold right, 5 predicted
    assert fixed(gold, predicted, "ORG")[0] == (predicted[0] - {span(6, 6, "LOC")}) | {span(6, 7, "ORG")}
    assert abs(fixed_f1(gold, predicted, "ORG") - 40.0) < 1e-9
    # LOC made perfect: every LOC prediction (Ann, Lima, Real) removed, Lima Peru and Nile added: 3 right of 4, 5 gold
    assert abs(fixed_f1(gold, predicted, "LOC") - 100 * 2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5)) < 1e-9
    table = markdown(gold, predicted, [text], examples=3)
    assert "| **20.00** |" in table and "PER -> LOC 1" in table and "'Bob' 1" in table


@st.composite
def documents(draw):
    """Gold spans that do not overlap, predicted spans anywhere (overlapping each other too), in a 24-slot text."""
    cuts = sorted(draw(st.sets(st.integers(0, 24), max_size=10)))
    gold = {(a, b, draw(st.sampled_from(LABELS))) for a, b in zip(cuts[::2], cuts[1::2]) if a < b}
    if draw(st.booleans()):
        gold = {g for g in gold if draw(st.booleans())}
    predicted = set(draw(st.lists(st.tuples(st.integers(0, 23), st.integers(1, 6), st.sampled_from(LABELS))
                                  .map(lambda t: (t[0], min(24, t[0] + t[1]), t[2])), max_size=6)))
    if draw(st.booleans()):  # some exact copies of gold spans, so that "correct" and "type" happen
        predicted |= {g if draw(st.booleans()) else (g[0], g[1], draw(st.sampled_from(LABELS))) for g in gold}
    return gold, predicted


@settings(max_examples=300, deadline=None)
@given(st.lists(documents(), min_size=1, max_size=4))
def test_account_against_brute_force(docs):
    gold, predicted = [g for g, _ in docs], [p for _, p in docs]
    result = account(gold, predicted)
    right = sum(len(g & p) for g, p in docs)
    assert sum(r["correct"] for r in result.outcomes.values()) == right
    for label in LABELS:
        assert sum(result.outcomes[label][k] for k in OUTCOMES) == sum(g[2] == label for d in gold for g in d)
        assert result.predicted[label] == sum(p[2] == label for d in predicted for p in d)
        brute = sum(p[2] == label and not any(p[0] < g[1] and g[0] < p[1] for g in d_gold)
                    for d_gold, d_pred in docs for p in d_pred)
        assert result.spurious[label] == brute
        missed = sum(g[2] == label and not any(p[0] < g[1] and g[0] < p[1] for p in d_pred)
                     for d_gold, d_pred in docs for g in d_gold)
        assert result.outcomes[label]["missed"] == missed
    found, total = sum(map(len, predicted)), sum(map(len, gold))
    micro = result.scores()
    assert micro["gold"] == total and micro["predicted"] == found
    if right:
        p, r = right / found, right / total
        assert abs(micro["f1"] - 200 * p * r / (p + r)) < 1e-9
    # fixing a type never lowers F1; fixing every type in turn gives a perfect tagger
    repaired = predicted
    for label in LABELS:
        assert fixed_f1(gold, predicted, label) >= micro["f1"] - 1e-9
        repaired = fixed(gold, repaired, label)
    assert all(r == g for r, g in zip(repaired, gold))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]), min_size=1,
                         max_size=10), min_size=2, max_size=6))
def test_micro_f1_equals_seqeval(sequences):
    gold, predicted = sequences[::2], sequences[1::2][:len(sequences[::2])]
    gold = gold[:len(predicted)]
    predicted = [(p + ["O"] * len(g))[:len(g)] for g, p in zip(gold, predicted)]
    spans = lambda tags: {(a, b, kind) for kind, a, b in chunks(tags)}  # noqa: E731
    result = account([spans(g) for g in gold], [spans(p) for p in predicted]).scores()
    reference = span_metrics(gold, predicted)["micro"]
    assert round(result["f1"], 2) == reference["f1"]
    assert result["gold"] == reference["support"]
