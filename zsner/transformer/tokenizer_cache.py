"""A model folder's tokenizer for inference, read in a quarter of the time (``zsner tag``'s start-up).

transformers rebuilds a fast tokenizer from its folder on every load (multilingual-e5-small: 2.0 s, its 250k-piece
``tokenizer.json`` parsed in Python, then converted), and the tokenizer it builds can differ from the folder's
``tokenizer.json`` (e5's XLM-R normaliser drops U+200F; the file's does not). So the first load goes through
transformers and stores what it built -- the backend as ``tokenizers`` JSON, the special ids, the size -- under
``$ZSNER_CACHE`` (default ``~/.cache/zsner``) ``/tokenizers/KEY.json``, keyed by the folder's non-weight files and
the transformers / tokenizers versions. Later loads read that file with ``tokenizers`` alone (0.5 s) and encode
exactly as the transformers tokenizer does. A cache that cannot be written or read back is skipped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..atomic import write_json
from ..errors import ZsnerError

log = logging.getLogger("zsner.transformer")
FORMAT = 1
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt")
SPECIAL = ("cls_token_id", "sep_token_id", "bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id",
           "mask_token_id")


class CachedTokenizer:
    """The part of a transformers tokenizer that ``PieceTokenizer`` uses, on a ``tokenizers.Tokenizer``."""

    def __init__(self, backend, special: dict, size: int, name_or_path: str):
        self.backend, self.size, self.name_or_path = backend, size, name_or_path
        for name in SPECIAL:
            setattr(self, name, special.get(name))

    def __call__(self, texts: list[str], add_special_tokens: bool = False) -> dict:
        encoded = self.backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return {"input_ids": [item.ids for item in encoded]}

    def __len__(self) -> int:
        return self.size


def cache_root() -> Path:
    return Path(os.environ.get("ZSNER_CACHE") or Path.home() / ".cache" / "zsner").expanduser()


def cache_file(folder: Path) -> Path:
    """Where the tokenizer of ``folder`` is cached: a digest of its non-weight files and of the library versions."""
    import tokenizers
    import transformers

    sha = hashlib.sha256(f"{FORMAT}\0{transformers.__version__}\0{tokenizers.__version__}\0".encode())
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.endswith(WEIGHTS):
            sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return cache_root() / "tokenizers" / f"{sha.hexdigest()[:24]}.json"


def load_tokenizer(folder: Path, load_transformers):
    """The tokenizer of ``folder``: from the cache, or ``load_transformers()`` (a transformers tokenizer), then
    cached when it is a fast one."""
    path = cache_file(folder)
    cached = _read(path, folder)
    if cached is not None:
        return cached
    tokenizer = load_transformers()
    if getattr(tokenizer, "is_fast", False):
        record = {"format": FORMAT, "size": len(tokenizer), "backend": tokenizer.backend_tokenizer.to_str(),
                  "special": {name: getattr(tokenizer, name, None) for name in SPECIAL}}
        try:
            write_json(path, record)
        except ZsnerError as err:
            log.debug("tokenizer cache not written: %s", err)
    return tokenizer


def _read(path: Path, folder: Path) -> CachedTokenizer | None:
    if not path.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != FORMAT:
            return None
        special = {name: (int(value) if value is not None else None) for name, value in record["special"].items()}
        return CachedTokenizer(Tokenizer.from_str(record["backend"]), special, int(record["size"]), str(folder))
    except Exception as err:  # noqa: BLE001 - a damaged cache file is rebuilt from the folder
        log.debug("tokenizer cache %s unreadable (%s): rebuilt", path, type(err).__name__)
        return None
