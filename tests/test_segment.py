"""Raw-text segmentation: offset invariants on arbitrary text (hypothesis) and on the parallel corpora, CoNLL-style
known values per language, and the detokenizer the agreement script measures with."""
from __future__ import annotations

import time
import unicodedata

import pytest

from zsner.projection.parallel import tokenize as projection_tokenize
from zsner.tagging.detokenize import detokenize, detokenize_document
from zsner.tagging.segment import LANGUAGES, segment, tokenize

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # the test extra brings hypothesis; without it only the property tests are skipped
    st = None


def words(text: str, lang: str = "") -> list[str]:
    return [text[start:end] for start, end in tokenize(text, lang)]


def sentences(text: str, lang: str = "") -> list[list[str]]:
    return [[text[start:end] for start, end in sentence] for sentence in segment(text, lang)]


def check_invariants(text: str, split: list[list[tuple[int, int]]]) -> None:
    """In-order, non-overlapping, whitespace-free tokens covering every other character; no empty sentence;
    combining marks in their base character's token."""
    assert all(split), "empty sentence"
    tokens = [token for sentence in split for token in sentence]
    previous = 0
    owner = {}
    for number, (start, end) in enumerate(tokens):
        assert previous <= start < end <= len(text), (start, end)
        assert not any(char.isspace() for char in text[start:end]), repr(text[start:end])
        owner.update(dict.fromkeys(range(start, end), number))
        previous = end
    assert set(owner) == {i for i, char in enumerate(text) if not char.isspace()}, "a character was dropped"
    for i in range(1, len(text)):
        if unicodedata.category(text[i]).startswith("M") and not text[i - 1].isspace():
            assert owner[i] == owner[i - 1], f"mark {text[i]!r} split from {text[i - 1]!r}"


# -- arbitrary text -------------------------------------------------------------------------------------------

CHARACTERS = list(" \t\r\n\u00a0\u2028\u3000\u200b\u200d\ufe0f\u0301\u0308\u064f\u0651\u20e3.,;:!?¿¡\"'’«»()-–—…/%@"
                  "0123456789") + ["👨", "👩", "👧", "🏽", "🇩", "🇪", "👍", "\U000E0067", "\U0001D165", "ا", "ل", "ع",
                                   "ر", "ب", "ي", "؟", "،", "٫"]
PIECES = CHARACTERS + ["word", "Word", "ÉTÉ", "Köln", "zo'n", "3,1", "2.6", "U.S.", "Mr.", "n't", "'s", "Dr.", "3.",
                       "EU:n", "www.", "http://", "a@b.com", "-", "und", " "]

if st is not None:
    TEXTS = st.one_of(
        st.text(),  # any code points, surrogates and unassigned ones included
        st.text(alphabet=st.one_of(st.sampled_from(CHARACTERS),
                                   st.characters(categories=["L", "M", "N", "P", "S", "Z"])), max_size=80),
        st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    )

    @settings(max_examples=400, deadline=None)
    @given(TEXTS, st.sampled_from(LANGUAGES + ("", "xx")))
    def test_invariants_hold_on_any_text(text, lang):
        check_invariants(text, segment(text, lang))
        assert [token for sentence in segment(text, lang) for token in sentence] == tokenize(text, lang)
        check_invariants(text, [tokenize(text, lang)] if text.strip() else [])
else:
    def test_invariants_hold_on_any_text():
        pytest.skip("hypothesis is not installed")


@pytest.mark.parametrize("text", [
    "cafe\u0301 na\u0308ive .\u0301 \u0301x", "👨\u200d👩\u200d👧 👍🏽 🇩🇪 ❤️ #️⃣ 🏴\U000E0067\U000E0062\U000E007F",
    "tabs\tand  runs   of spaces\r\nCRLF\r\n\r\nnew paragraph", "\u3000全角\u2028line\u00a0nbsp", "", " \n\t ",
])
def test_invariants_on_hand_made_text(text):
    for lang in LANGUAGES:
        check_invariants(text, segment(text, lang))


def test_emoji_sequences_and_combining_marks_stay_whole():
    assert words("Family 👨\u200d👩\u200d👧 ok 👍🏽, flag 🇩🇪.") == ["Family", "👨\u200d👩\u200d👧", "ok", "👍🏽", ",", "flag",
                                                                "🇩🇪", "."]
    assert words("cafe\u0301 .\u0301") == ["cafe\u0301", ".\u0301"]


def test_no_slow_regex_paths_on_adversarial_input():
    started = time.perf_counter()
    for text in ("a-" * 2000, "a." * 2000, "1." * 2000, "'" * 2000, "a'" * 2000, "Jugend-" * 1000 + " und",
                 "x:" * 2000, "\u0301" * 4000, "\u200d👍" * 2000):
        for lang in LANGUAGES:
            check_invariants(text, segment(text, lang))
    assert time.perf_counter() - started < 5


# -- known values ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang,text,expected", [
    ("en", "Mr. Smith visited the U.S. on 3.5 days.", [["Mr.", "Smith", "visited", "the", "U.S.", "on", "3.5", "days",
                                                        "."]]),
    ("en", "He didn't say \"Germany's 1/2 point.\" Then he left... Right?", [
        ["He", "did", "n't", "say", '"', "Germany", "'s", "1/2", "point", ".", '"'], ["Then", "he", "left", "..."],
        ["Right", "?"]]),
    ("en", "O'Brien of Acme Inc. met Dr. J. Lee at 10 a.m. on 1996-12-06 -- really.", [
        ["O'Brien", "of", "Acme", "Inc.", "met", "Dr.", "J.", "Lee", "at", "10", "a.m.", "on", "1996-12-06", "--",
         "really", "."]]),
    ("es", "¿Dónde está? preguntó el Sr. García. ¡Hola! El 77% de EE.UU. votó 3,1 veces.", [
        ["¿", "Dónde", "está", "?", "preguntó", "el", "Sr.", "García", "."], ["¡", "Hola", "!"],
        ["El", "77%", "de", "EE.UU.", "votó", "3,1", "veces", "."]]),
    ("nl", "Zo'n 13.000 auto's reden naar Groot-Brittannië. Dr. Jansen zei: 'Het is goed.' Daarna.", [
        ["Zo'n", "13.000", "auto's", "reden", "naar", "Groot-Brittannië", "."],
        ["Dr.", "Jansen", "zei", ":", "'", "Het", "is", "goed", ".", "'"], ["Daarna", "."]]),
    ("de", "Am 3. Oktober 1990 kam's zur Einheit. Wann geht's los? Die Jugend- und Sozialämter im Jahr 1990. Ende",
     [["Am", "3.", "Oktober", "1990", "kam", "'s", "zur", "Einheit", "."], ["Wann", "geht", "'s", "los", "?"],
      ["Die", "Jugend-", "und", "Sozialämter", "im", "Jahr", "1990", "."], ["Ende"]]),
    ("fi", "EU:n komissio julkaisi 9. syyskuuta uuden Galaxy S6 -puhelimen. Se maksaa esim. 10 euroa.", [
        ["EU:n", "komissio", "julkaisi", "9.", "syyskuuta", "uuden", "Galaxy", "S6", "-puhelimen", "."],
        ["Se", "maksaa", "esim.", "10", "euroa", "."]]),
    ("ar", "قال الرئيسُ «الاقتصاد». هل هذا صحيح؟ نعم، 3٫5 بالمئة", [
        ["قال", "الرئيسُ", "«", "الاقتصاد", "»", "."], ["هل", "هذا", "صحيح", "؟"], ["نعم", "،", "3٫5", "بالمئة"]]),
])
def test_known_sentences_and_words(lang, text, expected):
    assert sentences(text, lang) == expected


def test_blank_lines_split_single_line_breaks_do_not():
    assert sentences("A headline\n\nThe body\nwraps here.") == [["A", "headline"], ["The", "body", "wraps", "here",
                                                                                     "."]]


def test_projection_tokenize_is_the_segment_tokenizer():
    text = "The EU's Luxembourg-based office (ECB) reported 2.6 percent."
    assert projection_tokenize(text) == words(text)
    assert projection_tokenize("Zo'n auto's", "nl") == ["Zo'n", "auto's"]


# -- raw parallel text ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_parallel_corpus_text(shared_data, lang):
    pair = "en-es" if lang == "en" else f"en-{lang}"
    path = shared_data / "parallel" / pair / f"{lang}.txt"
    if not path.is_file():
        pytest.skip(f"no {path}")
    lines = path.read_text(encoding="utf-8").split("\n")[:600]
    text = "\n\n".join(line for line in lines if line.strip())
    split = segment(text, lang)
    check_invariants(text, split)
    per_line = [tokenize(line, lang) for line in lines if line.strip()]
    for line, spans in zip((line for line in lines if line.strip()), per_line):
        assert "".join(line[start:end] for start, end in spans) == "".join(line.split())
    average = sum(map(len, per_line)) / len(per_line)
    assert 4 < average < 40, average
    assert len(per_line) <= len(split) <= 1.6 * len(per_line)  # a line is a sentence, now and then two


# -- detokenizer ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang,gold", [
    ("en", ["The", "EU", "'s", "office", "(", "ECB", ")", "said", '"', "no", '"', ",", "and", "did", "n't", "stop",
            "."]),
    ("es", ["¿", "Dónde", "está", "el", "Sr.", "García", "?", "«", "Aquí", "»", "."]),
    ("de", ["Am", "3.", "Oktober", "sagte", "er", ":", '"', "Gut", '"', "."]),
    ("ar", ["قال", "الرئيس", "،", "(", "الاقتصاد", ")", "."]),
])
def test_detokenize_round_trip(lang, gold):
    text, offsets = detokenize(gold, lang)
    assert [text[start:end] for start, end in offsets] == gold
    assert words(text, lang) == gold


def test_detokenize_spacing_and_document_offsets():
    assert detokenize(["He", "said", '"', "yes", '"', "(", "ok", ")", ",", "5", "%", "."])[0] == \
        'He said "yes" (ok), 5%.'
    text, offsets = detokenize_document([["One", "."], ["Two", "!"]])
    assert text == "One. Two!"
    assert [[text[start:end] for start, end in sentence] for sentence in offsets] == [["One", "."], ["Two", "!"]]
