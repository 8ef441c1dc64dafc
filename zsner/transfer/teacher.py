"""A trained transformer run as the teacher of Algorithm 1 (`zsner transfer --mode augmented --teacher RUN_DIR`).

The teacher tags every unlabelled target training sentence once; each round of Algorithm 1 then takes its
pseudo-labels from these tags instead of θ_s's Viterbi paths (the same length sampling applies). The classic
model remains the student, with its speed at inference. Selection stays unsupervised: the teacher checkpoint is
the one its run chose on *source* dev (``checkpoints/zero-shot.src-dev.pt``) unless a ``.pt`` file is named.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..data.tags import convert
from ..data.vocab import Vocabulary
from ..errors import ZsnerError

log = logging.getLogger("zsner")
DEFAULT_CHECKPOINT = Path("checkpoints") / "zero-shot.src-dev.pt"


def teacher_checkpoint(path) -> Path:
    """The checkpoint file of a transformer run folder (or the file itself), checked before any work: a zsner
    transformer checkpoint whose base model folder (the encoder it loads) is there."""
    from ..transformer.run import read_checkpoint

    path = Path(path)
    checkpoint = path if path.is_file() else path / DEFAULT_CHECKPOINT
    if not checkpoint.is_file():
        raise ZsnerError(f"no teacher checkpoint (expected a .pt file or a run folder with {DEFAULT_CHECKPOINT})",
                         path)
    config = read_checkpoint(checkpoint).get("model_config")
    base = Path(str(config.get("model", "") if isinstance(config, dict) else "")).expanduser()
    if not (base / "config.json").is_file():
        raise ZsnerError(f"--teacher: the Hugging Face folder the run was trained from ({base}) is gone "
                         "(no config.json)", checkpoint)
    return checkpoint


def teacher_tags(checkpoint: Path, sentences: list[list[str]], lang: str, tags: Vocabulary, batch_size: int = 64,
                 device: str = "cpu", progress: bool = True) -> tuple[list[np.ndarray], dict]:
    """The teacher's tags of ``sentences`` as ids of the student's tag vocabulary (IOBES), and timing figures."""
    from ..transformer.inference import encode, predict_tags
    from ..transformer.run import load_checkpoint

    model, tokens, archive = load_checkpoint(checkpoint)
    model.to(device)
    config = archive["model_config"]
    corpus = encode(sentences, tokens, int(config["window"]), int(config["overlap"]), lang)
    started = time.perf_counter()
    predicted = predict_tags(model, corpus, batch_size=batch_size, device=device, progress=progress,
                             desc="teacher")
    seconds = time.perf_counter() - started
    index = {name: position for position, name in enumerate(tags.items)}
    unknown = sorted({tag for sentence in predicted for tag in convert(sentence, "iobes") if tag not in index})
    if unknown:
        raise ZsnerError(f"the teacher predicts tags the student does not know: {unknown}", checkpoint)
    ids = [np.array([index[tag] for tag in convert(sentence, "iobes")], dtype=np.int64) for sentence in predicted]
    speed = {"teacher_sentences": len(sentences), "teacher_seconds": round(seconds, 2),
             "teacher_sentences_per_second": round(len(sentences) / seconds, 2) if seconds else None}
    log.info("teacher %s: tagged %d target sentences in %.1f s", checkpoint, len(sentences), seconds)
    return ids, speed
