"""A real HTTP receiver on loopback for notification tests: it records every POST (path, headers,
raw body) and answers with the statuses it is told to, in order, then 200."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self.statuses: list[int] = []  # answers for the next requests; then 200

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def take(self, received: Received) -> int:
        with self._lock:
            self._requests.append(received)
            return self.statuses.pop(0) if self.statuses else 200


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 and a free port, served from a thread until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = found.take(Received(self.path, dict(self.headers.items()), body))
            answer = b"ok" if status < 400 else b"no_service"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
