"""scripts/casing_rule.py: the rescoring analysis drops exactly the predicted entities without a capitalised word."""
import importlib.util
import random
from pathlib import Path

import pytest

from zsner.data.tags import chunks

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("casing_rule", REPO / "scripts" / "casing_rule.py")
casing_rule = importlib.util.module_from_spec(spec)
spec.loader.exec_module(casing_rule)


def test_known_sentence():
    words = ["La", "empresa", "española", "Telefónica", "y", "la", "zona", "de", "Euro"]
    tags = ["O", "O", "B-MISC", "B-ORG", "O", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert casing_rule.cased_entities_only(words, tags) == ["O", "O", "O", "B-ORG", "O", "O", "B-LOC", "I-LOC",
                                                             "I-LOC"]


def test_against_brute_force():
    rng = random.Random(0)
    vocabulary = ["casa", "Madrid", "de", "España", "europeo", "EFE", "1998", "ñu", "Ñu"]
    for _ in range(300):
        length = rng.randint(1, 9)
        words = [rng.choice(vocabulary) for _ in range(length)]
        tags = [rng.choice(["O", "B-PER", "I-PER", "B-MISC", "I-MISC"]) for _ in range(length)]
        kept = casing_rule.cased_entities_only(words, tags)
        expected = {span for span in chunks(tags) if any(words[i][0].isupper() for i in range(span[1], span[2]))}
        assert set(chunks(kept)) == expected


def test_rescore_and_bad_file(tmp_path, capsys):
    good = tmp_path / "pred.conll"
    good.write_text("El O O\nespañol O B-MISC\nJuan B-PER B-PER\n\nEFE B-ORG B-ORG\n", encoding="utf-8")
    row = casing_rule.rescore(good)
    assert row["entities_dropped"] == 1
    assert row["as_predicted"]["micro"]["precision"] == pytest.approx(66.67)
    assert row["cased_only"]["micro"]["f1"] == 100.0
    bad = tmp_path / "bad.conll"
    bad.write_text("El O O\nespañol O\n", encoding="utf-8")
    assert casing_rule.main([str(bad)]) == 2
    assert capsys.readouterr().err.strip().count(str(bad)) == 1
