"""Every bound of the server, one ``zsner serve`` flag each (``--max-body-bytes`` ...), with its default."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_048_576  # a POST /tag body, counted as it arrives (413 beyond)
    max_texts: int = 100  # texts in one request (413 beyond)
    max_chars: int = 100_000  # characters in one text (413 beyond)
    timeout: float = 30.0  # seconds from a request's arrival to its answer (504 beyond)
    max_batch: int = 64  # documents tagged in one batch; 1: one request at a time
    max_wait_ms: float = 5.0  # how long a batch waits for more requests after its first
    max_queue: int = 1024  # requests waiting for the tagger (503 beyond)

    def problem(self) -> str | None:
        """What is wrong with these limits, if anything (every one must be positive; the wait may be 0)."""
        for name, value in vars(self).items():
            if value < 0 or (value == 0 and name != "max_wait_ms"):
                return f"--{name.replace('_', '-')} must be positive (got {value})"
        return None
