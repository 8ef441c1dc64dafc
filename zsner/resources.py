"""Where data lives: the resource search path and the dataset registry.

Search order for any resource: an explicit path (flag), then ``$ZSNER_DATA``, then ``./data``, then
``../shared/data`` (relative to the working directory and to the package's checkout).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ZsnerError

ENV_VAR = "ZSNER_DATA"


def search_roots(explicit: str | os.PathLike | None = None) -> list[Path]:
    """The data roots in search order (duplicates removed, non-existing ones kept for the error message)."""
    roots: list[Path] = []
    if explicit:
        if not Path(explicit).is_dir():  # a mistyped --data-dir must not fall back to other data silently
            raise ZsnerError("no such data folder (--data-dir)", explicit)
        roots.append(Path(explicit))
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]))
    repo = Path(__file__).resolve().parent.parent
    for root in (Path("data"), Path("..") / "shared" / "data", repo / "data", repo.parent / "shared" / "data"):
        roots.append(root)
    unique: list[Path] = []
    for root in roots:
        if all(root.resolve() != seen.resolve() for seen in unique):
            unique.append(root)
    return unique


def find_resource(relative: str, data_dir: str | os.PathLike | None = None, what: str = "file") -> Path:
    """First existing ``root/relative`` along the search path, or a ZsnerError saying where we looked."""
    roots = search_roots(data_dir)
    for root in roots:
        candidate = root / relative
        if candidate.exists():
            return candidate
    looked = ", ".join(str(root / relative) for root in roots)
    raise ZsnerError(f"missing {what} '{relative}'; looked in: {looked} (set --data-dir or ${ENV_VAR})")


@dataclass(frozen=True)
class DatasetSpec:
    """One language's NER corpus: file per split, their encodings, and the tag scheme they are written in."""

    lang: str
    files: dict[str, str]  # split -> path relative to a data root
    encodings: dict[str, str]
    scheme: str  # "iob1" or "iob2" (as written in the files)
    docstart: str = "drop-line"  # the registry default DOCSTART convention
    token_prefix: str = ""  # every token is written "<prefix><word>" (WikiAnn: "sw:"); stripped on reading
    repair: bool = False  # rewrite IOB2 violations (a chunk starting with I-X) as B-X on reading, counted


def _spec(lang, names, enc, scheme, docstart="drop-line", folder=None):
    folder = folder or lang
    files = {split: f"ner/{folder}/{name}" for split, name in zip(("train", "dev", "test"), names)}
    encodings = enc if isinstance(enc, dict) else {split: enc for split in files}
    return DatasetSpec(lang, files, encodings, scheme, docstart)


DATASETS: dict[str, DatasetSpec] = {
    "en": _spec("en", ("eng.train", "eng.testa", "eng.testb"), "utf-8", "iob1"),
    "es": _spec("es", ("esp.train", "esp.testa", "esp.testb"), "latin-1", "iob2"),
    # The paper's Dutch counts (15519/2821/5076) drop each whole DOCSTART block.
    "nl": _spec("nl", ("ned.train", "ned.testa", "ned.testb"), "utf-8", "iob2", docstart="paper"),
    # German train is a converted UTF-8 IOB2 copy; dev/test are the latin-1 IOB1 originals (auto-detected).
    "de": _spec("de", ("deu.train", "deu.testa", "deu.testb"),
                {"train": "utf-8", "dev": "latin-1", "test": "latin-1"}, "auto"),
    "fi": _spec("fi", ("fi.train.iob2", "fi.testa.iob2", "fi.testb.iob2"), "utf-8", "iob2"),
    "ar": _spec("ar", ("ar.train.iob2", "ar.testa.iob2", "ar.testb.iob2"), "utf-8", "iob2"),
}
SPLITS = ("train", "dev", "test")

# WikiAnn (Pan et al. 2017) in the Rahimi et al. (2019) splits: ``wikiann/<code>/{train,dev,test}``, lines
# ``<code>:token<TAB>TAG``, IOB2 over PER/ORG/LOC; ja/zh hold orphan I- tags (see the data README): repaired.
WIKIANN_LANGS = ("ar", "da", "de", "en", "es", "fr", "he", "hi", "it", "ja", "ko", "ru", "sw", "yo", "zh")
WIKIANN = "wikiann:"
DATASETS.update({WIKIANN + code: DatasetSpec(WIKIANN + code, {split: f"wikiann/{code}/{split}" for split in SPLITS},
                                             dict.fromkeys(SPLITS, "utf-8"), "iob2", token_prefix=f"{code}:",
                                             repair=True)
                 for code in WIKIANN_LANGS})


def language_code(name: str) -> str:
    """The bare language code of a dataset name (``wikiann:sw`` -> ``sw``; ``en`` -> ``en``)."""
    return name.split(":")[-1]


def wikiann_names(codes) -> list[str]:
    """WikiAnn dataset names for codes given bare (``sw``) or in full (``wikiann:sw``); unknown -> ZsnerError."""
    names = [code if code.startswith(WIKIANN) else WIKIANN + code for code in codes]
    unknown = [code for code, name in zip(codes, names) if name not in DATASETS]
    if unknown:
        raise ZsnerError(f"unknown WikiAnn language '{unknown[0]}'; known: {', '.join(WIKIANN_LANGS)}")
    return names


def dataset(lang: str) -> DatasetSpec:
    if lang not in DATASETS:
        conll = sorted(name for name in DATASETS if not name.startswith(WIKIANN))
        raise ZsnerError(f"unknown language '{lang}'; known: {', '.join(conll)}, "
                         f"{WIKIANN}<code> for {' '.join(WIKIANN_LANGS)}")
    return DATASETS[lang]


def dataset_path(lang: str, split: str, data_dir=None) -> Path:
    spec = dataset(lang)
    return find_resource(spec.files[split], data_dir, what=f"{lang} {split} NER file")


def embedding_path(lang: str, data_dir=None) -> Path:
    """Monolingual vectors for a language: ``embeddings/<lang>.{kv,vec,vec.gz,bin}``; the first root along the
    search path that has any of them wins (so ``--data-dir`` overrides the shared vectors). A dataset name such as
    ``wikiann:de`` reads its language's vectors (``de``)."""
    lang = language_code(lang)
    names = [f"embeddings/{lang}.{ext}" for ext in EMBEDDING_EXTENSIONS]
    roots = search_roots(data_dir)
    for root in roots:
        for name in names:
            if (root / name).exists():
                return root / name
    looked = ", ".join(str(root / f"embeddings/{lang}.{{{','.join(EMBEDDING_EXTENSIONS)}}}") for root in roots)
    raise ZsnerError(f"missing {lang} word vectors; looked in: {looked} (set --data-dir or ${ENV_VAR})")


EMBEDDING_EXTENSIONS = ("kv", "vec", "vec.gz", "bin")


def dictionary_path(src: str, tgt: str, split: str = "5000-6500", data_dir=None) -> Path:
    return find_resource(f"dictionaries/{src}-{tgt}.{split}.txt", data_dir, what=f"{src}-{tgt} evaluation dictionary")
