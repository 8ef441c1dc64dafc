"""The FastAPI app around one loaded ``Tagger``: ``POST /tag``, ``GET /health``, the page at ``GET /`` and the
OpenAPI docs (``/docs``, ``/openapi.json``); one log line per request; every error a one-line ``{"error": ...}``.

``POST /tag`` answers ``{"text": t}`` with the document object that ``zsner tag`` writes for ``t`` (id 0) and
``{"texts": [...]}`` with the list of them (ids 0..n-1), tokens included with ``"tokens": true``;
``POST /tag?format=html`` answers with the HTML fragment of those documents instead (what the page shows).
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ..tagging.html import render_documents
from .batching import Busy, MicroBatcher
from .limits import Limits
from .page import render
from .requests import RequestError, TagRequest, check_content_type, check_length, one_line, parse

log = logging.getLogger("zsner.serve")
EXAMPLE = {"text": "El Gobierno de España aprobó ayer en Madrid el plan de la Unión Europea."}


def create_app(tagger, limits: Limits = Limits()) -> FastAPI:
    batcher = MicroBatcher(tagger, limits.max_batch, limits.max_wait_ms, limits.max_queue)

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="zsner", summary="Named entities in raw text, as `zsner tag` finds them", lifespan=lifespan)
    app.state.batcher = batcher
    app.add_middleware(RequestLog)
    _add_error_handlers(app)
    page = render(tagger.info)

    @app.post("/tag", openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": TagRequest.model_json_schema(), "example": EXAMPLE}}}},
        responses={200: {"description": "one document object (`text`) or a list of them (`texts`), as the JSONL "
                                        "lines of `zsner tag`; an HTML fragment with `format=html`"}})
    async def tag(request: Request, format: Literal["json", "html"] = "json"):
        """Tag one text or a list of texts."""
        try:
            return await asyncio.wait_for(_answer(request, format), limits.timeout)
        except asyncio.TimeoutError:
            raise RequestError(504, f"not answered within --timeout {limits.timeout:g} s") from None

    async def _answer(request: Request, format: str):
        parsed = parse(await _read_body(request, limits), limits)
        request.state.documents = len(parsed.all_texts())
        try:
            documents = await batcher.tag(parsed.all_texts())
        except Busy:
            raise RequestError(503, f"busy: {limits.max_queue} requests already wait (--max-queue)") from None
        if format == "html":
            return HTMLResponse(render_documents(documents))
        rows = [document.to_dict(parsed.tokens) for document in documents]
        return JSONResponse(rows[0] if parsed.text is not None else rows)

    @app.get("/health")
    async def health():
        """The model, its kind and language, the device, and whether the server is ready."""
        info = tagger.info
        body = {"ready": batcher.running, "model": info["model"], "kind": info["kind"], "lang": info["lang"],
                "device": info["device"], "select": info["select"], "limits": asdict(limits),
                "batches": batcher.batches, "documents": batcher.documents}
        return JSONResponse(body, 200 if batcher.running else 503)

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page)

    return app


async def _read_body(request: Request, limits: Limits) -> bytes:
    check_content_type(request.headers.get("content-type"))
    check_length(request.headers.get("content-length"), limits)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise RequestError(413, f"body over --max-body-bytes {limits.max_body_bytes:,}")
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def request_error(request, err: RequestError):
        return _error(err.status, str(err))

    async def http_error(request, err: HTTPException):
        return _error(err.status_code, str(err.detail), getattr(err, "headers", None))

    async def validation_error(request, err: RequestValidationError):
        return _error(422, one_line(list(err.errors())))

    async def internal_error(request, err: Exception):
        return _error(500, f"internal error ({type(err).__name__}); the server goes on")

    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)


class RequestLog:
    """ASGI middleware: one line per request (client, method, path, status, milliseconds, documents)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = "%s:%s" % tuple(scope.get("client") or ("-", "-"))
            query = "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            documents = scope.get("state", {}).get("documents")
            log.info("%s %s %s%s %d %.1f ms%s", client, scope["method"], scope["path"], query[:80], status[0],
                     1000 * (time.perf_counter() - start), f" {documents} docs" if documents is not None else "")
