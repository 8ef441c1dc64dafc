"""A ``POST /tag`` body, read and checked before anything is queued; each problem is a ``RequestError``: a 4xx
status and one line (415 content type, 413 size, 400 empty / not UTF-8 / not JSON, 422 fields and texts).

Accepted: ``{"text": "..."}`` or ``{"texts": ["...", ...]}``, either with ``"tokens": true``; nothing else.
"""
from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ZsnerError
from ..tagging.inputs import check_text
from .limits import Limits


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TagRequest(BaseModel):
    """One text (answered with one document object) or a list of texts (answered with a list of them)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str | None = None
    texts: list[str] | None = None
    tokens: bool = False

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts)


def check_content_type(value: str | None) -> None:
    media, _, parameters = (value or "").partition(";")
    charset = parameters.strip().lower().replace(" ", "")
    if media.strip().lower() != "application/json" or charset not in ("", "charset=utf-8"):
        raise RequestError(415, f"expected Content-Type: application/json (UTF-8), got {value or 'none'!r}")


def check_length(value: str | None, limits: Limits) -> None:
    """The announced Content-Length, before any byte is read (the bytes read are counted too)."""
    if value is not None and value.strip().isdigit() and int(value) > limits.max_body_bytes:
        raise RequestError(413, f"body of {int(value):,} bytes, over --max-body-bytes {limits.max_body_bytes:,}")


def parse(body: bytes, limits: Limits) -> TagRequest:
    if len(body) > limits.max_body_bytes:
        raise RequestError(413, f"body over --max-body-bytes {limits.max_body_bytes:,}")
    if not body.strip():
        raise RequestError(400, 'empty body: send {"text": "..."} or {"texts": [...]}')
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(400, f"body is not valid UTF-8 at byte {err.start} (0x{body[err.start]:02x})") from None
    try:
        value = json.loads(decoded)
    except json.JSONDecodeError as err:
        raise RequestError(400, f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise RequestError(400, "malformed JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise RequestError(422, f'expected a JSON object {{"text": ...}} or {{"texts": [...]}}, got a '
                                f"{type(value).__name__}")
    try:
        request = TagRequest.model_validate(value)
    except ValidationError as err:
        raise RequestError(422, one_line(err.errors())) from None
    _check_texts(request, limits)
    return request


def one_line(problems: list[dict]) -> str:
    """Pydantic's (or FastAPI's) list of validation problems as one line: the first, and how many more."""
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    message = f"unknown field {where!r}" if first["type"] == "extra_forbidden" else f"{where}: {first['msg']}"
    return message + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def _check_texts(request: TagRequest, limits: Limits) -> None:
    if (request.text is None) == (request.texts is None):
        raise RequestError(422, 'give exactly one of "text" (a string) and "texts" (a list of strings)')
    texts = request.all_texts()
    if not texts:
        raise RequestError(422, '"texts" is empty')
    if len(texts) > limits.max_texts:
        raise RequestError(413, f"{len(texts):,} texts, over --max-texts {limits.max_texts:,}")
    for index, text in enumerate(texts):
        name = "text" if request.text is not None else f"texts[{index}]"
        if len(text) > limits.max_chars:
            raise RequestError(413, f"{name}: {len(text):,} characters, over --max-chars {limits.max_chars:,}")
        try:
            check_text(text, name, limits.max_chars)
        except ZsnerError as err:
            raise RequestError(422, str(err)) from None
