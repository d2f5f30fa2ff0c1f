"""Run an ASGI app with the uvicorn settings every controlplane server shares."""

from __future__ import annotations

from typing import Any

import uvicorn

# Longer than any client pool keeps an idle connection (httpx 5 s, Go 90 s is the outlier, most
# proxies 60 s). Were it shorter, a client could send a POST on a connection the server is just
# closing; POST is not retried, so the request would hang until the client's own timeout.
KEEP_ALIVE_SECONDS = 75


def serve_http(app: Any, host: str, port: int) -> None:
    """Serve APP on HOST:PORT until interrupted; logging stays as the process configured it."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
