"""Span metrics: hand-computed cases, scheme independence, and a brute-force span-set reference."""
from __future__ import annotations

import random

import pytest

from zsner.data.tags import SCHEMES, chunks, convert
from zsner.evaluation import format_report, span_metrics


def test_hand_computed_case():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    # gold spans: PER(0,2) LOC(3,4) | ORG(0,1) PER(2,3) = 4; predicted: PER(0,2) ORG(3,4) | ORG(0,1) = 3; correct 2
    metrics = span_metrics(gold, pred)
    assert metrics["micro"] == {"precision": 66.67, "recall": 50.0, "f1": 57.14, "support": 4}
    assert metrics["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 50.0, "recall": 100.0, "f1": 66.67, "support": 1},
        "PER": {"precision": 100.0, "recall": 50.0, "f1": 66.67, "support": 2},
    }


def test_partial_overlap_and_wrong_boundary_count_as_errors():
    gold = [["B-PER", "I-PER", "I-PER", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"]]  # right type, short boundary
    assert span_metrics(gold, pred)["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    pred = [["B-PER", "I-PER", "B-PER", "O"]]  # split in two
    assert span_metrics(gold, pred)["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_perfect_and_empty():
    gold = [["B-LOC", "O", "B-PER", "I-PER"]]
    assert span_metrics(gold, gold)["micro"] == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 2}
    none = span_metrics([["O", "O"]], [["O", "O"]])
    assert none == {"micro": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}, "per_type": {}}
    only_false_positives = span_metrics([["O", "O"]], [["B-PER", "O"]])["micro"]
    assert only_false_positives["precision"] == 0.0 and only_false_positives["support"] == 0


def test_iob1_and_iobes_of_the_same_spans_give_identical_results():
    gold_iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["I-ORG", "O", "I-MISC", "I-MISC"]]
    gold_iobes = [["B-PER", "E-PER", "S-PER", "O", "S-LOC"], ["S-ORG", "O", "B-MISC", "E-MISC"]]
    pred_iobes = [["B-PER", "E-PER", "S-PER", "O", "S-ORG"], ["S-ORG", "O", "S-MISC", "S-MISC"]]
    pred_iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-ORG"], ["I-ORG", "O", "I-MISC", "B-MISC"]]
    expected = span_metrics(gold_iob1, pred_iob1)
    # 5 gold spans, 6 predicted (MISC split in two, LOC typed ORG), 3 correct (two PER, ORG): P = 3/6, R = 3/5
    assert expected["micro"] == {"precision": 50.0, "recall": 60.0, "f1": 54.55, "support": 5}
    assert span_metrics(gold_iobes, pred_iobes) == expected
    assert span_metrics(gold_iob1, pred_iobes) == expected
    assert span_metrics(gold_iobes, pred_iob1) == expected


def test_stray_I_start_is_scored_as_a_span():
    gold = [["O", "B-PER", "I-PER"]]
    assert span_metrics(gold, [["O", "I-PER", "I-PER"]])["micro"]["f1"] == 100.0


def test_length_mismatches_raise():
    with pytest.raises(ValueError):
        span_metrics([["O"]], [])
    with pytest.raises(ValueError):
        span_metrics([["O", "O"]], [["O"]])


def brute_force(gold, predicted):
    """P/R/F1 in % from sets of (sentence, type, start, end)."""
    gold_spans = {(i, *span) for i, tags in enumerate(gold) for span in chunks(tags)}
    pred_spans = {(i, *span) for i, tags in enumerate(predicted) for span in chunks(tags)}

    def prf(g, p):
        correct = len(g & p)
        precision = correct / len(p) if p else 0.0
        recall = correct / len(g) if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return 100 * precision, 100 * recall, 100 * f1, len(g)

    types = {span[1] for span in gold_spans | pred_spans}
    per_type = {kind: prf({s for s in gold_spans if s[1] == kind}, {s for s in pred_spans if s[1] == kind})
                for kind in types}
    return prf(gold_spans, pred_spans), per_type


def close(row: dict, reference) -> bool:
    precision, recall, f1, support = reference
    return (abs(row["precision"] - precision) <= 0.005 + 1e-9 and abs(row["recall"] - recall) <= 0.005 + 1e-9
            and abs(row["f1"] - f1) <= 0.005 + 1e-9 and row["support"] == support)


def test_property_matches_brute_force_on_random_sequences():
    rng = random.Random(2020)
    labels = ["O", "O", "O"] + [f"{p}-{t}" for p in "BIES" for t in ("PER", "LOC", "ORG")]
    for trial in range(150):
        lengths = [rng.randint(1, 8) for _ in range(rng.randint(1, 5))]
        gold = [[rng.choice(labels) for _ in range(n)] for n in lengths]
        # predictions: mostly copies of gold with some tags changed, so that matches are common
        predicted = [[tag if rng.random() < 0.7 else rng.choice(labels) for tag in sentence] for sentence in gold]
        metrics = span_metrics(gold, predicted)
        micro, per_type = brute_force(gold, predicted)
        if not micro[3] and not any(chunks(t) for t in predicted):
            assert metrics["micro"]["support"] == 0
            continue
        assert close(metrics["micro"], micro), (trial, gold, predicted, metrics["micro"], micro)
        assert set(metrics["per_type"]) == set(per_type)
        for kind, reference in per_type.items():
            assert close(metrics["per_type"][kind], reference), (trial, kind)
        # the scheme the sequences are written in does not matter
        for scheme in SCHEMES:
            assert span_metrics([convert(t, scheme) for t in gold], [convert(t, scheme) for t in predicted]) == metrics


def test_format_report_lists_types_and_micro():
    metrics = span_metrics([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    lines = format_report(metrics, "dev").splitlines()
    assert lines[0] == "dev"
    assert [line.split()[0] for line in lines[2:]] == ["LOC", "PER", "micro"]
    assert lines[-1].split() == ["micro", "100.00", "50.00", "66.67", "2"]
