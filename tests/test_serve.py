"""`zsner serve` against a real server on 127.0.0.1: its answers are `zsner tag`'s, alone or batched; every bad
request is a one-line 4xx that changes nothing after it; SIGTERM finishes the requests in flight."""
from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.test_tagging import RAW, classic, transformer_run  # noqa: E402,F401 (the same two small models)
from zsner.cli import main  # noqa: E402
from zsner.serve.process import ServerProcess  # noqa: E402

TEXTS = [RAW, "Maria met Chen in Lima .", "Olga said UNESCO and Reuters visited Oslo today .", "the report said .",
         "John", "Ali visited Cairo with Maria and Siemens .\n\nChen met Olga in Paris ."]
SMALL = ["--max-body-bytes", "65536", "--max-texts", "8", "--max-chars", "2000"]
JSON = {"Content-Type": "application/json"}


def cli_rows(model, texts, tmp_path, *flags) -> list[dict]:
    """What `zsner tag --input-format jsonl` writes for `{"id": i, "text": t}` lines."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    assert main(["tag", str(model), "--input", str(source), "--input-format", "jsonl", "--output", str(out),
                 "--no-progress", "--device", "cpu", *flags]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def classic_server(classic):
    with ServerProcess(classic, [*SMALL, "--device", "cpu", "--max-wait-ms", "20"]) as server:
        yield server


@pytest.fixture(scope="module")
def expected(classic, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    return {"rows": cli_rows(classic, TEXTS, folder), "tokens": cli_rows(classic, TEXTS, folder, "--with-tokens")}


def test_endpoints(classic_server, expected):
    status, _, raw = classic_server.get("/health")
    health = json.loads(raw)
    assert status == 200 and health["ready"] is True and health["kind"] == "classic" and health["device"] == "cpu"
    assert health["lang"] == "en" and health["limits"]["max_texts"] == 8
    assert classic_server.tag({"text": TEXTS[0]}) == expected["rows"][0]
    assert classic_server.tag({"texts": TEXTS}) == expected["rows"]
    assert classic_server.tag({"texts": TEXTS, "tokens": True}) == expected["tokens"]
    assert classic_server.tag({"text": TEXTS[1], "tokens": True}) == {**expected["tokens"][1], "id": 0}
    fragment = classic_server.tag({"texts": TEXTS[:2]}, "/tag?format=html")
    assert fragment.count('<mark class="entity"') == sum(len(row["entities"]) for row in expected["rows"][:2]) > 0
    status, headers, page = classic_server.get("/")
    page = page.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "<textarea" in page and ">Tag</button>" in page and "tag?format=html" in page
    for outside in ("http://", "https://", "src=", "<link", "url(", "@import"):
        assert outside not in page
    status, _, schema = classic_server.get("/openapi.json")
    assert status == 200 and {"/tag", "/health"} <= set(json.loads(schema)["paths"])
    assert classic_server.get("/docs")[0] == 200
    assert any('POST /tag 200' in line for line in classic_server.lines)  # one log line per request


BIG = json.dumps({"text": "Paris " * 12_000}).encode()
BAD = {  # name: (method, path, body, headers, status, a fragment of the error)
    "malformed_json": ("POST", "/tag", b'{"text": ', JSON, 400, "malformed JSON"),
    "deep_nesting": ("POST", "/tag", b"[" * 50_000, JSON, 400, "malformed JSON"),
    "empty_body": ("POST", "/tag", b"", JSON, 400, "empty body"),
    "whitespace_body": ("POST", "/tag", b" \r\n ", JSON, 400, "empty body"),
    "invalid_utf8": ("POST", "/tag", b'{"text": "Par\xeds"}', JSON, 400, "not valid UTF-8 at byte 13"),
    "not_an_object": ("POST", "/tag", b'["Paris"]', JSON, 422, "expected a JSON object"),
    "text_not_a_string": ("POST", "/tag", b'{"text": 5}', JSON, 422, "text"),
    "text_nan": ("POST", "/tag", b'{"text": NaN}', JSON, 422, "text"),
    "texts_not_a_list": ("POST", "/tag", b'{"texts": "Paris"}', JSON, 422, "texts"),
    "texts_item_not_a_string": ("POST", "/tag", b'{"texts": ["Paris", 3]}', JSON, 422, "texts.1"),
    "tokens_not_a_bool": ("POST", "/tag", b'{"text": "Paris", "tokens": "yes"}', JSON, 422, "tokens"),
    "both_text_and_texts": ("POST", "/tag", b'{"text": "a", "texts": ["b"]}', JSON, 422, "exactly one"),
    "neither": ("POST", "/tag", b'{"tokens": true}', JSON, 422, "exactly one"),
    "empty_texts": ("POST", "/tag", b'{"texts": []}', JSON, 422, "empty"),
    "blank_text": ("POST", "/tag", b'{"text": " \\n\\t "}', JSON, 422, "no text"),
    "control_character": ("POST", "/tag", b'{"text": "Par\\u0000is"}', JSON, 422, "control character U+0000"),
    "lone_surrogate": ("POST", "/tag", b'{"text": "Paris \\ud800"}', JSON, 422, "lone surrogate U+D800"),
    "unknown_field": ("POST", "/tag", b'{"text": "Paris", "lang": "es"}', JSON, 422, "unknown field 'lang'"),
    "oversized_body": ("POST", "/tag", BIG, JSON, 413, "--max-body-bytes"),
    "oversized_body_chunked": ("POST", "/tag", iter([BIG[:40_000], BIG[40_000:]]), JSON, 413,
                               "--max-body-bytes"),  # no Content-Length: the bytes are counted as they arrive
    "oversized_text": ("POST", "/tag", json.dumps({"texts": ["a", "Paris " * 400]}).encode(), JSON, 413,
                       "texts[1]: 2,400 characters, over --max-chars 2,000"),
    "too_many_texts": ("POST", "/tag", json.dumps({"texts": ["Paris"] * 9}).encode(), JSON, 413, "--max-texts 8"),
    "wrong_content_type": ("POST", "/tag", b'{"text": "Paris"}', {"Content-Type": "text/plain"}, 415, "text/plain"),
    "no_content_type": ("POST", "/tag", b'{"text": "Paris"}', {}, 415, "Content-Type"),
    "wrong_charset": ("POST", "/tag", b'{"text": "Paris"}', {"Content-Type": "application/json; charset=latin-1"},
                      415, "latin-1"),
    "wrong_format": ("POST", "/tag?format=xml", b'{"text": "Paris"}', JSON, 422, "format"),
    "wrong_method": ("GET", "/tag", None, {}, 405, "Method Not Allowed"),
    "unknown_path": ("POST", "/nothing", b"{}", JSON, 404, "Not Found"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_request_is_a_one_line_4xx_and_changes_nothing(classic_server, expected, case):
    method, path, body, headers, status, fragment = BAD[case]
    got, response_headers, raw = classic_server.request(method, path, body, headers)
    assert got == status, raw
    assert response_headers["content-type"] == "application/json" and b"\n" not in raw
    error = json.loads(raw)
    assert list(error) == ["error"] and fragment in error["error"], error
    assert classic_server.tag({"texts": TEXTS}) == expected["rows"]  # the next good request: the CLI's answer


def concurrent_answers(server, payloads, timeout: float = 60.0) -> list:
    """Every payload sent at once, one client thread each (released together by a barrier)."""
    answers, barrier = [None] * len(payloads), threading.Barrier(len(payloads), timeout=timeout)

    def client(index):
        barrier.wait()
        answers[index] = server.tag(payloads[index])

    threads = [threading.Thread(target=client, args=(index,)) for index in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads)
    return answers


def sixteen_payloads():
    return [{"text": TEXTS[i % len(TEXTS)]} if i % 3 else {"texts": TEXTS[i % 4:], "tokens": i % 2 == 0}
            for i in range(16)]


def test_16_clients_at_once_get_the_answers_of_16_lone_calls(classic_server):
    payloads = sixteen_payloads()
    alone = [classic_server.tag(payload) for payload in payloads]
    before = json.loads(classic_server.get("/health")[2])["batches"]
    assert concurrent_answers(classic_server, payloads) == alone
    batches = json.loads(classic_server.get("/health")[2])["batches"] - before
    assert batches < 16  # requests were tagged together


def test_transformer_server_answers_like_the_cli(transformer_run, tmp_path):
    spanish = ["El Gobierno de España y la Unión Europea firmaron en Bruselas , dijo Juan Pérez .",
               "Lo anunció ayer la ONU en Nueva York . Madrid y Lima también .", "hola"]
    rows = cli_rows(transformer_run, spanish, tmp_path)
    with ServerProcess(transformer_run, ["--device", "cpu", "--max-wait-ms", "20"]) as server:
        health = json.loads(server.get("/health")[2])
        assert health["kind"] == "transformer" and health["lang"] == "es" and health["ready"]
        assert server.tag({"texts": spanish}) == rows and server.tag({"text": spanish[1]}) == {**rows[1], "id": 0}
        payloads = [{"text": spanish[i % 3]} if i % 2 else {"texts": spanish[i % 3:]} for i in range(16)]
        alone = [server.tag(payload) for payload in payloads]
        assert concurrent_answers(server, payloads) == alone
        assert server.stop() == 0


def test_sigterm_finishes_the_requests_in_flight(classic, expected):
    long = {"texts": [" ".join([TEXTS[0]] * 12)] * 60}  # each request takes a while; one at a time (--max-batch 1)
    with ServerProcess(classic, ["--device", "cpu", "--max-batch", "1"]) as server:
        reference = server.tag(long)
        answers, finished, sent = [None] * 8, [0.0] * 8, threading.Barrier(9, timeout=30)

        def client(index):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            connection.request("POST", "/tag", json.dumps(long).encode(), JSON)
            sent.wait()
            response = connection.getresponse()
            answers[index] = (response.status, json.loads(response.read()))
            finished[index] = time.monotonic()

        threads = [threading.Thread(target=client, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        sent.wait()
        time.sleep(0.3)  # the bodies are in the server
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert server.process.wait(30) == 0
        stopped = time.monotonic()
    assert answers == [(200, reference)] * 8
    assert sum(when > signalled for when in finished) >= 4, "most requests were still in flight at SIGTERM"
    assert stopped - max(finished) < 5
    assert any("Shutting down" in line for line in server.lines)


def test_missing_extra_is_one_line(classic, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve", str(classic)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[serve]"' in err
    assert main(["serve", str(classic), "--max-batch", "0"]) == 2 and "--max-batch" in capsys.readouterr().err


class SlowTagger:
    """Sleeps before tagging: for the time limit and the queue bound (no model needed)."""

    info = {"model": "slow", "kind": "classic", "lang": "en", "device": "cpu", "select": "src-dev"}

    def __init__(self, seconds):
        self.seconds = seconds

    def make_document(self, text, id=None):
        from zsner.tagging.document import Document

        return Document.from_offsets(text, [[(0, len(text))]], id)

    def tag_documents(self, documents, batch_size=None):
        time.sleep(self.seconds)
        return iter(documents)


def test_time_limit_and_full_queue_are_one_line_5xx():
    import socket

    import uvicorn

    from zsner.serve.app import create_app
    from zsner.serve.limits import Limits

    listening = socket.create_server(("127.0.0.1", 0))
    app = create_app(SlowTagger(0.6), Limits(timeout=0.3, max_queue=1, max_batch=1, max_wait_ms=0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    client = ServerProcess.__new__(ServerProcess)
    client.port = listening.getsockname()[1]
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    status, _, raw = client.request("POST", "/tag", b'{"text": "Paris"}', JSON)
    assert status == 504 and "--timeout 0.3" in json.loads(raw)["error"]
    results = []
    threads = [threading.Thread(target=lambda: results.append(client.request("POST", "/tag", b'{"text": "a"}', JSON)))
               for _ in range(3)]
    for item in threads:
        item.start()
        time.sleep(0.05)
    for item in threads:
        item.join(10)
    assert 503 in [status for status, _, _ in results] and {status for status, _, _ in results} <= {503, 504}
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()
