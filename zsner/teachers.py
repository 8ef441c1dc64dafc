"""Transformer models as teachers: a model reference resolved once, each teacher's pseudo-labels written once and
reused, and ensembles of teachers. Used by both backends (``zsner transfer --teacher``, ``zsner transformer
--teacher`` / ``--init``) and the grid's preflight; importing it loads no torch, and a cache hit loads no model.

References (``resolve``): a ``zsner transformer`` run folder of any kind (zero-shot, augmented, trained on a
projected corpus, multilingual) stands for the checkpoint its metrics.json selected on src-dev
(``tagging.load.find_model``); a ``.pt`` checkpoint is taken as it is. A classic model, another kind of folder or
an unfinished run is one ``ZsnerError`` naming the path.

One teacher: its own decoding, exactly (``predict_tags``: the head's best tags, repaired into IOB2), or with
``decode="viterbi"`` (``--teacher-decode viterbi``) the ensemble rule below applied to that one teacher. Several
teachers, the ensemble rule:

1. each teacher gives every word (at its first sub-word) a distribution over its own tags: the softmax of the
   scores (softmax head) or the CRF's marginals within the window (CRF head);
2. each distribution is marginalised into IOB2 over the union of the teachers' entity types (B + S -> B-X,
   I + E -> I-X, O -> O); a type a teacher lacks gets no mass from it;
3. the IOB2 distributions are averaged, every teacher weighing the same;
4. the average is decoded by a constrained IOB2 Viterbi: the tag sequence of the highest sum of the words' log
   probabilities (floored at ``FLOOR``) in which I-X follows only B-X or I-X.

Callers convert the IOB2 tags to their own scheme and tag vocabulary (``student_ids``).

Cache: ``CACHE/teachers/LANG-KEY/`` (``--cache-dir``, as the prepared data's ``CACHE/prepared/``) holds one
teacher's output on one list of sentences: its tags (one teacher) or its IOB2 distributions (an ensemble's
member, so that a new ensemble of cached members runs no model), as ``values.npy`` and ``lengths.npy`` (read
without pickle) and ``meta.json``, written last. KEY hashes the checkpoint file's content, the sentences, the
language, what is stored and ``FORMAT``; an entry is built under its ``build_lock``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_open, build_lock, write_json
from .chunks import digest, file_digest
from .data.tags import allowed_transitions, convert, split_tag, tag_set
from .errors import ZsnerError
from .jsonfile import read_json

log = logging.getLogger("zsner")
FORMAT = 1  # raised whenever what an entry holds changes
FLOOR = 1e-12  # probabilities are floored before the log: a tag no teacher gives mass is very unlikely, not banned
BUCKET = 256  # sentences decoded together (sorted by length: little padding)
TEACHER_HELP = ("comma-separated transformer run folders (their src-dev checkpoint) or .pt checkpoints whose tags "
                "are the pseudo-labels, computed once and cached; several: each word's tag distributions (softmax, "
                "or CRF marginals) marginalised into IOB2 (B+S, I+E), averaged, decoded by a constrained IOB2 "
                "Viterbi (zsner/teachers.py)")
TEACHER_DECODINGS = ("", "viterbi")
TEACHER_DECODE_HELP = ("'' (default): one teacher's pseudo-labels are its own tags, several teachers' the ensemble's "
                       "Viterbi; viterbi: one teacher's too, the constrained IOB2 Viterbi over its words' IOB2 "
                       "marginals (es test pseudo-labels +2.8 F1 for a softmax-head teacher, docs/results "
                       "§12.9)")


def check_decode(decode: str, teachers: str, flag: str = "--teacher-decode") -> str | None:
    """The message for a bad ``decode`` of the teachers ``teachers`` names, else None."""
    if decode not in TEACHER_DECODINGS:
        return f"{flag} must be viterbi or left empty (the default)"
    if decode and not teachers:
        return f"{flag} decodes the pseudo-labels of --teacher: give --teacher"
    return None


# ---------------------------------------------------------------------------------------------------- references
def split_references(text: str) -> list[str]:
    return [item.strip() for item in str(text).split(",") if item.strip()]


def resolve(path, flag: str) -> Path:
    """The transformer checkpoint a reference names (found, not read): a run folder's src-dev choice, or the file."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise ZsnerError(f"{flag}: no such transformer run folder or checkpoint", path)
        return path
    from .tagging.load import find_model

    found = find_model(path, "src-dev")
    if found.kind != "transformer":
        raise ZsnerError(f"{flag} needs a transformer run folder or checkpoint, not a classic model", path)
    return found.file


def read_reference(path, flag: str) -> tuple[Path, dict]:
    """``(checkpoint, its archive)``, the archive checked whole (``transformer.run.read_checkpoint``)."""
    from .transformer.run import read_checkpoint

    checkpoint = resolve(path, flag)
    return checkpoint, read_checkpoint(checkpoint)


def teacher_checkpoints(references: str, flag: str = "--teacher") -> list[Path]:
    """Every teacher of a comma-separated ``references``, checked before any work: a transformer checkpoint whose
    base Hugging Face folder (the encoder it loads) is there. A teacher listed twice counts twice."""
    checkpoints = []
    for reference in split_references(references):
        checkpoint, archive = read_reference(reference, flag)
        base = Path(str(archive["model_config"]["model"])).expanduser()
        if not (base / "config.json").is_file():
            raise ZsnerError(f"{flag}: the Hugging Face folder the run was trained from ({base}) is gone "
                             "(no config.json)", checkpoint)
        checkpoints.append(checkpoint)
    if not checkpoints:
        raise ZsnerError(f"{flag} names no transformer run folder or checkpoint")
    return checkpoints


# ---------------------------------------------------------------------------------------------------- labels
@dataclass
class Output:
    """One teacher's output on a list of sentences: tag ids (``values`` [words]) or IOB2 distributions
    (``values`` [words, tags]) over ``names`` (IOB2 tags), all sentences' words one after another."""

    names: list[str]
    values: np.ndarray
    lengths: np.ndarray
    seconds: float  # the model's tagging time, when the entry was computed
    cached: bool


def teacher_labels(checkpoints: list[Path], sentences: list[list[str]], lang: str, cache_dir, device="cpu",
                   batch_size: int = 64, progress: bool = True, decode: str = "") -> tuple[list[list[str]], dict]:
    """IOB2 tags of ``sentences`` by one teacher (its own decoding, or the ensemble rule when ``decode`` is
    ``viterbi``) or the ensemble of several, and the record for metrics.json: the checkpoints, the decoding,
    whether each came from the cache, and the speed figures."""
    started = time.perf_counter()
    kind = "tags" if len(checkpoints) == 1 and decode != "viterbi" else "probabilities"
    outputs = [cached_output(checkpoint, sentences, lang, kind, cache_dir, device, batch_size, progress)
               for checkpoint in checkpoints]
    lengths = np.array([len(sentence) for sentence in sentences], dtype=np.int64)
    if kind == "tags":
        names, ids = outputs[0].names, outputs[0].values
    else:
        names = ensemble_names(outputs)
        ids = iob2_viterbi(np.log(np.maximum(average(outputs, names), FLOOR)), lengths, names)
    table = np.asarray(names)
    tags = [table[row].tolist() for row in np.split(ids, np.cumsum(lengths)[:-1])] if sentences else []
    seconds = sum(output.seconds for output in outputs)
    record = {"checkpoints": [str(checkpoint) for checkpoint in checkpoints],
              "decode": "own" if kind == "tags" else "iob2-viterbi", "cached": [output.cached for output in outputs],
              "teacher_sentences": len(sentences),
              "teacher_seconds": round(seconds, 2),
              "teacher_sentences_per_second": round(len(sentences) * len(outputs) / seconds, 2) if seconds else None,
              "teacher_wall_seconds": round(time.perf_counter() - started, 2)}
    log.info("teacher%s %s: %d target sentences (%s)", "s" if len(checkpoints) > 1 else "",
             ", ".join(map(str, checkpoints)), len(sentences),
             ", ".join("cached" if output.cached else f"tagged in {output.seconds:.1f} s" for output in outputs))
    return tags, record


def student_ids(tagged: list[list[str]], tags: list[str], scheme: str, where) -> list[list[int]]:
    """IOB2 tag sequences as ids of a student's ``tags`` in its ``scheme``; a tag the student lacks is an error."""
    index = {name: position for position, name in enumerate(tags)}
    converted = [convert(sentence, scheme) for sentence in tagged]
    unknown = sorted({tag for sentence in converted for tag in sentence if tag not in index})
    if unknown:
        raise ZsnerError(f"the teacher predicts tags the student does not know: {unknown}", where)
    return [[index[tag] for tag in sentence] for sentence in converted]


# ---------------------------------------------------------------------------------------------------- ensemble
def iob2_names(tags: list[str]) -> list[str]:
    """The IOB2 tag set over the entity types of ``tags`` (any scheme)."""
    return tag_set({split_tag(tag)[1] for tag in tags if tag != "O"}, "iob2")


def iob2_matrix(tags: list[str], names: list[str]) -> np.ndarray:
    """``[len(tags), len(names)]`` 0/1: where each tag's mass goes among the IOB2 ``names`` (B, S -> B-X; I, E ->
    I-X; O -> O). Rows of ``p @ matrix`` sum to the rows of ``p``."""
    index = {name: position for position, name in enumerate(names)}
    matrix = np.zeros((len(tags), len(names)), dtype=np.float32)
    for row, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        matrix[row, index["O" if prefix == "O" else f"{'B' if prefix in 'BS' else 'I'}-{kind}"]] = 1.0
    return matrix


def ensemble_names(outputs: list[Output]) -> list[str]:
    return iob2_names([name for output in outputs for name in output.names])


def average(outputs: list[Output], names: list[str]) -> np.ndarray:
    """The mean of the members' IOB2 distributions, each carried over to ``names``: ``[words, len(names)]``."""
    return sum(output.values @ iob2_matrix(output.names, names) for output in outputs) / len(outputs)


def iob2_viterbi(scores: np.ndarray, lengths, names: list[str]) -> np.ndarray:
    """Best tag ids ``[words]`` of the sentences whose words are consecutive rows of ``scores`` (``[words, tags]``
    log scores over IOB2 ``names``): per sentence, the sequence of the highest total score in which I-X only
    follows B-X or I-X (never starts a sentence). Sentences are decoded ``BUCKET`` at a time, sorted by length."""
    lengths = np.asarray(lengths, dtype=np.int64)
    start, transitions, _ = allowed_transitions(names, "iob2")
    start = np.where(start, 0.0, -np.inf)
    transitions = np.where(transitions, 0.0, -np.inf)  # [from, to]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    best = np.zeros(len(scores), dtype=np.int64)
    order = [index for index in np.argsort(lengths, kind="stable") if lengths[index] > 0]
    for first in range(0, len(order), BUCKET):
        group = np.asarray(order[first:first + BUCKET])
        size = lengths[group]
        positions = offsets[group][:, None] + np.arange(size.max())
        inside = np.arange(size.max()) < size[:, None]
        path = _viterbi(scores[np.where(inside, positions, 0)], size, start, transitions)
        best[positions[inside]] = path[inside]
    return best


def _viterbi(scores: np.ndarray, lengths: np.ndarray, start: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Best paths ``[B, L]`` of padded ``scores`` ``[B, L, T]`` (row ``b`` valid up to ``lengths[b]``)."""
    batch, length, _ = scores.shape
    rows = np.arange(batch)
    total = start + scores[:, 0]
    back = np.zeros(scores.shape, dtype=np.int64)
    for step in range(1, length):
        candidates = total[:, :, None] + transitions  # [B, from, to]
        back[:, step] = candidates.argmax(1)
        total = np.where((step < lengths)[:, None], candidates.max(1) + scores[:, step], total)
    path = np.zeros((batch, length), dtype=np.int64)
    path[:, -1] = current = total.argmax(1)  # a shorter row keeps its last tag through its padding
    for step in range(length - 1, 0, -1):
        current = np.where(step < lengths, back[rows, step, current], current)
        path[:, step - 1] = current
    return path


# ---------------------------------------------------------------------------------------------------- cache
def entry_folder(checkpoint: Path, sentences: list[list[str]], lang: str, kind: str, cache_dir) -> Path:
    """The cache entry of one teacher's ``kind`` (tags | probabilities) of ``sentences`` in ``lang``."""
    key = digest({"format": FORMAT, "kind": kind, "lang": lang, "sentences": digest(sentences),
                  "checkpoint": file_digest(checkpoint, "teacher checkpoint").hex()})
    return Path(cache_dir) / "teachers" / f"{lang.replace(':', '-')}-{key}"


def cached_output(checkpoint: Path, sentences: list[list[str]], lang: str, kind: str, cache_dir, device="cpu",
                  batch_size: int = 64, progress: bool = True) -> Output:
    """One teacher's output: loaded from its cache entry, or computed (then stored) under the entry's lock."""
    folder = entry_folder(checkpoint, sentences, lang, kind, cache_dir)
    with build_lock(folder):
        if (folder / "meta.json").is_file():
            return _load(folder, sentences)
        output = _compute(checkpoint, sentences, lang, kind, device, batch_size, progress)
        for name, array in (("values.npy", output.values), ("lengths.npy", output.lengths)):
            with atomic_open(folder / name, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
        write_json(folder / "meta.json", {"format": FORMAT, "kind": kind, "lang": lang, "checkpoint": str(checkpoint),
                                          "names": output.names, "seconds": output.seconds, "device": str(device),
                                          "sentences": len(sentences)})
    return output


def _load(folder: Path, sentences: list[list[str]]) -> Output:
    meta = read_json(folder / "meta.json", "teacher cache entry")
    try:
        values = np.load(folder / "values.npy", allow_pickle=False)
        lengths = np.load(folder / "lengths.npy", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ZsnerError(f"unreadable teacher cache entry ({err}); delete the folder to recompute it", folder) from None
    if lengths.tolist() != [len(sentence) for sentence in sentences] or len(values) != int(lengths.sum()):
        raise ZsnerError("damaged teacher cache entry (its sizes do not fit the sentences); delete the folder to "
                         "recompute it", folder)
    return Output(list(meta["names"]), values, lengths, float(meta["seconds"]), True)


def _compute(checkpoint: Path, sentences: list[list[str]], lang: str, kind: str, device, batch_size: int,
             progress: bool) -> Output:
    """The teacher model's output (tags: exactly its ``predict_tags``; probabilities: marginalised into IOB2)."""
    from .transformer.inference import encode, predict_probabilities, predict_tags
    from .transformer.run import load_checkpoint

    model, tokens, archive = load_checkpoint(checkpoint, cached_tokenizer=True)
    model.to(device)
    config = archive["model_config"]
    corpus = encode(sentences, tokens, int(config["window"]), int(config["overlap"]), lang)
    names = iob2_names(model.tags)
    options = dict(batch_size=batch_size, device=device, progress=progress, desc="teacher")
    started = time.perf_counter()
    if kind == "tags":
        index = {name: position for position, name in enumerate(names)}
        values = np.array([index[tag] for sentence in predict_tags(model, corpus, **options) for tag in sentence],
                          dtype=np.int64)
    else:
        probabilities = predict_probabilities(model, corpus, **options)
        values = (np.concatenate(probabilities) if probabilities else np.zeros((0, len(model.tags)), np.float32)) \
            @ iob2_matrix(model.tags, names)
    seconds = time.perf_counter() - started
    lengths = np.array([len(sentence) for sentence in sentences], dtype=np.int64)
    log.info("teacher %s: tagged %d sentences in %.1f s", checkpoint, len(sentences), seconds)
    return Output(names, values, lengths, seconds, False)
