"""What `zsner transfer` reads, found once at the command's edge: each language's split files (read on first use,
or at once to check them), its monolingual vectors, the evaluation dictionary, the mapping config; and the cached
unsupervised mapping of the pair. Target training sentences are read with ``labelled=False``: their tag column
never reaches the program."""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import build_lock
from ..config import TrainConfig
from ..data.conll import read_dataset
from ..errors import ZsnerError
from ..jsonfile import read_json
from ..resources import SPLITS, dataset_path, dictionary_path, embedding_path

log = logging.getLogger("zsner")


@dataclass
class TransferInputs:
    """Everything `zsner transfer` reads, resolved once at the command's edge (search path, files, sentences).
    ``splits`` are read on first use (``read_seconds`` records how long that took)."""

    src: str
    tgt: str
    split_files: dict  # (side "src" | "tgt", split) -> the CoNLL file found along the search path
    vector_files: tuple[Path | None, Path | None]  # monolingual vectors of each side, None if absent
    eval_dict: Path | None  # MUSE dictionary for the mapping's P@k report only (never for training)
    mapping_overrides: dict = field(default_factory=dict)  # MappingConfig fields from --mapping-config
    limits: dict = field(default_factory=dict)  # split -> first sentences kept (0: all)
    data_dir: object = None
    read_seconds: float = 0.0
    _splits: tuple | None = field(default=None, repr=False)

    @property
    def splits(self) -> tuple[dict, dict]:
        """Source splits (labelled), target splits (train unlabelled, dev/test labelled)."""
        if self._splits is None:
            clock = time.perf_counter()
            self._splits = read_crosslingual(self.src, self.tgt, self.limits, self.data_dir)
            self.read_seconds += time.perf_counter() - clock
        return self._splits


def resolve_inputs(src: str, tgt: str, train: TrainConfig, data_dir=None,
                   required: tuple[bool, bool] = (True, True), mapping_config: str = "",
                   read: bool = True) -> TransferInputs:
    """Find both languages' splits, vectors and evaluation dictionary, and (``read``) read the splits: every missing
    (or, read, malformed) input fails here, before anything is written. ``required``: whether each side's vectors
    file must exist; ``mapping_config``: a JSON file of MappingConfig fields for the mappings learned here."""
    split_files = {(side, split): dataset_path(lang, split, data_dir)
                   for side, lang in (("src", src), ("tgt", tgt)) for split in SPLITS}
    files = []
    for lang, needed in zip((src, tgt), required):
        try:
            files.append(embedding_path(lang, data_dir))
        except ZsnerError:
            if needed:
                raise
            files.append(None)
    try:
        eval_dict = dictionary_path(src, tgt, data_dir=data_dir)
    except ZsnerError:
        eval_dict = None
    limits = {"train": train.train_limit, "dev": train.eval_limit, "test": train.eval_limit}
    inputs = TransferInputs(src, tgt, split_files, (files[0], files[1]), eval_dict,
                            read_mapping_config(mapping_config), limits, data_dir)
    if read:
        inputs.splits  # noqa: B018 (reading is the check)
    return inputs


def read_mapping_config(path: str) -> dict:
    """``--mapping-config FILE``: a JSON object of MappingConfig fields (checked here; ``direction`` is
    ``--direction``'s); {} for none."""
    from ..mapping.config import MappingConfig

    if not path:
        return {}
    values = read_json(path, "mapping config", expect=None)
    if isinstance(values, dict) and "direction" in values:
        raise ZsnerError("the mapping direction is --direction's, not the mapping config's", path)
    try:
        MappingConfig.from_dict(values)
    except ZsnerError as err:
        raise ZsnerError(str(err), path) from None
    return values


def mapping_folder(inputs: TransferInputs, direction: str, cache_dir, overrides: dict | None = None):
    """(the cache folder of the mapping for these inputs and config, that config)."""
    from ..mapping.config import MappingConfig
    from ..mapping.pipeline import mapping_cache_key

    config = MappingConfig(direction=direction, **{**inputs.mapping_overrides, **(overrides or {})})
    key = mapping_cache_key(*inputs.vector_files, config)
    return Path(cache_dir) / "mapping" / f"{inputs.src}-{inputs.tgt}-{direction}-{key}", config


MAPPED_FILES = ("src.mapped.vec", "tgt.mapped.vec")


def mapping_cached(folder: Path) -> bool:
    return all((Path(folder) / name).is_file() for name in MAPPED_FILES)


def check_mapping_dir(folder: Path) -> None:
    """``--mapping-dir``: a finished `zsner map` folder, or a ``ZsnerError`` naming the missing file."""
    for name in MAPPED_FILES:
        if not (Path(folder) / name).is_file():
            raise ZsnerError(f"--mapping-dir is not a finished `zsner map` folder ({name} missing)", folder)


def ensure_mapping(inputs: TransferInputs, direction: str, cache_dir, overrides: dict | None = None,
                   progress: bool = True, candidate=None) -> Path:
    """Folder of the unsupervised mapping for (src, tgt, direction, vector files, config), computed once and
    reused. The folder appears atomically (built under a temporary name, then renamed). ``candidate``: see
    ``learn_mapping`` (used only when the mapping is learned here)."""
    from ..mapping.pipeline import learn_mapping

    (src_file, tgt_file), src, tgt = inputs.vector_files, inputs.src, inputs.tgt
    folder, config = mapping_folder(inputs, direction, cache_dir, overrides)
    with build_lock(folder):
        if mapping_cached(folder):
            log.info("mapping: reusing %s", folder)
            return folder
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        log.info("mapping: learning %s -> %s (%s) into %s", src, tgt, direction, folder)
        learn_mapping(src_file, tgt_file, config, eval_dict=inputs.eval_dict, out_dir=building, progress=progress,
                      candidate=candidate)
        building.rename(folder)
    return folder


def read_crosslingual(src: str, tgt: str, limits: dict, data_dir=None) -> tuple[dict, dict]:
    """Source splits (labelled) and target splits: train without labels, dev/test labelled for evaluation;
    ``limits``: split -> first sentences kept (0: all)."""
    src_splits = {split: read_dataset(src, split, data_dir) for split in SPLITS}
    tgt_splits = {"train": read_dataset(tgt, "train", data_dir, labelled=False)}
    tgt_splits.update({split: read_dataset(tgt, split, data_dir) for split in ("dev", "test")})
    for splits in (src_splits, tgt_splits):
        for split, limit in limits.items():
            if limit:
                splits[split] = splits[split][:limit]
    return src_splits, tgt_splits
