"""STAND-IN for a Kubernetes API server, for tests only: no API server can run on this machine.

It answers the two GETs controlplane's health reader makes (an InferenceService, a Deployment's
status) with recorded responses shaped by the published API (the tests check each one against
the Kubernetes OpenAPI schema and KServe's own API models before serving it), a Kubernetes
`Status` 404 for anything else, and 401 without the bearer token the test's kubeconfig carries.
It lives in tests/support and nothing in controlplane imports it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "stand-in-token"
PATHS = {
    "InferenceService": re.compile(
        r"^/apis/serving\.kserve\.io/v1beta1/namespaces/([^/]+)/inferenceservices/([^/]+)$"
    ),
    "Deployment": re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/status$"),
}


def not_found(kind: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": f'{kind.lower()}s "{name}" not found',
        "reason": "NotFound",
        "code": 404,
    }


@contextmanager
def kubernetes_standin(objects: dict[tuple[str, str, str], dict[str, Any]]) -> Iterator[str]:
    """Serve `objects` ((kind, namespace, name) -> recorded object) on 127.0.0.1; yields the URL.
    `asked` on the server lists the paths requested."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"kind": "Status", "code": 401, "reason": "Unauthorized"})
                return
            for kind, pattern in PATHS.items():
                match = pattern.match(self.path.split("?")[0])
                if match:
                    found = objects.get((kind, match[1], match[2]))
                    self._send(200, found) if found else self._send(404, not_found(kind, match[2]))
                    return
            self._send(404, not_found("path", self.path))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.asked = asked  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(server: str = "https://cluster.invalid:6443") -> str:
    """A kubeconfig whose server the health reader replaces with the configured one."""
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: test\n  cluster:\n    server: {server}\n"
        f"users:\n- name: test\n  user:\n    token: {TOKEN}\n"
        "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
    )
