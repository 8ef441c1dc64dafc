"""WikiAnn in the data layer: the ``xx:`` prefix, the ja/zh orphan ``I-`` repair, bad lines, `zsner data` and
`zsner train` on ``wikiann:<code>``."""
from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA
from tests.synthetic import write_wikiann
from zsner.cli import main
from zsner.data.conll import read_conll, read_dataset
from zsner.errors import ZsnerError
from zsner.resources import embedding_path, wikiann_names

# ja/zh: '#' (a space) between the characters of an entity is tagged O, so the next character carries I-X
ZH = "zh:北\tB-LOC\nzh:京\tI-LOC\nzh:#\tO\nzh:大\tI-LOC\nzh:学\tI-LOC\nzh:是\tO\n\nzh:李\tI-PER\nzh:白\tI-PER\n"


def test_prefix_stripped_and_orphan_i_repaired(tmp_path):
    path = tmp_path / "zh.txt"
    path.write_text(ZH, encoding="utf-8")
    first, second = read_conll(path, prefix="zh:", repair=True)
    assert first.words == ["北", "京", "#", "大", "学", "是"] and second.words == ["李", "白"]
    assert first.tags == ["B-LOC", "I-LOC", "O", "B-LOC", "I-LOC", "O"] and second.tags == ["B-PER", "I-PER"]
    assert (first.extra["repaired"], second.extra["repaired"]) == (1, 1)
    assert read_conll(path, prefix="zh:")[0].tags[3] == "I-LOC"  # without repair: as written
    assert read_conll(path)[0].words[0] == "zh:北"  # without the prefix option: the token as written


@pytest.mark.parametrize("line, fragment", [
    ("北\tB-LOC", "expected a token starting with 'zh:'"),  # no prefix
    ("ja:北\tB-LOC", "expected a token starting with 'zh:'"),  # another language's line
    ("zh:\tO", "expected a token starting with 'zh:'"),  # nothing after the prefix
    ("zh:北\tB-PLACE x", "columns"),  # 3 columns after 2
    ("zh:北\tX-LOC", "invalid NER tag"),
])
def test_bad_line_names_file_and_line(tmp_path, line, fragment):
    folder = tmp_path / "wikiann" / "zh"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / split).write_text("zh:是\tO\n\n" + (line + "\n" if split == "dev" else ""), encoding="utf-8")
    with pytest.raises(ZsnerError) as caught:
        read_dataset("wikiann:zh", "dev", tmp_path)
    assert str(caught.value).startswith(f"{folder / 'dev'}:3: ") and fragment in str(caught.value)


def test_names_and_vectors_of_a_wikiann_language(tmp_path):
    assert wikiann_names(["sw", "wikiann:yo"]) == ["wikiann:sw", "wikiann:yo"]
    with pytest.raises(ZsnerError, match="unknown WikiAnn language 'xx'"):
        wikiann_names(["sw", "xx"])
    (tmp_path / "embeddings").mkdir()
    (tmp_path / "embeddings" / "sw.vec").write_text("1 2\na 0.1 0.2\n")
    assert embedding_path("wikiann:sw", tmp_path) == tmp_path / "embeddings" / "sw.vec"


def test_zsner_data_counts_and_repairs(tmp_path, capsys):
    write_wikiann(tmp_path, langs=("zh",), sizes=(7, 5, 3))
    (tmp_path / "wikiann/zh/test").write_text(ZH, encoding="utf-8")
    assert main(["data", "wikiann:zh", "--data-dir", str(tmp_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert [stats[split]["sentences"] for split in ("train", "dev", "test")] == [7, 5, 2]
    assert stats["test"]["tokens"] == 8 and stats["test"]["entities"] == {"LOC": 2, "PER": 1}
    assert stats["test"]["stray_I_starts_repaired"] == 2 and stats["train"]["stray_I_starts_repaired"] == 0


def test_real_wikiann_counts(capsys):
    if not (SHARED_DATA / "wikiann" / "yo").is_dir():
        pytest.skip("shared WikiAnn data not found")
    assert main(["data", "wikiann:yo", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert [stats[split]["sentences"] for split in ("train", "dev", "test")] == [100, 100, 100]  # the README's
    assert all(row["scheme"] == "iob2" and set(row["entities"]) == {"LOC", "ORG", "PER"} for row in stats.values())


def test_classic_train_on_a_wikiann_language(tmp_path, capsys):
    """`zsner train --lang wikiann:sw` reads the prefixed files and the language's own vectors (embeddings/sw.*)."""
    data = write_wikiann(tmp_path / "data", langs=("sw",), sizes=(30, 10, 10))
    words = sorted({line.split("\t")[0][3:] for line in (data / "wikiann/sw/train").read_text().splitlines() if line})
    (data / "embeddings").mkdir()
    (data / "embeddings/sw.vec").write_text(f"{len(words)} 8\n" + "".join(f"{w}{' 0.1' * 8}\n" for w in words))
    out = tmp_path / "run"
    code = main(["train", "--lang", "wikiann:sw", "--data-dir", str(data), "--word-dim", "8", "--char-dim", "4",
                 "--char-hidden", "4", "--word-hidden", "8", "--dense-dim", "8", "--epochs", "1", "--no-progress",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert (out / "metrics.json").is_file()
    predicted = [line.split() for line in (out / "predictions.test.conll").read_text().splitlines()]
    assert sum(not row for row in predicted) == 10  # the 10 test sentences
    assert all(row[0] in words for row in predicted if row)  # the words of the file, prefix stripped
