"""Raw text → sentences of CoNLL-style words, as character offsets into the original string (the one tokenizer).

Tokens follow the CoNLL corpora: punctuation is split off; titles, abbreviations, initials and acronyms keep their
period ("Mr.", "Inc.", "U.S."); numbers with separators ("3,1", "2.6", "1/2", "1996-12-06") and hyphenated compounds
stay whole; English splits clitics ("EU 's", "do n't"), Dutch, Spanish and Finnish keep inner apostrophes ("zo'n",
"Dell'Olmo"), Finnish keeps case endings after a colon ("EU:n"), German keeps a number's period ("3. Oktober").
Combining marks, emoji modifiers and ZWJ sequences stay with the character they follow. Nothing is normalised:
every non-space character of the text lies in exactly one token.

Sentences end after ``. ! ? ؟ …`` (with the closing quotes and brackets that follow) when the next word can start
a sentence (not a lower-case word: "¿Dónde está? preguntó"), and at blank lines; a word that keeps its period
(title, abbreviation, initial, acronym, ordinal) never ends one. A single line break is a space.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from functools import lru_cache


def _char_class(predicate, codes) -> str:
    """The code points of ``codes`` whose category satisfies ``predicate``, as regex character-class ranges."""
    ranges, start, last = [], None, None
    for code in codes:
        if predicate(unicodedata.category(chr(code))):
            if start is None or code != last + 1:
                if start is not None:
                    ranges.append((start, last))
                start = code
            last = code
    ranges.append((start, last))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


def _trie(words: list[str]) -> str:
    """A regex matching exactly ``words``, branching one character at a time (re tries alternatives in turn)."""
    if "" in words and len(words) == 1:
        return ""
    branches = {}
    for word in words:
        if word:
            branches.setdefault(word[0], []).append(word[1:])
    parts = [re.escape(first) + _trie(rests) for first, rests in sorted(branches.items())]
    body = parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"
    return f"(?:{body})?" if "" in words else body


# Character classes stay fast only with few ranges above U+FFFF: there, the emoji blocks count as symbols, and
# everything else (historic scripts, CJK extensions, rare astral punctuation) as word characters.
_PUNCT = _char_class(lambda category: category[0] in "PS", range(0x10000)) + "\U0001F000-\U0001FBFF"
_W = rf"[^\s{_PUNCT}]"  # a word character: letter, digit, mark, format character: not space, punctuation, symbol
_NOT_W = rf"(?!{_W})"
_LETTER = r"[^\W\d_]"
# what joins the character before it: combining marks, skin-tone modifiers, tags, variation selectors, ZWJ + symbol
_MARKS = _char_class(lambda category: category[0] == "M", range(0x10000))
_ASTRAL_MARKS = _char_class(lambda category: category[0] == "M", range(0x10000, 0x20000))
_JOINED = rf"(?:[{_MARKS}\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\U000E0100-\U000E01EF]|" \
          rf"(?=[\U00010000-\U0001FFFF])[{_ASTRAL_MARKS}]|\u200d(?!{_W})\S)*"
_HYPHEN = "-‐‑–"
_APOSTROPHE = "'’"

# titles and abbreviations: they keep their period and never end a sentence
ABBREVIATIONS = {
    "en": "Mr Mrs Ms Messrs Dr Prof St Mt Jr Sr Gen Gov Sen Rep Lt Col Sgt Capt Cmdr Adm Maj Rev Hon Pres Fr "
          "Inc Corp Ltd Co Bros Jan Feb Aug Sept Sep Oct Nov Dec Ave Blvd Dept Univ No Nos Fig vs etc approx est",
    "es": "Sr Sra Srta Sres Sras D Dña Dr Dra Lic Ing Prof Gral Excmo Excma Ilmo Sto Sta Mons "
          "Av Avda Cía etc pág págs núm tel aprox Inc Corp Ltd Co vol",
    "nl": "dhr mevr mw mr dr drs ir ing prof Dr Mr St Jr blz bijv bv enz ca jl resp zgn nr Nr pag Inc Corp Ltd Co vs",
    "de": "Dr Prof Hr Fr Frl Dipl Ing St Jr bzw ca usw vgl evtl ggf Nr Str So Mo Di Mi Do Sa Jan Feb Aug Sept Okt "
          "Nov Dez Jh Abs Tel Kl Mio Mrd Std Min Inc Co Ltd Corp op Spvgg Ffm Ev",
    "fi": "tri prof Dr Mr esim mm ns jne ym yms ks vrt milj mrd n ts ruots Inc Oy Ab",
    "ar": "",
}
# a word and a trailing hyphen before one of these is one token ("Jugend- und Sozialamt")
_CONJUNCTIONS = {"en": "and|or", "es": "y|o|e|u", "nl": "en|of|tot", "de": "und|oder|bis|sowie", "fi": "ja|tai|sekä",
                 "ar": ""}
LANGUAGES = tuple(ABBREVIATIONS)
_CLOSING = frozenset("\"'»”’)]}›")
_CONTINUING = frozenset(",;:%") | _CLOSING


def _forms(words: str) -> list[str]:
    """Each abbreviation as written and capitalised (sentence-initial "Bijv."), longest first."""
    forms = {form for word in words.split() for form in (word, word[:1].upper() + word[1:])}
    return sorted(forms, key=lambda form: (-len(form), form))


@lru_cache(maxsize=None)
def token_pattern(lang: str = "") -> re.Pattern:
    """The compiled word regex of ``lang`` (unknown or empty: English conventions).

    Every alternative begins with a plain character or class, which ``re`` checks before entering it: keep it so.
    """
    lang = lang if lang in ABBREVIATIONS else "en"
    words = _forms(ABBREVIATIONS[lang])
    initials = "".join(sorted({word[0] for word in words}))
    abbreviation = rf"(?=[{initials}]){_trie(words)}\.{_NOT_W}|" if words else ""
    if lang in ("en", "de"):  # "EU 's", "do n't", "gibt 's"; other inner apostrophes stay ("O'Brien")
        clitic = "(?i:s|re|m|ve|ll|d)" if lang == "en" else "s"
        inner = rf"[{_APOSTROPHE}](?!{clitic}{_NOT_W}){_W}+"
        clitics = rf"[{_APOSTROPHE}]{clitic}{_NOT_W}|"
        if lang == "en":
            clitics += rf"{_LETTER}{_LETTER}*(?=(?i:n[{_APOSTROPHE}]t){_NOT_W})|[nN][{_APOSTROPHE}][tT]{_NOT_W}|"
    else:
        inner, clitics = rf"[{_APOSTROPHE}]{_W}+", ""
    inner += rf"|:{_LETTER}{{1,5}}{_NOT_W}" if lang == "fi" else ""  # "EU:n", "10:ssä"
    conjunctions = _CONJUNCTIONS[lang]  # "Jugend-" before "und": a word that ends with a hyphen
    truncated = rf"(?:-(?=\s+(?:{conjunctions}){_NOT_W}))?" if conjunctions else ""
    joiners = _HYPHEN + ("/" if lang == "es" else "")  # "CID/Gallup"
    word = rf"{_W}{_W}*(?:[{joiners}]{_W}+|{inner}|\.(?:com|org|net|edu|gov)\b)*{truncated}"  # "Amazon.com"
    ordinal = {  # "3. Oktober", "84. Minute", "im Jahr 1990. Die": years end a sentence; "9. syyskuuta"
        "de": r"\d\d?\d?\.(?![\d.])|\d+\.(?=\s+[a-zäöüß])|",
        "fi": r"\d\d?\d?\.(?=\s+[a-zäöå])|",
    }.get(lang, "")
    percent = "%?" if lang == "es" else ""  # "77%", "0,63%"
    leading_hyphen = rf"-(?<!\S-){_LETTER}+(?:-{_W}+)*|" if lang == "fi" else ""  # "Galaxy S6 -puhelimen"
    alternatives = (
        r"[,;!?()\[\]{}\"«»“”¿¡،؛؟]|"  # the common punctuation marks
        r"https?://[^\s<>\"]*[^\s<>\"'.,;:!?)\]]|www\.[^\s<>\"]*[^\s<>\"'.,;:!?)\]]|"  # URLs
        rf"\w[\w.+-]*@\w+(?:[.-]\w+)*\.\w+|"  # e-mail addresses
        rf"{abbreviation}{clitics}{ordinal}"
        rf"\d(?<![^\n]\d)\d{{0,2}}\.(?=[ \t])|"  # a list item's number at the start of a line
        rf"[A-ZÀ-ÖØ-Þ]\.{_NOT_W}|{_LETTER}{_LETTER}?\.(?:{_LETTER}{_LETTER}?\.)+|"  # initials, "U.S.", "EE.UU."
        rf"\d\d*(?:[.,:/٫٬]\d+)+(?:[{_HYPHEN}]{_W}+)?{percent}|" + (r"\d+%|" if percent else "") +  # numbers
        rf"{leading_hyphen}{word}|"
        r"\.\.+|--+|[\U0001F1E6-\U0001F1FF][\U0001F1E6-\U0001F1FF]|\S"  # ellipses, dashes, flags, any other
    )
    plain = rf"{_W}+(?=\s|\Z|,(?!\d)|[;!?()\[\]{{}}\"«»“”])"  # most words: nothing joins them or follows them
    return re.compile(rf"{plain}|(?:{alternatives}){_JOINED}")


def tokenize(text: str, lang: str = "") -> list[tuple[int, int]]:
    """Word offsets ``(start, end)`` of one sentence / chunk of ``text``."""
    return [match.span() for match in token_pattern(lang).finditer(text)]


_CANDIDATE = re.compile(r"[.!?؟…。]+|\n[^\S\n]*\n")  # terminator runs and blank lines
_SINGLE_QUOTE = re.compile(r"(?<!\w)'|'(?!\w)")  # a single quote that is not an apostrophe inside a word


def _can_start(token: str) -> bool:
    """Whether a sentence may begin with ``token``: not a lower-case word nor punctuation that continues one."""
    first = token[0]
    return not (first.islower() or first in _CONTINUING) or token in "\"'"


def segment(text: str, lang: str = "") -> list[list[tuple[int, int]]]:
    """Sentences of ``text``, each a list of CoNLL-style word offsets (start, end) into ``text``."""
    spans = tokenize(text, lang)
    count, breaks = len(spans), [0]
    quotes = {'"': 0, "'": 0}  # straight quotes opened and not closed before ``counted`` (a paragraph resets them)
    counted = 0
    for candidate in _CANDIDATE.finditer(text):
        start, end = candidate.span()
        following = bisect_left(spans, (end,))  # the first token after the run
        if text[start] == "\n":  # a blank line
            quotes, counted = {'"': 0, "'": 0}, end
            if 0 < following < count and following > breaks[-1]:
                breaks.append(following)
            continue
        if following >= count or following <= breaks[-1]:
            continue
        if spans[following - 1][0] < start:
            continue  # the period belongs to a longer token ("U.S.", "Mr.", "3.") or takes a combining mark
        quotes['"'] ^= text.count('"', counted, end) % 2
        quotes["'"] ^= len(_SINGLE_QUOTE.findall(text, counted, end)) % 2
        counted = end
        while following < count:  # closing brackets and the quotes that close an open quotation go with it
            token = text[spans[following][0]:spans[following][1]]
            if token not in _CLOSING or quotes.get(token, 1) == 0:
                break
            if token in quotes:
                quotes[token] = 0
                counted = spans[following][1]
            following += 1
        if following < count and _can_start(text[spans[following][0]:spans[following][1]]):
            breaks.append(following)
    breaks.append(count)
    return [spans[begin:end] for begin, end in zip(breaks, breaks[1:]) if end > begin]
