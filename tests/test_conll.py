"""CoNLL reader/writer: columns, encodings, line endings, separators, DOCSTART conventions, errors, round trip;
and the dataset registry against the paper's Table 1 on the real shared files."""
from __future__ import annotations

import pytest

from conftest import conll_text
from zsner.data.conll import Sentence, read_conll, write_conll
from zsner.data.tags import chunks
from zsner.errors import ZsnerError
from zsner.resources import DATASETS, SPLITS, dataset_path

SENTENCES = [
    [("EU", "B-ORG"), ("rejects", "O"), ("German", "B-MISC"), ("call", "O")],
    [("Peter", "B-PER"), ("Blackburn", "I-PER")],
    [("BRUSSELS", "B-LOC"), ("1996-08-22", "O")],
]


def words_and_tags(sentences):
    return [(s.words, s.tags) for s in sentences]


EXPECTED = [([w for w, _ in s], [t for _, t in s]) for s in SENTENCES]


@pytest.mark.parametrize("columns", [2, 3, 4, 5])
def test_two_to_five_columns_word_first_tag_last(write_conll_file, columns):
    path = write_conll_file(f"c{columns}.txt", conll_text(SENTENCES, columns))
    assert words_and_tags(read_conll(path)) == EXPECTED


def test_crlf_and_whitespace_only_separators_equal_lf(write_conll_file):
    lf = write_conll_file("lf.txt", conll_text(SENTENCES, 3))
    # separator lines of a space, a tab, several spaces (as in the German train file: " \r\n")
    text = conll_text(SENTENCES, 3).replace("call X O\n\n", "call X O\n \n").replace("I-PER\n\n", "I-PER\n\t  \n")
    crlf = write_conll_file("crlf.txt", text, newline="\r\n")
    assert b"\r\n \r\n" in crlf.read_bytes()
    got = read_conll(crlf)
    assert words_and_tags(got) == words_and_tags(read_conll(lf)) == EXPECTED
    assert all(not w.endswith("\r") and not t.endswith("\r") for s in got for w, t in zip(s.words, s.tags))


def test_repeated_blank_lines_and_missing_final_newline(write_conll_file):
    text = "\n\n" + conll_text(SENTENCES[:2]).replace("\n\n", "\n\n\n\n").rstrip("\n")
    assert words_and_tags(read_conll(write_conll_file("b.txt", text))) == EXPECTED[:2]


def test_first_line_numbers(write_conll_file):
    path = write_conll_file("lines.txt", conll_text(SENTENCES, 4, docstart=True))
    # line 1 DOCSTART, line 2 blank, sentence 1 on lines 3-6, blank 7, sentence 2 on 8-9, blank 10, sentence 3 on 11
    assert [s.line for s in read_conll(path)] == [3, 8, 11]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_declared_encoding_decodes_non_ascii(write_conll_file, encoding):
    words = [("Málaga", "B-LOC"), ("Müller", "B-PER"), ("años", "O")]
    path = write_conll_file("enc.txt", conll_text([words], 3), encoding=encoding)
    assert read_conll(path, encoding=encoding)[0].words == ["Málaga", "Müller", "años"]


def test_latin1_bytes_read_as_utf8_give_error_with_file_and_line(write_conll_file):
    text = "La O\nciudad O\n\nde O\nMálaga B-LOC\n"
    path = write_conll_file("esp.txt", text, encoding="latin-1")
    with pytest.raises(ZsnerError) as err:
        read_conll(path, encoding="utf-8")
    assert err.value.line == 5
    assert str(err.value).startswith(f"{path}:5: ")
    assert "utf-8" in str(err.value) and "0xe1" in str(err.value)


# -- DOCSTART conventions -------------------------------------------------------------------------------------

DUTCH_STYLE = """-DOCSTART- -DOCSTART- O
De Art O
man N O

Jan N B-PER
zag V O

-DOCSTART- -DOCSTART- O
Gent N B-LOC

Hij Pron O
"""

ENGLISH_STYLE = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O

-DOCSTART- -X- -X- O

Peter NNP I-NP I-PER
"""


def test_docstart_without_blank_line_drop_line_keeps_the_block(write_conll_file):
    path = write_conll_file("ned.txt", DUTCH_STYLE)
    sentences = read_conll(path)  # default: drop-line
    assert [s.words for s in sentences] == [["De", "man"], ["Jan", "zag"], ["Gent"], ["Hij"]]
    assert [s.line for s in sentences] == [2, 5, 9, 11]


def test_docstart_paper_convention_drops_the_whole_block(write_conll_file):
    path = write_conll_file("ned.txt", DUTCH_STYLE)
    sentences = read_conll(path, docstart="paper")
    assert [s.words for s in sentences] == [["Jan", "zag"], ["Hij"]]
    assert [s.tags for s in sentences] == [["B-PER", "O"], ["O"]]


@pytest.mark.parametrize("docstart", ["drop-line", "paper"])
def test_docstart_with_blank_line_same_for_both_conventions(write_conll_file, docstart):
    path = write_conll_file("eng.txt", ENGLISH_STYLE)
    assert [s.words for s in read_conll(path, docstart=docstart)] == [["EU", "rejects"], ["Peter"]]


def test_docstart_inside_a_block_is_a_sentence_boundary(write_conll_file):
    path = write_conll_file("mid.txt", "a O\nb O\n-DOCSTART- O\nc O\n")
    assert [s.words for s in read_conll(path, docstart="drop-line")] == [["a", "b"], ["c"]]
    with pytest.raises(ZsnerError, match="no sentences"):  # the only block holds a DOCSTART
        read_conll(path, docstart="paper")


def test_unknown_encoding_name(write_conll_file):
    path = write_conll_file("x.txt", conll_text(SENTENCES))
    with pytest.raises(ZsnerError, match="unknown encoding 'latin-9x'") as err:
        read_conll(path, encoding="latin-9x")
    assert str(err.value).startswith(f"{path}: ")


def test_unknown_docstart_convention(write_conll_file):
    path = write_conll_file("x.txt", conll_text(SENTENCES))
    with pytest.raises(ZsnerError, match="DOCSTART convention"):
        read_conll(path, docstart="keep")


# -- malformed input ------------------------------------------------------------------------------------------

MALFORMED = {
    "too_few_columns": ("EU B-ORG\nrejects\n", 2, "columns"),
    "too_many_columns": ("EU B-ORG\na b c d e B-PER\n", 2, "columns"),
    "ragged": ("EU NNP B-ORG\nrejects VBZ O\n\ncall O\n", 4, "ragged"),
    "tag_X-PER": ("EU B-ORG\n\nPeter X-PER\n", 3, "X-PER"),
    "tag_B-": ("EU B-\n", 1, "'B-'"),
    "tag_bare_type": ("EU O\nPeter PER\n", 2, "'PER'"),
    "tag_lowercase": ("EU b-ORG\n", 1, "b-ORG"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_line_names_file_and_line(write_conll_file, name):
    text, line, fragment = MALFORMED[name]
    path = write_conll_file(f"{name}.txt", text)
    with pytest.raises(ZsnerError) as err:
        read_conll(path)
    assert err.value.line == line
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and fragment in message and "\n" not in message


@pytest.mark.parametrize("text", ["", "\n\n", "  \r\n\t\r\n", "-DOCSTART- -X- -X- O\n\n"])
def test_empty_files(write_conll_file, text):
    path = write_conll_file("empty.txt", text)
    with pytest.raises(ZsnerError, match="no sentences") as err:
        read_conll(path)
    assert str(err.value).startswith(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(ZsnerError, match="no such file") as err:
        read_conll(tmp_path / "nope.txt")
    assert "nope.txt" in str(err.value)


# -- writer ---------------------------------------------------------------------------------------------------

def test_write_gold_only_round_trip(tmp_path):
    original = [Sentence(w, t) for w, t in EXPECTED] + [Sentence(["Ärger", "größer"], ["B-MISC", "I-MISC"])]
    path = tmp_path / "out" / "gold.conll"
    write_conll(path, original)
    assert words_and_tags(read_conll(path)) == words_and_tags(original)
    assert sorted(p.name for p in path.parent.iterdir()) == ["gold.conll"]  # no temporary file left behind


def test_write_predictions_word_gold_predicted(tmp_path):
    original = [Sentence(w, t) for w, t in EXPECTED]
    predictions = [["B-ORG", "O", "O", "O"], ["B-PER", "B-PER"], ["O", "B-MISC"]]
    path = tmp_path / "pred.conll"
    write_conll(path, original, predictions)
    back = read_conll(path)  # three columns: the tag read is the last one, the prediction
    assert [s.words for s in back] == [s.words for s in original]
    assert [s.tags for s in back] == predictions
    rows = [line.split(" ") for line in path.read_text(encoding="utf-8").split("\n\n")[1].splitlines()]
    assert rows == [["Peter", "B-PER", "B-PER"], ["Blackburn", "I-PER", "B-PER"]]
    assert path.read_text(encoding="utf-8").endswith("B-MISC\n\n")


def test_write_rejects_prediction_count_mismatch(tmp_path):
    with pytest.raises(ValueError):
        write_conll(tmp_path / "x.conll", [Sentence(["a"], ["O"])], [])
    assert not (tmp_path / "x.conll").exists()


# -- the real files and the dataset registry ------------------------------------------------------------------

TABLE_1 = {  # Bari et al. (AAAI 2020), Table 1: train / dev / test sentences
    "en": (14041, 3250, 3453),
    "es": (8323, 1915, 1517),
    "nl": (15519, 2821, 5076),
    "de": (12152, 2867, 3005),
    "fi": (13497, 986, 3512),
    "ar": (2166, 267, 254),
}


@pytest.mark.parametrize("lang", sorted(TABLE_1))
def test_registry_reproduces_table_1(shared_data, lang):
    spec = DATASETS[lang]
    counts = []
    for split in SPLITS:
        sentences = read_conll(dataset_path(lang, split, shared_data), spec.encodings[split], spec.docstart)
        assert all(len(s.words) == len(s.tags) > 0 for s in sentences)
        assert not any(w.startswith("-DOCSTART-") for s in sentences for w in s.words)
        counts.append(len(sentences))
    assert tuple(counts) == TABLE_1[lang]


def test_dutch_drop_line_counts(shared_data):
    counts = [len(read_conll(dataset_path("nl", split, shared_data), "utf-8", "drop-line")) for split in SPLITS]
    assert counts == [15806, 2895, 5195]


def test_arabic_longest_sentence_and_english_tokens(shared_data):
    arabic = read_conll(dataset_path("ar", "train", shared_data))
    assert max(len(s) for s in arabic) == 290
    english = read_conll(dataset_path("en", "test", shared_data))
    assert sum(len(s) for s in english) == 46435  # CoNLL-2003 English test set tokens
    assert sum(1 for s in english for _ in chunks(s.tags)) == 5648  # and its entities


@pytest.mark.parametrize("lang,split", [("es", "train"), ("de", "dev")])
def test_latin1_files_refuse_utf8(shared_data, lang, split):
    path = dataset_path(lang, split, shared_data)
    with pytest.raises(ZsnerError) as err:
        read_conll(path, encoding="utf-8")
    assert err.value.line and str(err.value).startswith(f"{path}:{err.value.line}: ")
