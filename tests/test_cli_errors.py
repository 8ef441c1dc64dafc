"""`zsner data` and `zsner train`: statistics output, and malformed input giving one stderr line naming file and
line, exit code 2, no traceback, no partial output, no run folder. The full matrix runs through ``zsner.cli.main``
in this process (each fresh process costs ~2 s of imports); a few cases run as real processes: ``python -m
zsner.cli data``, the ``zsner`` console script, and ``zsner train``."""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import SHARED_DATA, run_cli

GOOD = """-DOCSTART- -X- O

EU NNP B-ORG
rejects VBZ O
German JJ B-MISC
call NN O
. . O

Peter NNP B-PER
Blackburn NNP I-PER

BRUSSELS NNP B-LOC
"""
LATIN1 = "La DA O\nciudad NC O\n\nde SP O\nMálaga NC B-LOC\n"

# name -> (file content (str: utf-8, bytes: as is), expected line in the message or None, message fragment)
MALFORMED = {
    "too_few_columns": ("EU B-ORG\nrejects O\n\nPeter\n", 4, "columns"),
    "too_many_columns": ("EU B-ORG\n\na b c d e f O\n", 3, "columns"),
    "ragged": ("EU NNP B-ORG\nrejects VBZ O\nGerman B-MISC\n", 3, "ragged"),
    "tag_X-PER": ("EU B-ORG\n\nPeter X-PER\n", 3, "X-PER"),
    "tag_B-": ("EU O\nPeter B-\n", 2, "'B-'"),
    "tag_PER": ("Peter PER\n", 1, "'PER'"),
    "undecodable": (LATIN1.encode("latin-1"), 5, "utf-8"),
    "empty": ("", None, "no sentences"),
    "blank_only": ("\n \r\n\n", None, "no sentences"),
}

DUTCH = {
    "ned.train": "-DOCSTART- -DOCSTART- O\nDe Art O\nman N O\n\nJan N B-PER\nzag V O\n\n"
                 "-DOCSTART- -DOCSTART- O\nGent N B-LOC\n\nHij Pron O\n",
    "ned.testa": "-DOCSTART- -DOCSTART- O\nA N B-PER\n\nB N B-LOC\nC N I-LOC\n\nD N O\n",
    "ned.testb": "X N B-ORG\n\nY N O\n",
}


def one_line_error(result, command: str, path: Path, line):
    """The shared contract for user errors."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"zsner {command}: error: ")
    if path is not None:  # None: the error is about a flag, not a file
        where = f"{path}:{line}: " if line is not None else f"{path}: "
        assert where in lines[0], (where, lines[0])
        assert lines[0].count(str(path).split(":")[0]) == 1, lines[0]  # named once, not once per layer
    return lines[0]


class Result:
    """What a finished command left: exit status, stdout, stderr (like ``subprocess.CompletedProcess``)."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for name, (content, _, _) in MALFORMED.items():
        (root / f"{name}.conll").write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (root / "good.conll").write_text(GOOD, encoding="utf-8")
    (root / "latin.conll").write_bytes(LATIN1.encode("latin-1"))
    (root / "dutch/ner/nl").mkdir(parents=True)
    for name, text in DUTCH.items():
        (root / "dutch/ner/nl" / name).write_text(text, encoding="utf-8")
    (root / "broken-en/ner/en").mkdir(parents=True)
    (root / "broken-en/ner/en/eng.testb").write_text("-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\n"
                                                     "rejects VBZ O\n", encoding="utf-8")
    (root / "train-data/ner/en").mkdir(parents=True)
    (root / "train-data/ner/en/eng.train").write_text("EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
                                                      "Peter NNP I-NP X-PER\n", encoding="utf-8")
    (root / "train-work").mkdir()
    return root


@pytest.fixture
def cli(capsys, monkeypatch):
    """``zsner.cli.main(argv)`` in this process: the same code path as the command, without a Python start-up."""
    from zsner.cli import main

    monkeypatch.delenv("ZSNER_DATA", raising=False)

    def run(*args) -> Result:
        capsys.readouterr()
        returncode = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return Result(returncode, out, err)

    return run


@pytest.fixture(scope="module")
def processes(files):
    """The cases run as real processes (``python -m zsner.cli`` and the console script), concurrently, once."""
    jobs = {"train": (["train", "--lang", "en", "--data-dir", files / "train-data", "--epochs", "1", "--no-progress"],
                      files / "train-work", None)}
    if (SHARED_DATA / "ner/en/eng.train").is_file():  # a language: train and dev read fine, test is broken
        jobs["python_m"] = (["data", "en", "--data-dir", files / "broken-en", "--json"], None, None)
    else:
        jobs["python_m"] = (["data", files / "undecodable.conll", "--json"], None, None)
    if shutil.which("zsner"):
        jobs["console_script"] = (["data", files / "tag_X-PER.conll", "--json"], None, shutil.which("zsner"))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(run_cli, args, cwd, program=program)
                   for name, (args, cwd, program) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_data_malformed_file(files, cli, name):
    _, line, fragment = MALFORMED[name]
    message = one_line_error(cli("data", files / f"{name}.conll", "--json"), "data", files / f"{name}.conll", line)
    assert fragment in message


def test_data_missing_file(files, cli):
    result = cli("data", files / "nope.conll")
    assert "no such file" in one_line_error(result, "data", files / "nope.conll", None)


def test_data_file_json(files, cli):
    result = cli("data", files / "good.conll", "--json")
    assert result.returncode == 0 and result.stderr == ""
    assert len(result.stdout.strip().splitlines()) == 1  # one JSON object
    stats = json.loads(result.stdout)
    assert stats["file"] == str(files / "good.conll")
    assert {key: stats[key] for key in ("sentences", "tokens", "entities", "scheme", "encoding",
                                        "longest_sentence", "longest_sentence_line", "docstart")} == {
        "sentences": 3, "tokens": 8, "entities": {"LOC": 1, "MISC": 1, "ORG": 1, "PER": 1}, "scheme": "iob2",
        "encoding": "utf-8", "longest_sentence": 5, "longest_sentence_line": 3, "docstart": "drop-line"}


def test_data_file_table(files, cli):
    result = cli("data", files / "good.conll")
    assert result.returncode == 0
    header, row = result.stdout.strip().splitlines()
    assert header.split()[:6] == ["split", "sentences", "tokens", "scheme", "enc", "longest"]
    assert row.split() == [str(files / "good.conll"), "3", "8", "iob2", "utf-8", "5",
                           "LOC=1", "MISC=1", "ORG=1", "PER=1"]


def test_data_declared_encoding(files, cli):
    stats = json.loads(cli("data", files / "latin.conll", "--encoding", "latin-1", "--json").stdout)
    assert stats["encoding"] == "latin-1" and stats["sentences"] == 2 and stats["entities"] == {"LOC": 1}
    message = one_line_error(cli("data", files / "latin.conll"), "data", files / "latin.conll", 5)
    assert "0xe1" in message


def test_data_unknown_encoding(files, cli):
    result = cli("data", files / "good.conll", "--encoding", "latin-9x")
    assert "unknown encoding" in one_line_error(result, "data", files / "good.conll", None)


NL_EXPECTED = {
    "paper": {"train": (2, 3, {"PER": 1}), "dev": (2, 3, {"LOC": 1}), "test": (2, 2, {"ORG": 1})},
    "drop-line": {"train": (4, 6, {"LOC": 1, "PER": 1}), "dev": (3, 4, {"LOC": 1, "PER": 1}),
                  "test": (2, 2, {"ORG": 1})},
}


def check_language_json(stdout: str, convention: str):
    stats = json.loads(stdout)
    assert list(stats) == ["train", "dev", "test"]
    got = {split: (row["sentences"], row["tokens"], row["entities"]) for split, row in stats.items()}
    assert got == NL_EXPECTED[convention]
    assert all(row["docstart"] == convention and row["encoding"] == "utf-8" for row in stats.values())
    assert stats["dev"]["file"].endswith("ner/nl/ned.testa")


@pytest.mark.parametrize("flag", [None, "paper", "drop-line"])
def test_data_language_json_and_docstart(files, cli, flag):
    args = ["data", "nl", "--data-dir", files / "dutch", "--json"] + (["--docstart", flag] if flag else [])
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    check_language_json(result.stdout, flag or "paper")  # nl's registry default is the paper's convention


def test_data_language_encoding_flag_overrides_the_registry(files, cli):
    result = cli("data", "nl", "--data-dir", files / "dutch", "--encoding", "latin-1", "--json")
    assert result.returncode == 0, result.stderr
    assert [row["encoding"] for row in json.loads(result.stdout).values()] == ["latin-1"] * 3


def test_data_english_real_counts(cli, shared_data):
    result = cli("data", "en", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    # Table 1 of the paper, and the CoNLL-2003 English token/entity counts (Tjong Kim Sang & De Meulder 2003)
    assert {split: (row["sentences"], row["tokens"], row["entities"]) for split, row in stats.items()} == {
        "train": (14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
        "dev": (3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
        "test": (3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}),
    }
    assert all(row["scheme"] == "iob1" for row in stats.values())
    assert stats["train"]["stray_I_starts_repaired"] == 2  # the two B-MISC after O


# -- real processes -------------------------------------------------------------------------------------------

def test_process_python_m(files, processes):
    result = processes["python_m"]
    if (SHARED_DATA / "ner/en/eng.train").is_file():
        # train and dev come from the shared data and read fine; the planted test file breaks on line 4:
        # nothing of the first two splits may reach stdout
        assert "columns" in one_line_error(result, "data", files / "broken-en/ner/en/eng.testb", 4)
    else:
        assert "utf-8" in one_line_error(result, "data", files / "undecodable.conll", 5)


def test_process_console_script(files, processes):
    if "console_script" not in processes:
        pytest.skip("the zsner console script is not installed")
    assert "X-PER" in one_line_error(processes["console_script"], "data", files / "tag_X-PER.conll", 3)


def test_process_train_broken_file_one_line_error(files, processes):
    message = one_line_error(processes["train"], "train", files / "train-data/ner/en/eng.train", 4)
    assert "X-PER" in message


def test_process_train_broken_file_creates_no_run_folder(files, processes):
    assert processes["train"].returncode == 2
    assert [str(p.relative_to(files / "train-work")) for p in (files / "train-work").rglob("*")] == []


# -- bad input for every subcommand: one line naming the file, exit code 2, nothing written ------------------

class Evil:
    """A pickle that runs code when loaded with ``weights_only=False``: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """Paths for the bad-input matrix: a data root with a tiny language, a real (untrained) model file, and broken
    or hostile files beside it."""
    import pickle

    import torch

    from tests.synthetic import write_language, write_wikiann
    from zsner.config import TaggerConfig
    from zsner.data.vocab import Vocabulary
    from zsner.train.model_io import build_tagger, save_model
    from zsner.train.prepare import Vocabs
    from zsner.transformer.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("bad")
    write_language(root / "data", "en", sizes=(20, 10, 10))
    tags = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG", "MISC") for p in "SBIE"]
    vocabs = Vocabs(Vocabulary(["<pad>", "<unk>", "the"]), Vocabulary(["<pad>", "<unk>", "t"]), Vocabulary(tags))
    config = TaggerConfig(word_dim=20, char_dim=4, char_hidden=4, word_hidden=8, dense_dim=8)
    save_model(root / "model.pt", build_tagger(config, vocabs), vocabs, config, {"lang": "en"})
    torch.save({"state": Evil(root / "marker")}, root / "evil.pt")
    (root / "evil.pkl").write_bytes(pickle.dumps({"state": Evil(root / "marker")}))
    (root / "garbage.pt").write_bytes(b"PK\x03\x04 not really a zip archive")
    (root / "wrong.vec").write_text("2 7\nthe" + " 0.5" * 7 + "\nof" + " 0.1" * 7 + "\n")
    (root / "plain.vec.gz").write_text("1 20\nthe" + " 0.5" * 20 + "\n")
    (root / "text.txt").write_text("Peter lives in Paris\n")
    (root / "list.json").write_text("[1, 2]")
    (root / "types.json").write_text('{"max_vocab": "many"}')
    (root / "broken.json").write_text('{"epochs": 3,\n "init": }')
    (root / "direction.json").write_text('{"direction": "src-tgt"}')
    for name, text in {"broken": '{"train": {"epochs": 3', "types": '{"train": {"epochs": "three"}}'}.items():
        (root / f"resume-{name}").mkdir()
        (root / f"resume-{name}/config.json").write_text(text)
    for name, (en, es) in PARALLEL.items():  # zsner project: line-aligned pairs, good and broken
        (root / name).mkdir()
        (root / name / "en.txt").write_bytes(en)
        (root / name / "es.txt").write_bytes(es)
    (root / "run-bad").mkdir()
    (root / "run-bad/results.json").write_text('{"summaries": ')
    write_wikiann(root / "data", langs=("sw", "yo"), sizes=(6, 4, 4))  # zsner cluster / groups
    write_wikiann(root / "badwiki", langs=("sw", "yo"), sizes=(6, 4, 4))
    (root / "badwiki/wikiann/sw/train").write_text("sw:Habari\tO\n\nyo:Bawo\tO\n", encoding="utf-8")
    (root / "groups-sw.json").write_text('{"majority": {"sw": 0}}')
    tiny = build_tiny_model(root / "tiny", ["Peter", "lives", "in", "Paris"], layers=1, hidden=8)
    shutil.copytree(tiny, root / "tiny-notok")
    settings = json.loads((root / "tiny-notok/tokenizer_config.json").read_text())
    (root / "tiny-notok/tokenizer_config.json").write_text(json.dumps({**settings, "pad_token": None,
                                                                        "cls_token": None}))
    return root


PARALLEL = {"par-good": (b"Peter lives in Paris .\nHe works .\n", b"Peter vive en Par\xc3\xads .\nTrabaja .\n"),
            "par-lines": (b"Peter lives .\nHe works .\n", b"Peter vive .\nTrabaja .\nY canta .\n"),
            "par-empty": (b"Peter lives .\n  \n", b"Peter vive .\nTrabaja .\n"),
            "par-bytes": (b"Peter lives .\nHe works .\n", b"Peter vive .\nTrabaja \xff.\n")}
# name -> (argv with {root} and {out}, the file the message must name (relative to root; None: a flag's value),
# message fragment);
# {out} is the output the command would write: it must not exist afterwards
BAD_INPUT = {
    "evaluate_malicious_model": ("evaluate --model {root}/evil.pt --lang en --data-dir {root}/data --out {out}",
                                 "evil.pt", "refused"),
    "evaluate_malicious_pickle": ("evaluate --model {root}/evil.pkl --lang en --data-dir {root}/data --out {out}",
                                  "evil.pkl", "refused"),
    "evaluate_corrupt_model": ("evaluate --model {root}/garbage.pt --lang en --data-dir {root}/data --out {out}",
                               "garbage.pt", "not a readable model file"),
    "evaluate_wrong_dimension": ("evaluate --model {root}/model.pt --lang en --data-dir {root}/data "
                                 "--embeddings {root}/wrong.vec --out {out}", "wrong.vec", "dimension 7"),
    "evaluate_vec_gz_not_gzip": ("evaluate --model {root}/model.pt --lang en --data-dir {root}/data "
                                 "--embeddings {root}/plain.vec.gz --out {out}", "plain.vec.gz", "not a gzip file"),
    "predict_malicious_model": ("predict --model {root}/evil.pt --input {root}/text.txt --output {out}",
                                "evil.pt", "refused"),
    "predict_wrong_dimension": ("predict --model {root}/model.pt --input {root}/text.txt "
                                "--embeddings {root}/wrong.vec --output {out}", "wrong.vec", "dimension 7"),
    "predict_bogus_encoding": ("predict --model {root}/model.pt --input {root}/text.txt --encoding bogus "
                               "--output {out}", "text.txt", "unknown encoding 'bogus'"),
    "transformer_malicious_init": ("transformer --model {root}/none --src en --tgt en --init {root}/evil.pt "
                                   "--out {out}", "evil.pt", "refused"),
    "transformer_garbage_init": ("transformer --model {root}/none --src en --tgt en --init {root}/garbage.pt "
                                 "--out {out}", "garbage.pt", "not a readable model file"),
    "transformer_model_file_as_init": ("transformer --model {root}/none --src en --tgt en --init {root}/model.pt "
                                       "--out {out}", "model.pt", "not a zsner transformer checkpoint"),
    "transformer_tokenizer_without_pad_cls": ("transformer --model {root}/tiny-notok --src en --tgt en --data-dir "
                                              "{root}/data --out {out}", "tiny-notok", "unusable tokenizer"),
    "transformer_missing_data_dir": ("transformer --model {root}/tiny --src en --tgt en --data-dir {root}/no-data "
                                     "--out {out}", "no-data", "no such data folder"),
    "map_config_not_an_object": ("map --src-emb {root}/wrong.vec --tgt-emb {root}/wrong.vec --config "
                                 "{root}/list.json --out {out}", "list.json", "expected a JSON object"),
    "map_config_broken": ("map --src-emb {root}/wrong.vec --tgt-emb {root}/wrong.vec --config {root}/broken.json "
                          "--out {out}", "broken.json:2", "the mapping config is not valid JSON"),
    "map_dimension_mismatch": ("map --src-emb {root}/data/embeddings/en.vec --tgt-emb {root}/wrong.vec --init "
                               "identical --out {out}", "wrong.vec", "target vectors are 7-d, source vectors 20-d"),
    "map_config_wrong_type": ("map --src-emb {root}/wrong.vec --tgt-emb {root}/wrong.vec --config "
                              "{root}/types.json --out {out}", "types.json", "max_vocab must be an integer"),
    "train_resume_corrupt_config": ("train --resume {root}/resume-broken --data-dir {root}/data --no-progress",
                                    "resume-broken/config.json:1", "the run configuration is not valid JSON"),
    "train_resume_config_types": ("train --resume {root}/resume-types --data-dir {root}/data --no-progress",
                                  "resume-types/config.json", "train.epochs must be an integer"),
    "transfer_unfinished_mapping": ("transfer --src en --tgt en --data-dir {root}/data --mapping-dir {root}/data "
                                    "--out {out}", "data", "not a finished `zsner map` folder"),
    "project_line_counts": ("project --parallel {root}/par-lines --tagger {root}/model.pt --out {out}",
                            "par-lines/es.txt:3", "line 3 has no translation"),
    "project_empty_side": ("project --parallel {root}/par-empty --tagger {root}/model.pt --out {out}",
                           "par-empty/en.txt:2", "empty sentence"),
    "project_undecodable": ("project --parallel {root}/par-bytes --tagger {root}/model.pt --out {out}",
                            "par-bytes/es.txt:2", "not valid utf-8 (byte 0xff)"),
    "project_missing_tagger": ("project --parallel {root}/par-good --tagger {root}/no-run --out {out}",
                               "no-run", "no such tagger run folder"),
    "project_classic_tagger_without_encoder": ("project --parallel {root}/par-good --tagger {root}/model.pt "
                                               "--out {out}", "model.pt", "give --model ENCODER_FOLDER"),
    "project_missing_encoder": ("project --parallel {root}/par-good --tagger {root}/model.pt --model {root}/none "
                                "--out {out}", "none", "no Hugging Face model folder"),
    "project_malicious_tagger": ("project --parallel {root}/par-good --tagger {root}/evil.pt --out {out}",
                                 "evil.pt", "refused"),
    "compare_corrupt_run": ("compare {root}/run-bad --out {out}", "run-bad/results.json:1",
                            "the run file is not valid JSON"),
    "transfer_mapping_config_broken": ("transfer --src en --tgt en --data-dir {root}/data --mapping-config "
                                       "{root}/broken.json --out {out}", "broken.json:2",
                                       "the mapping config is not valid JSON"),
    "transfer_mapping_config_direction": ("transfer --src en --tgt en --data-dir {root}/data --mapping-config "
                                          "{root}/direction.json --out {out}", "direction.json",
                                          "the mapping direction is --direction's"),
    "cluster_unknown_language": ("cluster --model {root}/tiny --langs sw,xx --data-dir {root}/data --out {out}",
                                 None, "unknown WikiAnn language 'xx'"),
    "cluster_k_above_languages": ("cluster --model {root}/tiny --langs sw,yo --k 3 --data-dir {root}/data "
                                  "--out {out}", None, "--k 3 must be between 1 and the number of languages (2)"),
    "cluster_bad_wikiann_line": ("cluster --model {root}/tiny --langs sw,yo --k 2 --data-dir {root}/badwiki "
                                 "--out {out}", "badwiki/wikiann/sw/train:3", "expected a token starting with 'sw:'"),
    "groups_unknown_grouping": ("groups --model {root}/tiny --langs sw,yo --grouping all,nope --data-dir {root}/data "
                                "--out {out}", None, "unknown grouping 'nope'"),
    "groups_cluster_file_without_language": ("groups --model {root}/tiny --langs sw,yo --grouping "
                                             "cluster:{root}/groups-sw.json --data-dir {root}/data --out {out}",
                                             "groups-sw.json", "no group for yo"),
    "groups_bad_wikiann_line": ("groups --model {root}/tiny --langs sw,yo --data-dir {root}/badwiki --out {out}",
                                "badwiki/wikiann/sw/train:3", "expected a token starting with 'sw:'"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_input_one_line_exit_2_nothing_written(bad, cli, name):
    args, named, fragment = BAD_INPUT[name]
    out = bad / "out" / name
    before = sorted(bad.rglob("*"))
    result = cli(*args.format(root=bad, out=out).split())
    message = one_line_error(result, args.split()[0], bad / named if named else None, None)
    assert fragment in message, message
    assert not out.exists() and sorted(bad.rglob("*")) == before
    assert not (bad / "marker").exists()  # the hostile pickle never ran


# run.sh: bad input that stops before any long work; argv with {root} and {out} -> the message's start, the path it
# names (relative to root, or None where there is no file: an option's value)
RUN_SH = {
    "unknown_backend": ("en es --backend nope --out {out}", "run.sh: unknown --backend 'nope'", None),
    "unknown_schedule": ("en es --schedule fast --out {out}", "run.sh: unknown --schedule 'fast'", None),
    "transformer_without_model": ("en es --backend transformer --out {out}",
                                  "run.sh: --backend transformer needs --model PATH", None),
    "missing_data_dir": ("en es --data-dir {root}/no-data --out {out}", "zsner transfer: error: ", "no-data"),
}


@pytest.fixture(scope="module")
def run_sh(bad):
    """All run.sh cases as real processes, concurrently, once (run.sh uses this interpreter's environment)."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = {**os.environ, "VIRTUAL_ENV": sys.prefix, "OMP_NUM_THREADS": "1",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
           "ZSNER_PYTHON": sys.executable}  # scripts/env.sh: this interpreter as it is (no import check: ~4 s)
    env.pop("ZSNER_DATA", None)

    def call(name):
        args = RUN_SH[name][0].format(root=bad, out=bad / "out" / f"run-sh-{name}").split()
        return subprocess.run(["bash", "run.sh", *args], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)

    runs = REPO / "runs"
    before = sorted(runs.rglob("*")) if runs.exists() else None
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(RUN_SH, pool.map(call, RUN_SH)))
    return results, before == (sorted(runs.rglob("*")) if runs.exists() else None)


@pytest.mark.parametrize("name", sorted(RUN_SH))
def test_run_sh_bad_input_one_line_exit_2_nothing_written(bad, run_sh, name):
    results, repo_runs_unchanged = run_sh
    result = results[name]
    _, start, named = RUN_SH[name]
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(start)
    if named:
        assert f"{bad / named}: " in result.stderr
    assert not (bad / "out" / f"run-sh-{name}").exists() and repo_runs_unchanged
