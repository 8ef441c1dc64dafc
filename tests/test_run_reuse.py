"""A run folder is reused only when its config matches (zsner/runs.py ``claim`` / ``differences``), and a folder
written before an option existed still matches a run that leaves the option unused."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from zsner.errors import ZsnerError
from zsner.runs import OFF, claim, differences

VALUES = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.none(), st.booleans())
CONFIGS = st.dictionaries(st.sampled_from(["epochs", "lr", "teacher", "init"]), VALUES, max_size=4)


def _finished(folder, config: dict):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text("{}")


@given(CONFIGS, CONFIGS, st.sampled_from(OFF), st.sampled_from(["teacher", "new_option"]))
def test_a_new_unused_option_never_adds_a_difference_and_a_used_one_always_does(stored, wanted, off, name):
    assert differences({"train": wanted}, {"train": dict(wanted)}) == []
    stored = {key: value for key, value in stored.items() if key != name}
    before = differences({"train": stored}, {"train": {k: v for k, v in wanted.items() if k != name}})
    assert differences({"train": stored}, {"train": {**wanted, name: off}}) == before
    used = differences({"train": stored}, {"train": {**wanted, name: "runs/teacher"}})
    assert used == sorted(set(before) | {f"train.{name}"})
    # and in the other direction (the stored folder used it, the run does not) it is a difference
    assert f"train.{name}" in differences({"train": {**stored, name: "runs/teacher"}}, {"train": wanted})


def test_an_old_folder_without_a_new_option_is_reused_unless_the_option_is_used(tmp_path):
    folder = tmp_path / "run"
    _finished(folder, {"train": {"epochs": 1}})
    assert claim(folder, {"train": {"epochs": 1, "teacher": ""}}) == "reuse"
    with pytest.raises(ZsnerError, match="train.teacher"):
        claim(folder, {"train": {"epochs": 1, "teacher": "runs/x"}})
    with pytest.raises(ZsnerError, match="train.epochs"):
        claim(folder, {"train": {"epochs": 2, "teacher": ""}})


def test_a_stored_option_the_run_lacks_still_differs(tmp_path):
    folder = tmp_path / "run"
    _finished(folder, {"train": {"epochs": 1, "teacher": ""}})
    with pytest.raises(ZsnerError, match="train.teacher"):
        claim(folder, {"train": {"epochs": 1}})


def test_an_augmented_folder_records_its_teachers_content_so_a_retrained_teacher_is_not_reused(tmp_path):
    """--teacher: the augmented folder's config holds each resolved checkpoint's SHA-256 (the base folder does not
    learn from the teacher, and a run without --teacher records nothing, so earlier folders still match)."""
    import hashlib

    from zsner.config import TaggerConfig, TrainConfig
    from zsner.runs import differences
    from zsner.transfer.config import AugmentConfig, TransferConfig
    from zsner.transfer.folders import seed_folders

    checkpoint = tmp_path / "teacher.pt"
    checkpoint.write_bytes(b"first training")
    config, augment = TransferConfig(mode="augmented"), AugmentConfig(teacher=str(tmp_path / "teacher-run"))

    def plan():
        return seed_folders(config, TrainConfig(), TaggerConfig(), augment, tmp_path / "out", {}, [checkpoint])

    first = plan()
    assert first[1, "augmented"][1]["teachers"] == [{"checkpoint": str(checkpoint),
                                                    "sha256": hashlib.sha256(b"first training").hexdigest()}]
    assert "teachers" not in first[1, config.base_variant][1]
    assert "teachers" not in seed_folders(config, TrainConfig(), TaggerConfig(), AugmentConfig(), tmp_path, {})[
        1, "augmented"][1]
    checkpoint.write_bytes(b"retrained")  # the same run folder, trained again
    second = plan()
    assert differences(first[1, "augmented"][1], second[1, "augmented"][1]) == ["teachers"]
    assert differences(first[1, config.base_variant][1], second[1, config.base_variant][1]) == []
