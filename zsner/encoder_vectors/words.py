"""What `zsner vectors` embeds and where words are seen in context: word lists and unlabelled text.

The default word list of a language is its monolingual vectors' vocabulary (frequency order) followed by every
other word type of its NER files, all lowercased. Context text is either a registered NER split read *without*
its tags (``es:train``) or a plain UTF-8 file with one sentence per line (e.g. one side of ``parallel/en-es``).
"""
from __future__ import annotations

import re
from pathlib import Path

from ..data.conll import read_dataset
from ..embeddings import WordVectors
from ..errors import ZsnerError
from ..resources import SPLITS

TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")  # words (inner hyphens/apostrophes kept), punctuation split off


def unique_lower(words) -> list[str]:
    """Lowercased words, first occurrence kept (so frequency order survives)."""
    return list(dict.fromkeys(word.lower() for word in words if word.strip()))


def ner_word_types(lang: str, data_dir=None) -> list[str]:
    """Every word of the language's NER splits, in reading order (tags are not kept)."""
    return [word for split in SPLITS for sentence in read_dataset(lang, split, data_dir) for word in sentence.words]


def default_words(lang: str, vectors: WordVectors | None, data_dir=None) -> list[str]:
    return unique_lower([*(vectors.words if vectors is not None else []), *ner_word_types(lang, data_dir)])


def read_word_list(path) -> list[str]:
    """One word per line (the first whitespace-separated field; later fields, e.g. counts, are ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ZsnerError("no such word list", path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ZsnerError(f"cannot read the word list ({type(err).__name__})", path) from None
    words = unique_lower(line.split()[0] for line in lines if line.split())
    if not words:
        raise ZsnerError("the word list is empty", path)
    return words


def read_contexts(source: str, data_dir=None) -> list[list[str]]:
    """Tokenised sentences of ``LANG:SPLIT`` (an NER split, words only) or of a plain one-sentence-per-line file."""
    lang, _, split = source.partition(":")
    if split and not Path(source).exists():
        if split not in SPLITS:
            raise ZsnerError(f"context source {source!r}: split must be one of {', '.join(SPLITS)}")
        return [list(sentence.words) for sentence in read_dataset(lang, split, data_dir)]
    path = Path(source)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ZsnerError("no such context file", path) from None
    except UnicodeDecodeError as err:
        raise ZsnerError(f"context file is not UTF-8 (byte {err.start})", path) from None
    except OSError as err:
        raise ZsnerError(f"cannot read the context file ({err.strerror})", path) from None
    sentences = [TOKEN.findall(line) for line in lines]
    sentences = [sentence for sentence in sentences if sentence]
    if not sentences:
        raise ZsnerError("the context file holds no text", path)
    return sentences
