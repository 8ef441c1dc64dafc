"""``zsner serve`` in a child process, for the tests and the scripts: started on a free port of 127.0.0.1, ready
once ``GET /health`` says so, its log lines collected, stopped by a signal; every wait bounded."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def connect(port: int, timeout: float = 60.0) -> http.client.HTTPConnection:
    """A connection to 127.0.0.1:``port`` with Nagle's algorithm off: http.client sends the headers and the body
    in two writes, which Nagle plus the server's delayed ACK would hold back ~40 ms on a kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


class ServerProcess:
    """``with ServerProcess(model, ["--max-batch", "1"]) as server: server.port`` (SIGTERM on leaving)."""

    def __init__(self, model, flags=(), env=None, start_timeout: float = 120.0, python: str = sys.executable):
        self.command = [python, "-m", "zsner.cli", "serve", str(model), "--host", "127.0.0.1", "--port", "0",
                        *map(str, flags)]
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {}),
                    "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.start_timeout, self.lines, self.port = start_timeout, [], None
        self._found = threading.Event()

    def __enter__(self) -> "ServerProcess":
        self.process = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_log, daemon=True).start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop(signal.SIGKILL)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _read_log(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            found = re.search(r" on http://127\.0\.0\.1:(\d+) ", line)
            if found and self.port is None:
                self.port = int(found.group(1))
                self._found.set()
        self._found.set()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        self._found.wait(self.start_timeout)
        while self.port is not None and self.process.poll() is None and time.monotonic() < deadline:
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"zsner serve did not become ready: {' | '.join(self.lines[-5:])}")

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 60.0):
        """``(status, headers, raw body)`` of one request on a fresh connection."""
        connection = connect(self.port, timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def get(self, path: str):
        return self.request("GET", path, timeout=5.0)

    def tag(self, payload: dict, path: str = "/tag"):
        """The parsed answer to a JSON payload (raises on any status but 200)."""
        status, _, raw = self.request("POST", path, json.dumps(payload).encode(),
                                      {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"POST {path}: {status} {raw[:200]!r}")
        return json.loads(raw) if path == "/tag" else raw.decode()

    def stop(self, how=signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the server and wait for it (killed after ``timeout`` s); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode
