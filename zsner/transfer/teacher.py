"""Transformer teachers of Algorithm 1 (`zsner transfer --mode augmented --teacher RUN[,RUN...]`).

The teacher (or the ensemble of several, zsner/teachers.py) tags every unlabelled target training sentence once
(cached under ``--cache-dir``); each round of Algorithm 1 then takes its pseudo-labels from these tags instead of
θ_s's Viterbi paths (the same length sampling applies). The classic model remains the student, with its speed at
inference. Selection stays unsupervised: a run folder stands for the checkpoint its run chose on *source* dev.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.vocab import Vocabulary
from ..teachers import student_ids, teacher_labels


def teacher_tags(checkpoints: list[Path], sentences: list[list[str]], lang: str, tags: Vocabulary, cache_dir,
                 device="cpu", progress: bool = True, decode: str = "") -> tuple[list[np.ndarray], dict]:
    """The teachers' tags of ``sentences`` as ids of the student's tag vocabulary (IOBES), and the record of the
    teachers (checkpoints, decoding, cache hits, speed); ``decode``: ``--teacher-decode``."""
    tagged, record = teacher_labels(checkpoints, sentences, lang, cache_dir, device, progress=progress, decode=decode)
    ids = student_ids(tagged, tags.items, "iobes", ",".join(map(str, checkpoints)))
    return [np.array(row, dtype=np.int64) for row in ids], record
