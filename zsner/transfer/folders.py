"""The folders of a transfer run: which folder each (seed, variant) writes, the config.json that decides whether
it is reused, and what a finished one holds. Light: deciding that a command only gathers imports no torch."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..chunks import file_digest
from ..config import TaggerConfig, TrainConfig, to_dict
from .config import AugmentConfig, TransferConfig, variant_tagger

FIGURE_DATA = "figure-data.json"  # in the first seed's base folder: what the run's figures are drawn from


def seed_folders(config: TransferConfig, train: TrainConfig, tagger: TaggerConfig, augment: AugmentConfig,
                  out: Path, mapping: dict, teachers: list | None = None) -> dict:
    """(seed, variant) -> (folder, the config.json its run writes): what decides whether a folder is reusable,
    and what ``train_variant`` records there. ``teachers``: the checkpoints ``--teacher`` resolved to; the
    augmented folder records each one's content digest, so a retrained teacher run is not taken for the old one."""
    base = config.base_variant
    identity = {"src": config.src, "tgt": config.tgt, "base": base, "target_emb": config.target_emb,
                "direction": config.mapping_direction, "mapping_dir": config.mapping_dir}
    if config.vectors != "fasttext":
        identity.update(vectors=config.vectors, encoder=str(Path(config.encoder).expanduser().resolve()),
                        encoder_layer=config.encoder_layer)
        if config.encoder_contexts:  # recorded only when set, so that earlier isolated-word folders still match
            identity["encoder_contexts"] = True
    if mapping:  # likewise
        identity["mapping_config"] = mapping
    base_tagger = variant_tagger(base, tagger)
    digests = [{"checkpoint": str(path), "sha256": file_digest(path, "teacher checkpoint").hex()}
               for path in teachers or ()]
    plan = {}
    for seed in range(train.seed, train.seed + config.seeds):
        seeded, folder = to_dict(dataclasses.replace(train, seed=seed)), out / f"seed{seed}"
        wanted = {"train": seeded, "tagger": to_dict(base_tagger), "transfer": {**identity, "variant": base}}
        plan[seed, base] = (folder / base if config.mode == "augmented" else folder, wanted)
        if config.mode == "augmented":
            plan[seed, "augmented"] = (folder / "augmented", {**wanted, "augment": to_dict(augment),
                                                              "transfer": {**identity, "variant": "augmented"}})
            if teachers:  # recorded only with --teacher, so that earlier folders still match
                plan[seed, "augmented"][1]["teachers"] = digests
    return plan


def finished(folder: Path) -> dict | None:
    """A finished run's metrics (its config was checked by ``claim`` before the run started)."""
    path = Path(folder) / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def figure_folder(config: TransferConfig, out: Path, first_seed: int) -> Path:
    """The folder of the model the figures show: the first seed's base variant."""
    folder = Path(out) / f"seed{first_seed}"
    return folder / config.base_variant if config.mode == "augmented" else folder
