"""Gold CoNLL words back to plausible raw text, with each word's offsets in it (to measure tokenizers on real data).

No space before ``, . ; : ! ? % ) ] } »`` and closing quotes, none after ``( [ { ¿ ¡ «`` and opening quotes;
straight quotes alternate opening and closing; English and German clitics ("'s", "n't") join the word before.
"""
from __future__ import annotations

import re

_NO_SPACE_BEFORE = frozenset(",.;:!?%)]}»”›،؛؟…") | {"...", "..", "''"}
_NO_SPACE_AFTER = frozenset("([{¿¡«“„‹") | {"``"}
_STRAIGHT_QUOTES = frozenset("\"'")
_CLITIC = re.compile(r"(?i:n['’]t|['’](?:s|re|m|ve|ll|d))")


def detokenize(words: list[str], lang: str = "") -> tuple[str, list[tuple[int, int]]]:
    """``(text, offsets)``: the words joined as raw text, and each word's ``(start, end)`` in it."""
    pieces, offsets, length = [], [], 0
    open_quotes = {quote: False for quote in _STRAIGHT_QUOTES}
    glue_next = True  # no space before the first word
    for word in words:
        if word in _STRAIGHT_QUOTES:
            closing = open_quotes[word]
            open_quotes[word] = not closing
            space = not (glue_next or closing)
            glue_after = not closing
        else:
            space = not (glue_next or word in _NO_SPACE_BEFORE
                         or (lang in ("en", "de", "") and _CLITIC.fullmatch(word) is not None))
            glue_after = word in _NO_SPACE_AFTER
        if space:
            pieces.append(" ")
            length += 1
        pieces.append(word)
        offsets.append((length, length + len(word)))
        length += len(word)
        glue_next = glue_after
    return "".join(pieces), offsets


def detokenize_document(sentences: list[list[str]], lang: str = "") -> tuple[str, list[list[tuple[int, int]]]]:
    """``(text, per-sentence offsets)``: each sentence detokenized, the sentences joined by one space."""
    texts, offsets, length = [], [], 0
    for words in sentences:
        text, spans = detokenize(words, lang)
        if texts:
            length += 1
        offsets.append([(start + length, end + length) for start, end in spans])
        texts.append(text)
        length += len(text)
    return " ".join(texts), offsets
