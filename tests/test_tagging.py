"""Tag your own text: raw text to entities with offsets, for both backends, through the API and `zsner tag`."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zsner
from conftest import run_cli
from tests.synthetic import NAMES, write_language
from zsner.cli import main
from zsner.data.conll import read_conll
from zsner.data.tags import chunks
from zsner.evaluation import span_metrics
from zsner.tagging.document import Document
from zsner.tagging.tagger import Tagger
from zsner.train.loop import train_supervised

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
RAW = ("John visited Paris with Maria today.\tChen said  Reuters met Olga in Lima .\r\n\r\n"
       "Ali and UNESCO visited Oslo 😀👍🏽 ; Cairo said José Cafe\u0301 .")


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    """A small tagger trained on the synthetic language (easy: its names are tagged reliably)."""
    from zsner.config import TaggerConfig, TrainConfig

    root = tmp_path_factory.mktemp("classic")
    data = write_language(root / "data")
    config = TaggerConfig(word_dim=20, char_dim=8, char_hidden=8, word_hidden=16, dense_dim=16)
    train = TrainConfig(lang="en", epochs=6, eval_every=20, batch_size=8, seed=3)
    train_supervised(train, config, root / "run", data_dir=data, progress_bars=False)
    return root / "run"


@pytest.fixture(scope="module")
def transformer_run(shared_data, tmp_path_factory):
    """A tiny transformer run folder (en -> es zero-shot) as `zsner transformer` writes it."""
    from zsner.transformer.config import TransformerConfig, TransformerTrainConfig
    from zsner.transformer.data import read_split
    from zsner.transformer.run import run
    from zsner.transformer.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("transformer")
    words = [w for lang in ("en", "es") for s in read_split(lang, "train", 60) for w in s.words]
    folder = str(build_tiny_model(root / "tiny", words, layers=2))
    model_config = TransformerConfig(model=folder, freeze_layers=1, window=16, overlap=4)
    config = TransformerTrainConfig(src="en", tgt="es", train_limit=40, eval_limit=20, epochs=2, batch_size=8,
                                    lr=3e-3, eval_every=8, progress=False)
    run(model_config, config, root / "run")
    return root / "run"


def check_document(doc: Document) -> None:
    """Offsets index the original text; entities are exactly the chunks of the token tags; scores in (0, 1]."""
    for token in doc.tokens:
        assert doc.text[token.start:token.end] == token.text and token.text.strip() == token.text
    expected = []
    for first, end in doc.sentences:
        for kind, start, stop in chunks(doc.tags[first:end]):
            expected.append((doc.tokens[first + start].start, doc.tokens[first + stop - 1].end, kind))
    assert [(span.start, span.end, span.label) for span in doc.entities] == expected
    for span in doc.entities:
        assert doc.text[span.start:span.end] == span.text and 0.0 < span.score <= 1.0 + 1e-6


def test_raw_text_entities_with_offsets_into_the_original(classic):
    tagger = zsner.load(classic, device="cpu")
    doc = tagger(RAW)
    check_document(doc)
    found = {(span.text, span.label) for span in doc.entities}
    assert len({("Maria", "PER"), ("Paris", "LOC"), ("Reuters", "ORG"), ("Lima", "LOC"), ("Olga", "PER")} & found) >= 4, found
    assert len(doc.sentences) >= 3  # split at "today." and at the blank line
    assert json.loads(json.dumps(doc.to_dict(with_tokens=True)))["tokens"][0] == \
        {"start": 0, "end": 4, "text": "John", "tag": doc.tokens[0].tag}


def test_pipe_equals_one_call_whatever_the_batch(classic):
    tagger = zsner.load(classic, device="cpu")
    texts = [RAW, "Maria met Chen .", "today the report said .", RAW[::-1]]
    alone = [tagger(text).to_dict(True) for text in texts]
    for batch_size in (1, 2, 64):
        assert [doc.to_dict(True) for doc in tagger.pipe(texts, batch_size=batch_size)] == alone


class CountingBackend:
    """Wraps a backend, recording the size of every call (bounded memory: never more than a batch)."""

    def __init__(self, backend):
        self.backend, self.lang, self.calls = backend, backend.lang, []

    def tag(self, sentences):
        self.calls.append((len(sentences), max(map(len, sentences))))
        return self.backend.tag(sentences)


def test_a_50000_word_document_is_tagged_whole_in_bounded_pieces(classic):
    loaded = zsner.load(classic, device="cpu")
    backend = CountingBackend(loaded.backend)
    tagger = Tagger(backend, loaded.info, batch_size=64, max_words=200)
    words = (["John", "visited", "Paris", "and", "Reuters"] * 10_000)  # one "sentence": no full stop at all
    doc = tagger(" ".join(words))
    assert len(doc.tokens) == 50_000 and all(token.tag != "" for token in doc.tokens)
    assert max(size for size, _ in backend.calls) <= 64 and max(longest for _, longest in backend.calls) <= 200
    assert sum(size for size, _ in backend.calls) == 250
    check_document(doc)
    assert sum(span.label == "PER" for span in doc.entities) > 9_000


def test_cli_jsonl_equals_the_api_for_every_text_format(classic, tmp_path):
    tagger = zsner.load(classic, device="cpu")
    (tmp_path / "doc.txt").write_text(RAW, encoding="utf-8", newline="")
    (tmp_path / "lines.txt").write_text("John visited Paris .\n\nMaria met Chen in Lima .\n", encoding="utf-8")
    (tmp_path / "docs.jsonl").write_text(json.dumps({"id": "a", "text": RAW}) + "\n" +
                                         json.dumps({"id": 7, "text": "Olga met Ali ."}) + "\n", encoding="utf-8")
    cases = {"text": ("doc.txt", [("doc", RAW)]),
             "lines": ("lines.txt", [(1, "John visited Paris ."), (3, "Maria met Chen in Lima .")]),
             "jsonl": ("docs.jsonl", [("a", RAW), (7, "Olga met Ali .")])}
    for fmt, (name, expected) in cases.items():
        out = tmp_path / f"{fmt}.jsonl"
        assert main(["tag", str(classic), "--input", str(tmp_path / name), "--input-format", fmt, "--output",
                     str(out), "--no-progress", "--device", "cpu"]) == 0
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        api = [tagger.make_document(text, id) for id, text in expected]
        assert rows == [doc.to_dict() for doc in tagger.tag_documents(api)]
        assert all(set(row) == {"id", "text", "entities"} for row in rows)
        assert all(set(span) == {"start", "end", "label", "text", "score"} for row in rows for span in row["entities"])


def test_the_real_command_on_standard_input(classic):
    result = run_cli(["tag", classic, "--no-progress", "--with-tokens"], env_extra={"CUDA_VISIBLE_DEVICES": ""},
                     input_text=RAW)
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row == zsner.load(classic, device="cpu")(RAW).to_dict(with_tokens=True)
    assert row["id"] is None and row["text"] == RAW


def test_tokens_and_conll_inputs_keep_the_words_and_score_the_gold(classic, tmp_path, capsys):
    data = classic.parent / "data" / "ner" / "en"
    out = tmp_path / "out.conll"
    assert main(["tag", str(classic), "--input", str(data / "eng.testb"), "--input-format", "conll",
                 "--output-format", "conll", "--output", str(out), "--no-progress"]) == 0
    gold = read_conll(data / "eng.testb")
    blocks = [block.splitlines() for block in out.read_text().strip().split("\n\n")]
    assert [[line.split()[0] for line in block] for block in blocks] == [s.words for s in gold]
    predicted = [[line.split()[2] for line in block] for block in blocks]
    f1 = span_metrics([s.tags for s in gold], predicted)["micro"]["f1"]
    assert f"F1 {f1:.2f}" in capsys.readouterr().err and f1 > 80
    (tmp_path / "tok.txt").write_text("John visited Paris-Lima .\nMaria  met\tChen .\n")
    assert main(["tag", str(classic), "--input", str(tmp_path / "tok.txt"), "--input-format", "tokens",
                 "--with-tokens", "--no-progress"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[t["text"] for t in row["tokens"]] for row in rows] == [["John", "visited", "Paris-Lima", "."],
                                                                   ["Maria", "met", "Chen", "."]]


def test_html_page_is_self_contained_and_marks_every_entity(classic, tmp_path):
    out = tmp_path / "page.html"
    (tmp_path / "doc.txt").write_text(RAW + " <b>&amp;</b>", encoding="utf-8")
    assert main(["tag", str(classic), "--input", str(tmp_path / "doc.txt"), "--output-format", "html",
                 "--output", str(out), "--no-progress"]) == 0
    page = out.read_text(encoding="utf-8")
    for outside in ("http://", "https://", "src=", "<script", "<link", "url(", "@import"):
        assert outside not in page
    doc = zsner.load(classic, device="cpu")(RAW + " <b>&amp;</b>")
    assert page.count('<mark class="entity"') == len(doc.entities) > 0
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in page  # the text is escaped, never markup


def test_transformer_run_tags_like_its_own_inference(transformer_run, tmp_path):
    from zsner.data.tags import convert
    from zsner.transformer.inference import encode, predict_tags
    from zsner.transformer.run import load_checkpoint

    metrics = json.loads((transformer_run / "metrics.json").read_text())
    for select in ("src-dev", "tgt-dev"):
        tagger = zsner.load(transformer_run, select=select, device="cpu")
        assert tagger.info["kind"] == "transformer" and tagger.lang == "es"
        checkpoint = transformer_run / metrics["selection"][select]["checkpoint"]
        assert Path(tagger.info["file"]) == checkpoint
        text = ("El Gobierno de España y la Unión Europea firmaron en Bruselas , dijo Juan Pérez . "
                "Lo anunció ayer la ONU en Nueva York .")
        doc = tagger(text)
        check_document(doc)
        model, tokens, archive = load_checkpoint(checkpoint)
        config = archive["model_config"]
        expected = predict_tags(model, encode(doc.sentence_words(), tokens, config["window"], config["overlap"],
                                              "es"))
        assert [doc.tags[first:end] for first, end in doc.sentences] == [convert(t, "iob2") for t in expected]
    out = tmp_path / "t.jsonl"
    (tmp_path / "in.txt").write_text(text)
    assert main(["tag", str(transformer_run), "--input", str(tmp_path / "in.txt"), "--output", str(out),
                 "--select", "tgt-dev", "--no-progress"]) == 0
    assert json.loads(out.read_text()) == {**doc.to_dict(), "id": "in"}


def test_int8_transformer_tags_each_text_as_if_alone_and_the_cli_agrees(transformer_run, tmp_path):
    texts = ["El Gobierno de España firmó en Bruselas , dijo Juan Pérez .", "Lo anunció la ONU .",
             "Juan Pérez viajó ayer a Nueva York con la Unión Europea y el Gobierno de España ."]
    tagger = zsner.load(transformer_run, device="cpu", quantize=True)
    assert any(type(module).__name__ == "Int8Linear" for module in tagger.backend.model.encoder.modules())
    together = list(tagger.pipe(texts))
    assert sum(len(doc.entities) for doc in together) >= 2
    for text, doc in zip(texts, together):  # one activation scale per token: the batch changes nothing
        alone = tagger(text)
        assert alone.tags == doc.tags
        assert [(e.start, e.end, e.label) for e in alone.entities] == [(e.start, e.end, e.label) for e in doc.entities]
        assert [e.score for e in alone.entities] == pytest.approx([e.score for e in doc.entities], abs=1e-5)
    assert _cli_entities(transformer_run, texts, tmp_path, "--quantize", "int8") == _entities(together)


def test_bf16_transformer_is_close_to_float32_and_the_cli_agrees(transformer_run, tmp_path, monkeypatch):
    """--quantize bf16: the encoder's linear weights are stored in bfloat16, every word's tag distribution stays
    within bfloat16's rounding of float32's, and the CLI gives the API's entities. (A CPU without bfloat16 units
    emulates it: correct, only slow, so the check is bypassed here to test the arithmetic on any machine.)"""
    from zsner.transformer import bf16
    from zsner.transformer.inference import encode, predict_distributions

    monkeypatch.setattr(bf16, "supported", lambda: True)
    texts = ["El Gobierno de España firmó en Bruselas , dijo Juan Pérez .", "Lo anunció la ONU .",
             "Juan Pérez viajó ayer a Nueva York con la Unión Europea y el Gobierno de España ."]
    full, half = zsner.load(transformer_run, device="cpu"), zsner.load(transformer_run, device="cpu", quantize="bf16")
    linears = [m for m in half.backend.model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    config = full.backend.model_config
    corpus = encode([text.split() for text in texts], full.backend.tokens, config["window"], config["overlap"], "es")
    expected = predict_distributions(full.backend.model, corpus)
    with bf16.autocast():
        got = predict_distributions(half.backend.model, corpus)
    gaps = [float((a - b).abs().max()) for x, y in zip(expected, got) for (_, a), (_, b) in zip(x, y)]
    assert len(gaps) == sum(len(text.split()) for text in texts) and 0 < max(gaps) < 0.05
    assert _cli_entities(transformer_run, texts, tmp_path, "--quantize", "bf16") == _entities(half.pipe(texts))


def test_bf16_is_refused_where_the_cpu_would_emulate_it(transformer_run, monkeypatch):
    from zsner.errors import ZsnerError
    from zsner.transformer import bf16

    monkeypatch.setattr(bf16, "supported", lambda: False)
    with pytest.raises(ZsnerError, match="bfloat16 units"):
        zsner.load(transformer_run, device="cpu", quantize="bf16")


def _entities(docs) -> list[list[tuple]]:
    return [[(e.start, e.end, e.label) for e in doc.entities] for doc in docs]


def _cli_entities(model, texts: list[str], tmp_path, *flags: str) -> list[list[tuple]]:
    """The entities ``zsner tag MODEL FLAGS`` writes for ``texts`` (one per line, JSONL out)."""
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["tag", str(model), "--input", str(tmp_path / "in.txt"), "--input-format", "lines",
                 "--output", str(out), "--device", "cpu", "--no-progress", *flags]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return [[(e["start"], e["end"], e["label"]) for e in row["entities"]] for row in rows]


def test_viterbi_decoding_is_the_best_valid_iob2_path_and_the_cli_agrees(transformer_run, tmp_path):
    """--decode viterbi: every sentence's tags are the IOB2-valid sequence of the highest product of the words' IOB2
    marginals (brute force over all sequences), each span's score is the product of its words' chosen marginals,
    and a text tags the same alone and in a batch, through the API and the CLI."""
    from itertools import product

    from zsner.data.tags import allowed_transitions
    from zsner.teachers import iob2_matrix, iob2_names
    from zsner.transformer.inference import encode, predict_distributions

    texts = ["Juan Pérez vive en Madrid", "La ONU de España", "Nueva York ."]  # <= 5 words: 9^5 paths at most
    tagger = zsner.load(transformer_run, device="cpu", decode="viterbi")
    backend = tagger.backend
    docs = list(tagger.pipe(texts))
    names = iob2_names(backend.tags)
    start, transitions = (np.asarray(allowed) for allowed in allowed_transitions(names, "iob2")[:2])
    for text, doc in zip(texts, docs):
        words = [token.text for token in doc.tokens]
        assert len(doc.sentences) == 1 and len(words) <= 5
        corpus = encode([words], backend.tokens, backend.model_config["window"], backend.model_config["overlap"],
                        backend.lang)
        rows = predict_distributions(backend.model, corpus, 8, "cpu")[0]
        marginals = np.stack([distribution.numpy() for _, distribution in rows]) @ iob2_matrix(backend.tags, names)
        best, best_score = None, -1.0
        for path in product(range(len(names)), repeat=len(words)):
            if start[path[0]] and all(transitions[a, b] for a, b in zip(path, path[1:])):
                score = float(np.prod(marginals[np.arange(len(words)), list(path)]))
                if score > best_score:
                    best, best_score = path, score
        assert doc.tags == [names[i] for i in best]
        for entity in doc.entities:
            covered = [i for i, token in enumerate(doc.tokens) if entity.start <= token.start < entity.end]
            expected = np.prod([marginals[i, names.index(doc.tags[i])] for i in covered])
            assert entity.score == pytest.approx(expected, rel=1e-5)
        assert tagger(text).tags == doc.tags
    assert _cli_entities(transformer_run, texts, tmp_path, "--decode", "viterbi") == _entities(docs)


def test_model_kinds_are_found_once_or_refused_in_one_line(classic, transformer_run, tmp_path):
    from zsner.errors import ZsnerError
    from zsner.tagging.load import find_model

    assert find_model(classic).kind == "classic" and find_model(classic / "best-model.pt").kind == "classic"
    assert find_model(transformer_run).kind == "transformer"
    top = tmp_path / "en-es-augmented"
    (top / "seed1" / "augmented").mkdir(parents=True)
    shutil.copy(classic / "best-model.pt", top / "seed1" / "augmented" / "best-src-dev.pt")
    assert find_model(top / "seed1" / "augmented").file.name == "best-src-dev.pt"
    refusals = {top: "give one variant folder", tmp_path: "not a zsner run folder",
                classic / "checkpoint.pt": "resumable training checkpoint", tmp_path / "none": "no such model"}
    for path, message in refusals.items():
        with pytest.raises(ZsnerError, match=message):
            find_model(path)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, classic, transformer_run):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.txt").write_bytes(b"  \n\t\r\n")
    (root / "junk.bin").write_bytes(bytes(range(256)) * 4)
    (root / "latin1.txt").write_bytes("Peter vive en Par\xeds .\n".encode("latin-1"))
    (root / "control.txt").write_bytes(b"Peter lives\nin \x1b[31mParis\n")
    (root / "huge.txt").write_bytes(b"Paris " * (10 * 1024 * 1024 // 6))
    (root / "bad.jsonl").write_text('{"id": 1, "text": "Paris"}\n{"id": 2, "text": \n')
    (root / "notext.jsonl").write_text('{"id": 1, "body": "Paris"}\n')
    (root / "surrogate.jsonl").write_text('{"id": 1, "text": "Paris \\ud800"}\n')
    (root / "folder").mkdir()
    (root / "good.txt").write_text("John visited Paris .\n")
    (root / "words.pt").write_text("a few words of plain text\n")
    unfinished = root / "unfinished"
    shutil.copytree(transformer_run, unfinished)
    (unfinished / "metrics.json").unlink()
    crf_run = root / "crf-run"
    shutil.copytree(transformer_run, crf_run)
    for checkpoint in (crf_run / "checkpoints").glob("*.pt"):
        archive = torch.load(checkpoint, weights_only=True)
        archive["model_config"]["head"] = "crf"
        torch.save(archive, checkpoint)
    return root


BAD = {  # argv (with {root}, {classic}), the file the one-line message names, a fragment of it
    "empty": ("tag {classic} --input {root}/empty.txt", "empty.txt", "no text"),
    "whitespace": ("tag {classic} --input {root}/blank.txt", "blank.txt", "no text"),
    "binary": ("tag {classic} --input {root}/junk.bin", "junk.bin", "not valid utf-8"),
    "invalid_utf8": ("tag {classic} --input {root}/latin1.txt", "latin1.txt:1", "not valid utf-8 at byte 17"),
    "control": ("tag {classic} --input {root}/control.txt", "control.txt:2", "control character U+001B"),
    "ten_mb_line": ("tag {classic} --input {root}/huge.txt --input-format lines", "huge.txt:1", "--max-chars"),
    "ten_mb_text": ("tag {classic} --input {root}/huge.txt", "huge.txt", "--max-chars"),
    "folder_input": ("tag {classic} --input {root}/folder", "folder", "found a folder"),
    "broken_jsonl": ("tag {classic} --input {root}/bad.jsonl --input-format jsonl", "bad.jsonl:2", "not a JSON"),
    "jsonl_no_text": ("tag {classic} --input {root}/notext.jsonl --input-format jsonl", "notext.jsonl:1", '"text"'),
    "jsonl_surrogate": ("tag {classic} --input {root}/surrogate.jsonl --input-format jsonl", "surrogate.jsonl:1",
                        "lone surrogate"),
    "wrong_kind_folder": ("tag {root}/folder --input {root}/good.txt", "folder", "not a zsner run folder"),
    "unfinished_run": ("tag {root}/unfinished --input {root}/good.txt", "unfinished", "unfinished transformer run"),
    "resumable_checkpoint": ("tag {classic}/checkpoint.pt --input {root}/good.txt", "checkpoint.pt", "resumable"),
    "predict_folder_input": ("predict --model {classic} --input {root}/folder", "folder", "found a folder"),
    "export_crf_head": ("export {root}/crf-run --out {out}", "crf-run", "CRF-head checkpoint cannot be exported"),
    "export_classic": ("export {classic} --out {out}", "best-model.pt", "only transformer runs"),
    "plain_text_model": ("tag {root}/words.pt --input {root}/good.txt", "words.pt", "not a readable model file"),
    "quantize_classic": ("tag {classic} --input {root}/good.txt --quantize int8", "best-model.pt", "transformer"),
    "bf16_classic": ("tag {classic} --input {root}/good.txt --quantize bf16", "best-model.pt", "transformer"),
    "decode_classic": ("tag {classic} --input {root}/good.txt --decode viterbi", "best-model.pt",
                       "transformer models only"),
    "decode_viterbi_crf": ("tag {root}/crf-run --input {root}/good.txt --decode viterbi", "crf-run", "softmax head"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(bad_inputs, classic, tmp_path, capsys, case):
    argv, names, fragment = BAD[case]
    out = tmp_path / "out"
    args = argv.format(root=bad_inputs, classic=classic, out=out).split()
    if "--out" not in args:
        args += ["--output", str(out), "--no-progress"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment.lower() in err.lower() and names in err, err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


PIECES = list(" \t\r\n\u00a0.,;!?¿¡'\"()-–…😀👍🏽\u0301\u200dabcxyzÉé0123456789") + sorted(
    {w for names in NAMES.values() for w in names})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=60).map("".join).filter(str.strip))
def test_any_text_keeps_its_offsets(classic_tagger, text):
    check_document(classic_tagger(text))


@pytest.fixture(scope="module")
def classic_tagger(classic):
    return zsner.load(classic, device="cpu")


@pytest.mark.parametrize("lang", ["en", "es", "nl", "de", "fi", "ar"])
def test_entities_and_tokens_index_raw_parallel_text(shared_data, classic_tagger, lang):
    """Thousands of raw sentences of each language, tagged as one document per line and as one whole document."""
    pair = "en-es" if lang == "en" else f"en-{lang}"
    lines = (shared_data / "parallel" / pair / f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:1500]
    tagger = Tagger(classic_tagger.backend, classic_tagger.info)
    tagger.lang = lang  # the segmentation rules of the text's language
    documents = [tagger.make_document(line, number) for number, line in enumerate(lines)]
    for doc in tagger.tag_documents(documents):
        check_document(doc)
    whole = tagger("\n".join(lines[:500]))
    check_document(whole)
    assert len(whole.sentences) >= 450


@pytest.mark.parametrize("command", ["train", "evaluate", "transfer", "map", "transformer", "vectors", "project",
                                     "cluster", "groups", "tag", "predict"])
def test_every_long_running_command_takes_no_progress(command):
    from zsner.cli import build_parser

    parser = build_parser()
    subcommands = next(action for action in parser._actions if hasattr(action, "choices") and action.choices)
    assert "--no-progress" in subcommands.choices[command]._option_string_actions


def test_messages_name_zsner_flags_not_development_paths():
    """A product message points to --model / --encoder PATH, never to a script of the development set-up."""
    for root in (Path(zsner.__file__).parent,):
        for path in root.rglob("*.py"):
            assert "shared/tools" not in path.read_text(encoding="utf-8"), path
