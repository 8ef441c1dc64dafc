"""The classic transfer table: mean ± sample std (max) over seeds, a one-seed variant shown as its value alone."""
from zsner.report import aggregate, markdown_table, mean_std


def _result(seed: int, src_dev: float, tgt_dev: float, tgt_test: float) -> dict:
    criteria = {name: {"tgt_test_f1": value} for name, value in
                (("src-dev", src_dev), ("tgt-dev", tgt_dev), ("tgt-test", tgt_test))}
    return {"seed": seed, "parameters": 1234, "train_seconds": 10.0 * seed, "criteria": criteria}


def test_mean_std_is_the_sample_std():
    assert mean_std([60.0, 70.0]) == {"mean": 65.0, "std": 7.07, "values": [60.0, 70.0]}
    assert mean_std([61.5])["std"] == 0.0


def test_aggregate_and_table_over_two_seeds():
    summary = aggregate([_result(1, 60.0, 62.0, 64.0), _result(2, 70.0, 62.0, 66.0)])
    assert summary["src-dev"]["max"] == 70.0 and summary["train_seconds"] == 15.0
    table = markdown_table("en", "es", {"shared": summary})
    assert "| Cross-Shared | 2 | 65.00 ± 7.07 (70.00) | 62.00 ± 0.00 (62.00) | 65.00 ± 1.41 (66.00) | 1,234 | " \
           "74.39 / 71.97 |" in table


def test_one_seed_shows_its_value_without_a_spread():
    table = markdown_table("en", "nl", {"augmented": aggregate([_result(3, 55.25, 56.0, 57.0)])})
    assert "| Cross-Augmented | 1 | 55.25 | 56.00 | 57.00 | 1,234 | – |" in table
    assert "±" not in table.splitlines()[-1]
