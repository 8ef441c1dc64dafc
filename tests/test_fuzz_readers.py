"""Every reader fuzzed (issue 30): torch archives (model files, checkpoint.pt, transformer checkpoints), JSON and
YAML (run configs, metrics, grid specs), loss.tsv, word vectors (.vec, .vec.gz, .bin, .kv), CoNLL / WikiAnn,
parallel text and Hugging Face folders, given empty files, random bytes, plain text, truncations, valid files of
another kind, archives with missing keys / wrong shapes / wrong dtypes, folders for files and files for folders.

The only outcomes allowed: the right object (it is used: a model tags a sentence) or one ``ZsnerError`` of one
line naming the file. At the command line: exit 2, one line on standard error, nothing written."""
from __future__ import annotations

import copy
import dataclasses
import gzip
import io
import itertools
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.synthetic import write_language, write_wikiann
from zsner.errors import ZsnerError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
SCALE = int(os.environ.get("ZSNER_FUZZ_SCALE", "1"))  # e.g. 50 for a long search (random, not derandomized)


def examples(count: int) -> int:
    return count * SCALE


FUZZ = settings(max_examples=examples(60), deadline=None, derandomize=SCALE == 1, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=examples(30))
FOLDER = object()  # "write a folder here instead of a file"
_counter = itertools.count()


class Blob(bytes):
    """File contents with a short repr (hypothesis prints every draw of a failing example)."""

    def __repr__(self) -> str:
        head = bytes(self[:80])
        return f"Blob({head!r}{'...' if len(self) > 80 else ''}, {len(self)} bytes)"


# ------------------------------------------------------------------------------------------------ seed files
@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict:
    """Valid files of every kind, built from tiny fixtures: name -> path (read as bytes by the tests)."""
    from zsner.config import TaggerConfig, TrainConfig
    from zsner.train.loop import train_supervised
    from zsner.transformer.config import TransformerConfig
    from zsner.transformer.model import build
    from zsner.transformer.tiny import build_tiny_model
    from zsner.transformer.train import checkpoint_archive

    root = tmp_path_factory.mktemp("seeds")
    data = write_language(root / "data", "en", sizes=(16, 6, 6), dim=6)
    write_wikiann(data, langs=("sw",), sizes=(4, 3, 3))
    tagger = TaggerConfig(word_dim=6, char_dim=3, char_hidden=3, word_hidden=4, dense_dim=4)
    train_supervised(TrainConfig(lang="en", epochs=1, eval_every=1, batch_size=8, eval_overlap="off"), tagger,
                     root / "run", data_dir=data, progress_bars=False)
    tiny = build_tiny_model(root / "tiny", ["John", "visited", "Paris", "the", "said"], layers=1, hidden=8, heads=1)
    model_config = TransformerConfig(model=str(tiny), window=16, overlap=4)
    model, _ = build(model_config, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    transformer = root / "trun"
    (transformer / "checkpoints").mkdir(parents=True)
    torch.save(checkpoint_archive(model, model_config, model.trainable_state(), {"phase": "zero-shot"}),
               transformer / "checkpoints" / "zero-shot.src-dev.pt")
    (transformer / "metrics.json").write_text(json.dumps(
        {"backend": "transformer", "selection": {"src-dev": {"checkpoint": "checkpoints/zero-shot.src-dev.pt"}}}))
    (transformer / "config.json").write_text(json.dumps({"model": {"model": str(tiny)}, "train": {"tgt": "es"}}))

    vectors = root / "vectors"
    vectors.mkdir()
    words = ["the", "Paris", "paris", "0000", "über", ","]
    matrix = np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32)
    text = f"{len(words)} 4\n" + "".join(w + " " + " ".join(f"{v:.4f}" for v in row) + "\n"
                                         for w, row in zip(words, matrix))
    (vectors / "v.vec").write_text(text, encoding="utf-8")
    (vectors / "v.vec.gz").write_bytes(gzip.compress(text.encode()))
    from gensim.models import KeyedVectors

    kv = KeyedVectors(4, count=0, dtype=np.float32)
    kv.add_vectors(words, matrix)
    kv.save_word2vec_format(str(vectors / "w2v.bin"), binary=True)
    kv.save(str(vectors / "v.kv"))
    pytest.importorskip("fasttext")
    write_fasttext_bin(vectors / "ft.bin", ["river", "rivers", "bank", "Paris", "über", "money", "city", "north",
                                            "</s>"])

    parallel = root / "parallel"
    parallel.mkdir()
    (parallel / "en.txt").write_text("John visited Paris.\nThe report said so.\n", encoding="utf-8")
    (parallel / "es.txt").write_text("John visitó París.\nEl informe lo dijo.\n", encoding="utf-8")
    (parallel / "meta.tsv").write_text("news\tx\neuroparl\ty\n", encoding="utf-8")
    spec = root / "spec.json"
    spec.write_text(json.dumps({"name": "g", "backend": "classic", "pairs": ["en-es"], "modes": ["shared"],
                                "seeds": 1, "flags": {"epochs": 1}, "settings": {"tied": {}}}))
    (root / "spec.yaml").write_text("name: g\nbackend: transformer\npairs: [en-es]\nseeds: 1\n"
                                    "flags: {epochs: 1}\nsettings: {li: {aux: li}}\n")
    classic = root / "run"
    return Quiet({"root": root, "data": data, "run": classic, "model": classic / "best-model.pt",
            "checkpoint": classic / "checkpoint.pt", "loss": classic / "loss.tsv", "config": classic / "config.json",
            "metrics": classic / "metrics.json", "tiny": tiny, "trun": transformer,
            "transformer": transformer / "checkpoints" / "zero-shot.src-dev.pt",
            "vec": vectors / "v.vec", "vec.gz": vectors / "v.vec.gz", "w2v.bin": vectors / "w2v.bin",
            "kv": vectors / "v.kv", "ft.bin": vectors / "ft.bin", "conll": data / "ner" / "en" / "eng.train",
            "wikiann": data / "wikiann" / "sw" / "train", "parallel": parallel, "spec": spec,
            "spec.yaml": root / "spec.yaml"})


def write_fasttext_bin(path: Path, words: list[str], dim: int = 4, bucket: int = 20) -> None:
    """A fastText skip-gram ``.bin`` written field by field (the layout fastText's loader reads: header, dictionary,
    input matrix of words + subword buckets, output matrix): valid, small and the same on every run."""
    rng = np.random.default_rng(0)
    out = [struct.pack("<ii", 793712314, 12),  # magic, version; then dim ws epoch minCount neg wordNgrams loss
           struct.pack("<12id", dim, 5, 1, 1, 5, 1, 2, 2, bucket, 2, 3, 100, 1e-4)]  # model bucket minn maxn lrUR t
    counts = list(range(len(words) + 1, 1, -1))
    out.append(struct.pack("<iiiqq", len(words), len(words), 0, sum(counts), -1))
    out += [word.encode() + b"\0" + struct.pack("<qb", count, 0) for word, count in zip(words, counts)]
    for rows in (len(words) + bucket, len(words)):
        out.append(struct.pack("<bqq", 0, rows, dim) + rng.normal(size=(rows, dim)).astype("<f4").tobytes())
    path.write_bytes(b"".join(out))


FILE_KINDS = ("model", "checkpoint", "transformer", "loss", "config", "metrics", "vec", "vec.gz", "w2v.bin", "kv",
              "ft.bin", "conll", "wikiann", "spec", "spec.yaml")


# ------------------------------------------------------------------------------------------------ strategies
def damaged(seed: bytes, others: list[bytes]):
    """Contents a reader of ``seed``'s kind must survive: empty, random bytes, plain text, ``seed`` cut at a random
    point or with a few bytes overwritten, a valid file of another kind, or a folder."""
    return st.one_of(
        st.just(b""),
        st.binary(min_size=1, max_size=400),
        st.text(max_size=120).map(lambda text: text.encode("utf-8")),
        st.integers(0, len(seed) - 1).map(lambda cut: seed[:cut]),
        st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), min_size=1, max_size=6)
        .map(lambda edits: _overwritten(seed, edits)),
        st.sampled_from(others) if others else st.just(b"x"),
        st.just(FOLDER)).map(lambda content: content if content is FOLDER else Blob(content))


def _overwritten(seed: bytes, edits) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        data[position] = value
    return bytes(data)


def tricky_json():
    """Valid or nearly valid JSON that trips parsers: deep nesting, huge numbers, NaN, odd top-level values."""
    return st.sampled_from(["[" * 5000 + "]" * 5000, '{"a": ' * 5000 + "1" + "}" * 5000, "1" * 5000,
                            '{"train": ' + "9" * 5000 + "}", "NaN", "[]", "null", '"text"', "{}", "\ufeff{}",
                            '{"a": 1, "a": 2}', '{"train": []}', '{"train": {"tgt": 3}}', '{"selection": []}'
                            ]).map(lambda text: Blob(text.encode()))


POOL = [None, True, -1, 0, 7, 2.5, float("nan"), "x", "", [], {}, [1, "a"], {"a": 1}, ("t",)]


def _replacements(node):
    """What can stand in for ``node``: values of other types, and for a tensor other shapes and dtypes."""
    out = list(POOL) + [torch.zeros(2, 3), torch.zeros(0), torch.ones(3, dtype=torch.int64)]
    if isinstance(node, torch.Tensor):
        out += [node.to(dtype) for dtype in (torch.int64, torch.bool, torch.float16, torch.float64, torch.uint8,
                                             torch.complex64)]
        out += [node.reshape(-1), node.unsqueeze(0), node[:-1] if node.dim() else node.reshape(1),
                torch.cat([node, node]) if node.dim() else node, node.t() if node.dim() == 2 else node]
        if node.is_floating_point():
            out.append(torch.full_like(node, float("nan")))
    if isinstance(node, str):
        out += [node + "x", node.upper(), node[:-1]]
    if isinstance(node, (list, tuple)):
        out += [list(node)[:-1], list(node) + list(node)[-1:], list(node)[::-1]]
    return out


class Mutation:
    """A mutated copy of an archive (``value``) and what was done to it (its repr, printed on failure)."""

    def __init__(self, value, what: str):
        self.value, self.what = value, what

    def __repr__(self) -> str:
        return self.what


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}:{str(value.dtype).removeprefix('torch.')}"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


@st.composite
def mutated(draw, archive) -> Mutation:
    """``archive`` (nested dicts, lists, tensors) with one node deleted, replaced, reshaped or re-typed."""
    value = copy.deepcopy(archive)
    holder, key, node, where = None, None, value, ""
    while isinstance(node, (dict, list)) and node and (not where or draw(st.integers(0, 2)) > 0):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        holder, node, where = node, node[key], f"{where}[{key!r}]"
    if holder is None:
        replacement = draw(st.sampled_from(POOL))
        return Mutation(replacement, f"archive -> {_short(replacement)}")
    if isinstance(holder, dict) and draw(st.booleans()):
        del holder[key]  # a missing key
        return Mutation(value, f"del {where}")
    holder[key] = draw(st.sampled_from(_replacements(node)))
    return Mutation(value, f"{where}: {_short(node)} -> {_short(holder[key])}")


def as_json(mutations):
    """Mutated values as the bytes of a JSON file."""
    return mutations.map(lambda mutation: Blob(json.dumps(mutation.value, default=str).encode()))


def as_torch(mutations):
    """Mutated archives as the bytes of a torch file."""
    def saved(mutation) -> Blob:
        buffer = io.BytesIO()
        torch.save(mutation.value, buffer)
        return Blob(buffer.getvalue())

    return mutations.map(saved)


# ------------------------------------------------------------------------------------------------ checks
def place(path: Path, content) -> Path:
    """Put ``content`` (bytes, or ``FOLDER``) at ``path``, replacing whatever is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is FOLDER:
        path.mkdir()
        (path / "inside.txt").write_text("a file inside a folder\n")
    else:
        path.write_bytes(content)
    return path


def fresh(tmp: Path, name: str) -> Path:
    """A new empty folder for one example, holding ``name`` later."""
    folder = tmp / f"x{next(_counter)}"
    folder.mkdir(parents=True)
    return folder / name


def outcome(read, path: Path | None, *names):
    """``read()``'s value, or its ``ZsnerError``: one line that names ``path``, its folder, or one of ``names``
    (what else the error may be about; ``path`` None: a check of values, not of a file). Any other exception
    fails the test."""
    try:
        return read()
    except ZsnerError as err:
        message = str(err)
        assert message.strip() and "\n" not in message, repr(message)
        if path is not None:
            assert any(str(where) in message for where in (path, path.parent, *names)), message
        return err


def load_bytes(seeds, *kinds) -> list[bytes]:
    return [seeds[kind].read_bytes() for kind in kinds]


def others(seeds, kind) -> list[bytes]:
    return load_bytes(seeds, *(other for other in FILE_KINDS if other != kind))


def damaged_seed(seeds, data, kind: str, path: Path) -> Path:
    """``path`` holding a drawn damage of the ``kind`` seed file (``damaged``)."""
    return place(path, data.draw(damaged(seeds[kind].read_bytes(), others(seeds, kind))))


# ------------------------------------------------------------------------------------------------ classic models
def use_classic(loaded) -> list[str]:
    """Tag one sentence with a loaded classic model: the loaded object must work."""
    from zsner.data.batches import EncodedCorpus
    from zsner.data.conll import Sentence
    from zsner.data.tags import chunks, convert

    model, vocabs, config, _ = loaded
    corpus = EncodedCorpus([Sentence(["John", "visited", "Paris", "0"], [])], vocabs.words, vocabs.chars, None,
                           config.max_word_length)
    with torch.no_grad():
        emissions, crf = model.eval().tagging_head(corpus.batch(np.array([0])))
        path = crf.decode(emissions, corpus.batch(np.array([0])).mask)[0, :4].tolist()
    tags = convert([vocabs.tags.items[i] for i in path], "iob2")
    chunks(tags)
    return tags


def read_classic(path):
    from zsner.train.model_io import load_model

    loaded = load_model(path)
    use_classic(loaded)
    return loaded


@FUZZ
@given(data=st.data())
def test_classic_model_file_damaged_bytes(seeds, tmp_path, data):
    path = damaged_seed(seeds, data, "model", fresh(tmp_path, "best-model.pt"))
    outcome(lambda: read_classic(path), path)


class Quiet(dict):
    def __repr__(self) -> str:
        return f"<{', '.join(self)}>"


@pytest.fixture(scope="module")
def archives(seeds) -> dict:
    return Quiet({kind: torch.load(seeds[kind], weights_only=True) for kind in ("model", "checkpoint", "transformer")})


@settings(FUZZ, max_examples=examples(160))
@given(data=st.data())
def test_classic_model_archive_missing_keys_wrong_shapes_dtypes(archives, tmp_path, data):
    path = fresh(tmp_path, "best-model.pt")
    torch.save(data.draw(mutated(archives["model"])).value, path)
    outcome(lambda: read_classic(path), path)


@FEW
@given(data=st.data())
def test_augmented_model_archive_mutated(seeds, tmp_path, data):
    """A Cross-Augmented archive (kind, two encoders sharing one table) under the same mutations."""
    from zsner.train.model_io import build_model, load_model, save_model

    if not hasattr(test_augmented_model_archive_mutated, "archive"):
        model, vocabs, config, _ = load_model(seeds["model"])
        save_model(tmp_path / "aug.pt", build_model("augmented", config, vocabs), vocabs, config,
                   {"kind": "augmented", "lang": "en", "tgt": "es"})
        test_augmented_model_archive_mutated.archive = torch.load(tmp_path / "aug.pt", weights_only=True)
    path = fresh(tmp_path, "best-src-dev.pt")
    torch.save(data.draw(mutated(test_augmented_model_archive_mutated.archive)).value, path)
    outcome(lambda: read_classic(path), path)


def test_valid_seeds_load(seeds, archives):
    """The seeds themselves are the right objects (so the fuzz tests start from valid files)."""
    from zsner.tagging.load import find_model
    from zsner.transformer.run import load_checkpoint

    assert len(use_classic(read_classic(seeds["model"]))) == 4
    assert find_model(seeds["run"]).kind == "classic" and find_model(seeds["trun"]).kind == "transformer"
    model, tokens, archive = load_checkpoint(seeds["transformer"])
    assert model.tags == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"] and archive["format"] == "zsner-transformer-1"


# ------------------------------------------------------------------------------------------------ find_model
@FUZZ
@given(data=st.data(), name=st.sampled_from(["best-model.pt", "checkpoint.pt", "m.pt"]))
def test_find_model_any_file(seeds, tmp_path, data, name):
    """``zsner tag MODEL`` / ``zsner.load``: what a path holds is found once, or refused in one line."""
    from zsner.tagging.load import find_model

    path = damaged_seed(seeds, data, "model", fresh(tmp_path, name))
    found = outcome(lambda: find_model(path), path)
    if not isinstance(found, ZsnerError):
        assert found.kind in ("classic", "transformer") and found.file.exists()


@FUZZ
@given(data=st.data(), which=st.sampled_from(["metrics.json", "config.json", "checkpoints", "best-model.pt",
                                               "checkpoint.pt"]))
def test_find_and_load_in_damaged_run_folders(seeds, tmp_path, data, which):
    """Run folders with one of their files damaged (or a folder where it is a file, and the other way round)."""
    from zsner.tagging.load import find_model, load

    kind = "trun" if which in ("metrics.json", "config.json", "checkpoints") else "run"
    folder = fresh(tmp_path, "run")
    shutil.copytree(seeds[kind], folder)
    target = folder / which
    seed = target.read_bytes() if target.is_file() else b""
    content = data.draw(st.one_of(damaged(seed or b"{}", others(seeds, "config")), tricky_json()))
    place(target, content)

    def read():
        found = find_model(folder)
        load(folder, device="cpu", found=found)("John visited Paris .")
        return found

    outcome(read, target, folder, seeds["tiny"])


# ------------------------------------------------------------------------------------------------ checkpoint.pt
def resume_classic(seeds, folder: Path):
    """``zsner train --resume``'s reader: the run's checkpoint restored into a fresh trainer, then one more
    training pass (the restored state must work)."""
    from zsner.config import TaggerConfig, TrainConfig, load_configs
    from zsner.train.epochs import EpochTraining
    from zsner.train.loop import SupervisedTask
    from zsner.train.model_io import build_tagger
    from zsner.train.prepare import prepare_supervised

    if not hasattr(resume_classic, "data"):
        saved = load_configs(seeds["config"], train=TrainConfig, tagger=TaggerConfig)
        resume_classic.configs = saved
        resume_classic.data = prepare_supervised(saved["train"], saved["tagger"], seeds["data"])
    train, tagger, data = resume_classic.configs["train"], resume_classic.configs["tagger"], resume_classic.data
    model = build_tagger(tagger, data.vocabs)
    model.encoder.word_embedding.weight.data.copy_(torch.from_numpy(data.embeddings))
    trainer = EpochTraining(dataclasses.replace(train, epochs=2, device="cpu"), folder, model,
                            SupervisedTask(model, data, train, tagger), {"dev": ("dev", "best-model.pt")}, ["dev"],
                            False)
    trainer.resume()
    return trainer.run()


@settings(FUZZ, max_examples=examples(80))
@given(data=st.data())
def test_training_checkpoint_mutated_or_damaged(seeds, archives, tmp_path, data):
    folder = fresh(tmp_path, "run")
    shutil.copytree(seeds["run"], folder)
    path = folder / "checkpoint.pt"
    if data.draw(st.booleans()):
        torch.save(data.draw(mutated(archives["checkpoint"])).value, path)
    else:
        damaged_seed(seeds, data, "checkpoint", path)
    outcome(lambda: resume_classic(seeds, folder), path)


def test_classic_checkpoint_resumes_when_intact(seeds, archives, tmp_path):
    """The reader accepts its own checkpoints: the seed's (the end of epoch 1: 2 batches) resumes into epoch 2's 2
    batches; one written half-way through epoch 1 resumes there (1 batch left of its plan, then epoch 2's)."""
    folder = tmp_path / "run"
    shutil.copytree(seeds["run"], folder)
    state = resume_classic(seeds, folder)
    assert (state.epoch, state.step, len(state.rows)) == (1, 4, 4)
    point = copy.deepcopy(archives["checkpoint"])
    point["progress"].update(batch_in_epoch=1, step=1, rows=point["progress"]["rows"][:1])
    torch.save(point, folder / "checkpoint.pt")  # as read: numpy arrays still in their stored form
    state = resume_classic(seeds, folder)
    assert (state.epoch, state.step, len(state.rows)) == (1, 4, 4)


# ------------------------------------------------------------------------------------------------ transformer
def read_transformer(path, model_folder: str = ""):
    from zsner.transformer.inference import encode, predict_tags
    from zsner.transformer.run import load_checkpoint

    model, tokens, archive = load_checkpoint(path, model_folder)
    config = archive["model_config"]
    tags = predict_tags(model, encode([["John", "visited", "Paris"]], tokens, config["window"], config["overlap"],
                                      "en"))
    assert len(tags[0]) == 3
    return model


@FUZZ
@given(data=st.data())
def test_transformer_checkpoint_damaged_bytes(seeds, tmp_path, data):
    path = damaged_seed(seeds, data, "transformer", fresh(tmp_path, "zero-shot.src-dev.pt"))
    outcome(lambda: read_transformer(path), path, seeds["tiny"])


@settings(FUZZ, max_examples=examples(120))
@given(data=st.data())
def test_transformer_checkpoint_mutated(archives, seeds, tmp_path, data):
    path = fresh(tmp_path, "zero-shot.src-dev.pt")
    torch.save(data.draw(mutated(archives["transformer"])).value, path)
    outcome(lambda: read_transformer(path), path, seeds["tiny"])


class Resumable:
    """A tiny transformer fine-tuning (2 source windows, 1 epoch, an evaluation per step) and its checkpoint.pt:
    ``trainer(folder)`` is a fresh ``FineTuning`` writing into ``folder``."""

    def __init__(self, seeds, root: Path):
        from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
        from zsner.transformer.inference import encode
        from zsner.transformer.model import build
        from zsner.transformer.train import DevSet

        self.model_config = TransformerConfig(model=str(seeds["tiny"]), window=16, overlap=4)
        self.config = TransformerTrainConfig(epochs=1, batch_size=1, eval_every=1, progress=False, device="cpu",
                                             save_checkpoints=False, warmup=0.0)
        self.model, tokens = build(self.model_config, ["O", "B-PER", "I-PER"])
        words = [["John", "visited", "Paris"], ["the", "said"]]
        self.sources = encode(words, tokens, 16, 4, "en")
        self.sources.set_labels([[1, 0, 0], [0, 0]], self.model.tags, "iob2")
        self.dev = [DevSet("en", "src", encode(words, tokens, 16, 4, "en"), [["B-PER", "O", "O"], ["O", "O"]])]
        self.folder = root / "resumable"
        self.folder.mkdir()
        self.trainer(self.folder).fit_zero_shot()
        self.archive = torch.load(self.folder / "checkpoint.pt", weights_only=True)

    def trainer(self, folder: Path):
        from zsner.transformer.train import FineTuning

        return FineTuning(self.model, self.model_config, self.config, folder, self.sources, None, self.dev)

    def __repr__(self) -> str:
        return "<resumable transformer run>"


@pytest.fixture(scope="module")
def resumable(seeds, tmp_path_factory) -> Resumable:
    return Resumable(seeds, tmp_path_factory.mktemp("resumable"))


def resume_transformer(resumable: Resumable, folder: Path):
    """``zsner transformer --resume``'s reader, then the rest of the run (the restored state must work)."""
    trainer = resumable.trainer(folder)
    trainer.resume()
    trainer.fit_zero_shot()
    return trainer


def test_transformer_checkpoint_resumes_when_intact(resumable, tmp_path):
    """The reader accepts its own checkpoint: resumed after its last evaluation, nothing is left to train; moved
    back to the first micro-batch of the pass, the second is trained again."""
    folder = tmp_path / "run"
    shutil.copytree(resumable.folder, folder)
    assert resume_transformer(resumable, folder).step == 2
    point = copy.deepcopy(resumable.archive)
    point.update(position=1, step=1, rows=point["rows"][:1])
    torch.save(point, folder / "checkpoint.pt")  # as read: numpy arrays still in their stored form
    trainer = resume_transformer(resumable, folder)
    assert (trainer.step, len(trainer.rows)) == (2, 2)


@settings(FUZZ, max_examples=examples(60))
@given(data=st.data())
def test_transformer_resume_checkpoint_mutated_or_damaged(resumable, seeds, tmp_path, data):
    folder = fresh(tmp_path, "run")
    shutil.copytree(resumable.folder, folder)
    path = folder / "checkpoint.pt"
    if data.draw(st.booleans()):
        torch.save(data.draw(mutated(resumable.archive)).value, path)
    else:
        place(path, data.draw(damaged(resumable.folder.joinpath("checkpoint.pt").read_bytes(),
                                      others(seeds, "checkpoint"))))
    outcome(lambda: resume_transformer(resumable, folder), path)


HF_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt")


@settings(FUZZ, max_examples=examples(80))
@given(data=st.data(), name=st.sampled_from(HF_FILES))
def test_hugging_face_folder_damaged(seeds, tmp_path, data, name):
    """The base model folder a transformer checkpoint names: each of its files damaged, or the folder a file (the
    error names the folder, or the checkpoint that does not fit what the folder now holds)."""
    folder = fresh(tmp_path, "tiny")
    shutil.copytree(seeds["tiny"], folder)
    seed = (folder / name).read_bytes()
    choice = data.draw(st.sampled_from(["bytes", "json", "folder-is-file"]))
    if choice == "json" and name.endswith(".json"):
        value = json.loads(seed)
        (folder / name).write_text(json.dumps(data.draw(mutated(value)).value, default=str))
    elif choice == "folder-is-file":
        shutil.rmtree(folder)
        folder.write_bytes(seed)
    else:
        place(folder / name, data.draw(damaged(seed, load_bytes(seeds, "config", "vec"))))
    outcome(lambda: read_transformer(seeds["transformer"], str(folder)), folder, seeds["transformer"])


# ------------------------------------------------------------------------------------------------ JSON files
@FUZZ
@given(data=st.data())
def test_run_config_json(seeds, tmp_path, data):
    """A run's config.json as ``zsner train --resume`` / ``zsner transformer --resume`` read it."""
    from zsner.config import TaggerConfig, TrainConfig, load_configs
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig

    seed = seeds["config"].read_bytes()
    content = data.draw(st.one_of(damaged(seed, others(seeds, "config")), tricky_json(),
                                  as_json(mutated(json.loads(seed)))))
    path = place(fresh(tmp_path, "config.json"), content)
    outcome(lambda: load_configs(path, train=TrainConfig, tagger=TaggerConfig), path)
    outcome(lambda: load_configs(path, model=TransformerConfig, train=TransformerTrainConfig), path)


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".json", ".yaml"]))
def test_grid_spec(seeds, tmp_path, data, suffix):
    from zsner.grid.plan import expand
    from zsner.grid.spec import check, read_spec

    seed = seeds["spec" if suffix == ".json" else "spec.yaml"].read_bytes()
    value = json.loads(seeds["spec"].read_bytes())
    content = data.draw(st.one_of(
        damaged(seed, others(seeds, "spec")), tricky_json(),
        as_json(mutated(value)),
        st.sampled_from([b"1: a\nb: 2\n", b"[1, 2]\n", b"{name: [a, b]}\n", b"flags: \"--epochs 'x\"\n",
                         b'{"flags": "--epochs \'x"}', b"? [a]\n: 1\n", b"&a [*a]\n", b"!!python/object:os.system {}\n",
                         b"name: g\nsettings: {1: {epochs: 1}}\n", b"pairs: [en-es]\nflags: [[1]]\n"])))
    path = place(fresh(tmp_path, "spec" + suffix), content)
    spec = outcome(lambda: read_spec(path), path)
    if not isinstance(spec, ZsnerError):  # the values a spec file may hold: checked, in one line
        outcome(lambda: expand(check(spec)), None)


# ------------------------------------------------------------------------------------------------ loss.tsv
@FUZZ
@given(data=st.data(), which=st.sampled_from(["loss.tsv", "config.json"]))
def test_curves_run_folder(seeds, tmp_path, data, which):
    from zsner.curves import load_curves

    folder = fresh(tmp_path, "run")
    shutil.copytree(seeds["run"], folder)
    seed = (folder / which).read_bytes()
    tsv = st.lists(st.lists(st.sampled_from(["step", "epoch", "dev_f1", "phase", "1", "2.5", "", "nan", "inf",
                                             "x", "-", "1e400", " 3 "]), max_size=6).map("\t".join), max_size=5)
    content = data.draw(st.one_of(damaged(seed, others(seeds, "loss")), tsv.map(lambda rows: "\n".join(rows).encode()),
                                  tricky_json()))
    place(folder / which, content)
    outcome(lambda: load_curves(folder), folder / which, folder)


# ------------------------------------------------------------------------------------------------ vectors
def read_vectors(path):
    from zsner.embeddings import load_vectors

    vectors = load_vectors(path)
    assert len(vectors) >= 1 and vectors.matrix.shape == (len(vectors.words), vectors.dim) and vectors.dim >= 1
    assert np.isfinite(vectors.matrix).all()
    vectors.vector("paris")
    return vectors


@settings(FUZZ, max_examples=examples(80))
@given(data=st.data(), kind=st.sampled_from(["vec", "vec.gz", "w2v.bin", "kv", "ft.bin"]))
def test_vector_files(seeds, tmp_path, data, kind):
    name = {"vec": "v.vec", "vec.gz": "v.vec.gz", "w2v.bin": "v.bin", "kv": "v.kv", "ft.bin": "v.bin"}[kind]
    path = fresh(tmp_path, name)
    if kind == "kv":  # gensim writes a companion .npy for larger arrays; copy whatever it wrote
        for companion in seeds["kv"].parent.glob("v.kv*"):
            shutil.copy(companion, path.parent / companion.name)
    damaged_seed(seeds, data, kind, path)
    outcome(lambda: read_vectors(path), path)


def test_fasttext_bin_truncated_anywhere(seeds, tmp_path):
    """fastText's own loader reads past the end of a cut file without noticing (or never returns): every cut of
    the dictionary and matrix part is refused in one line."""
    data = seeds["ft.bin"].read_bytes()
    for cut in (4, 8, 30, 64, 70, 100, 150, 300, len(data) // 2, len(data) - 1):
        path = place(tmp_path / f"cut{cut}.bin", data[:cut])
        with pytest.raises(ZsnerError, match=str(path)):
            read_vectors(path)
    assert len(read_vectors(seeds["ft.bin"])) == 9  # 8 words and </s>


# ------------------------------------------------------------------------------------------------ CoNLL
@FUZZ
@given(data=st.data(), kind=st.sampled_from(["conll", "wikiann"]))
def test_conll_and_wikiann_files(seeds, tmp_path, data, kind):
    from zsner.data.conll import read_conll

    seed = seeds[kind].read_bytes()
    lines = st.lists(st.sampled_from(["John B-PER", "sw:Paris\tB-LOC", "x X I-LOC", "-DOCSTART- O", "", " ", "\r",
                                      "a b c d e f", "Ü O", "sw:\tO", "w E-X", "w S-", "w B-", "\x0b O", "\x85"]),
                     max_size=8).map(lambda rows: "\n".join(rows).encode())
    content = data.draw(st.one_of(damaged(seed, others(seeds, kind)), lines))
    path = place(fresh(tmp_path, "train"), content)
    options = {"prefix": "sw:", "repair": True} if kind == "wikiann" else {}
    for docstart in ("drop-line", "paper"):
        for encoding in ("utf-8", "latin-1"):
            outcome(lambda: read_conll(path, encoding, docstart, **options), path)
    outcome(lambda: read_conll(path, "utf-8", labelled=False, **options), path)


# ------------------------------------------------------------------------------------------------ parallel text
@FUZZ
@given(data=st.data(), name=st.sampled_from(["en.txt", "es.txt", "meta.tsv"]))
def test_parallel_text(seeds, tmp_path, data, name):
    from zsner.projection.parallel import load_pairs, parallel_folder

    folder = fresh(tmp_path, "en-es")
    shutil.copytree(seeds["parallel"], folder)
    seed = (folder / name).read_bytes()
    text = st.text(st.characters(codec="utf-8"), max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass"))
    content = data.draw(st.one_of(damaged(seed, load_bytes(seeds, "conll", "vec", "config")), text))
    place(folder / name, content)
    outcome(lambda: load_pairs(parallel_folder(str(folder), "en", "es"), "en", "es", exclude="news"),
            folder / name, folder)


@pytest.mark.parametrize("reader", ["parallel", "curves", "hugging face"])
def test_a_file_where_a_folder_is_expected(seeds, tmp_path, reader):
    from zsner.curves import load_curves
    from zsner.projection.parallel import parallel_folder
    from zsner.transformer.model import load_pretrained

    path = place(tmp_path / "folder", seeds["conll"].read_bytes())
    read = {"parallel": lambda: parallel_folder(str(path), "en", "es"), "curves": lambda: load_curves(path),
            "hugging face": lambda: load_pretrained(str(path))}
    with pytest.raises(ZsnerError, match=str(path)):
        read[reader]()


# ------------------------------------------------------------------------------------------------ the commands
def run_cli(capsys, argv: list[str], out: Path):
    from zsner.cli import main

    capsys.readouterr()
    code = main([str(word) for word in argv])
    err = capsys.readouterr().err
    return code, err


def assert_refused(code, err, out: Path):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("zsner "), err
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@FEW
@given(data=st.data())
def test_cli_evaluate_model(seeds, tmp_path, capsys, data):
    content = data.draw(st.one_of(damaged(seeds["model"].read_bytes(), others(seeds, "model")),
                                  as_torch(mutated(torch.load(seeds["model"], weights_only=True)))))
    model = place(fresh(tmp_path, "best-model.pt"), content)
    out = model.parent / "out"
    code, err = run_cli(capsys, ["evaluate", "--model", model, "--lang", "en", "--data-dir", seeds["data"],
                                 "--out", out, "--no-progress", "--device", "cpu"], out)
    if code != 0:
        assert_refused(code, err, out)


@FEW
@given(data=st.data())
def test_cli_tag_model(seeds, tmp_path, capsys, data):
    content = data.draw(st.one_of(damaged(seeds["model"].read_bytes(), others(seeds, "model")),
                                  as_torch(mutated(torch.load(seeds["transformer"], weights_only=True)))))
    model = place(fresh(tmp_path, "m.pt"), content)
    text = place(model.parent / "in.txt", b"John visited Paris .\n")
    out = model.parent / "out"
    code, err = run_cli(capsys, ["tag", model, "--input", text, "--output", out / "tags.jsonl", "--no-progress",
                                 "--device", "cpu"], out)
    if code != 0:
        assert_refused(code, err, out)


@FEW
@given(data=st.data())
def test_cli_data_file(seeds, tmp_path, capsys, data):
    path = damaged_seed(seeds, data, "conll", fresh(tmp_path, "file.conll"))
    code, err = run_cli(capsys, ["data", path], path.parent / "out")
    if code != 0:
        assert_refused(code, err, path.parent / "out")


@FEW
@given(data=st.data())
def test_cli_grid_dry_run(seeds, tmp_path, capsys, data):
    value = json.loads(seeds["spec"].read_bytes())
    content = data.draw(st.one_of(damaged(seeds["spec"].read_bytes(), others(seeds, "spec")),
                                  tricky_json(),
                                  as_json(mutated(value))))
    path = place(fresh(tmp_path, "spec.json"), content)
    out = path.parent / "out"
    code, err = run_cli(capsys, ["grid", path, "--dry-run", "--out", out], out)
    if code != 0:
        assert_refused(code, err, out)
    assert not out.exists()


def test_a_refused_resume_leaves_the_run_folder_as_it_was(seeds, tmp_path, capsys):
    """``zsner train --resume`` on a damaged checkpoint: one line, exit 2, and every file of the folder (its
    training.log included: the lines this command logged are taken back) byte-identical to before."""
    folder = tmp_path / "run"
    shutil.copytree(seeds["run"], folder)
    (folder / "checkpoint.pt").write_bytes(b"a few words of plain text")
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    code, err = run_cli(capsys, ["train", "--resume", str(folder), "--data-dir", seeds["data"], "--no-progress"],
                        folder)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "checkpoint.pt" in err
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
