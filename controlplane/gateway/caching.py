"""When a request may be answered from the cache, and which cached answers it may see.

Correctness before hit rate: an answer is reused only within its scope, which holds everything
besides the last user message that shapes an answer (route, the team or consumer unless the
route shares its cache, the system prompt and earlier turns, sampling and output parameters,
tools). Only requests at most as random as the route allows are cached, and a client's
`Cache-Control: no-cache` (or `no-store`) skips the cache both ways.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from controlplane.errors import ConfigError
from controlplane.gateway.auth import Caller
from controlplane.gateway.embedder import load_embedder
from controlplane.gateway.semantic_cache import Hit, SemanticCache
from controlplane.spec import Route

log = logging.getLogger(__name__)

# Parameters that change what an answer is; anything else (user, stream, metadata) does not.
SHAPING = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "reasoning_effort",
)


class _LazyEmbedder:
    """Loads the embedding model on the first semantic lookup, not at start: a gateway whose
    routes cache exact prompts only never pays for it."""

    dimensions = 384  # all-MiniLM-L6-v2's

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return load_embedder().encode(texts)

    def fits(self, text: str) -> bool:
        return load_embedder().fits(text)


@dataclass(frozen=True)
class Lookup:
    scope: str
    prompt: str


def cache_lookup(
    route: Route, caller: Caller, body: Mapping[str, Any], headers: Mapping[str, str]
) -> Lookup | None:
    """Where this request's answer lives in the cache; None when it may not use the cache."""
    cache = route.spec.cache
    if not cache.enabled:
        return None
    control = headers.get("cache-control", "").lower()
    if "no-cache" in control or "no-store" in control:
        return None
    temperature = body.get("temperature", 1.0)
    if not isinstance(temperature, (int, float)) or temperature > cache.max_temperature:
        return None
    if body.get("n", 1) != 1:
        return None
    messages = body.get("messages") or []
    last = next(
        (
            i
            for i in range(len(messages) - 1, -1, -1)
            if isinstance(messages[i], dict) and messages[i].get("role") == "user"
        ),
        None,
    )
    if last is None or not isinstance(messages[last].get("content"), str):
        return None
    owner = "*" if cache.shared else (caller.team and f"team:{caller.team}") or caller.name
    shaping = {k: body[k] for k in SHAPING if k in body}
    context = [*messages[:last], *messages[last + 1 :]]
    digest = hashlib.sha256(
        json.dumps([route.name, owner, shaping, context], sort_keys=True, default=str).encode()
    ).hexdigest()
    return Lookup(scope=digest, prompt=messages[last]["content"])


class ResponseCache:
    """The gateway's cache: exact or semantic per route, persisted when a file is given."""

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self._cache = SemanticCache(_LazyEmbedder(), path, clock=clock)

    async def get(self, route: Route, lookup: Lookup) -> Hit | None:
        """The cached answer for this request, if any. A semantic lookup embeds the prompt
        (~5 ms of numpy), so it runs in a thread, not on the event loop."""
        spec = route.spec.cache
        ttl = spec.ttl.total_seconds()
        if spec.similarity_threshold < 1.0:
            try:
                return await asyncio.to_thread(
                    self._cache.lookup, lookup.scope, lookup.prompt, spec.similarity_threshold, ttl
                )
            except ConfigError as exc:  # no model: fewer hits, never a wrong one
                log.warning("route %s: exact matches only: %s", route.name, exc)
        return self._cache.lookup(lookup.scope, lookup.prompt, 1.0, ttl)

    async def put(self, route: Route, lookup: Lookup, answer: dict[str, Any]) -> None:
        """Keep an answer; in a thread, since it may save the cache to disk."""
        ttl = route.spec.cache.ttl.total_seconds()
        await asyncio.to_thread(self._cache.store, lookup.scope, lookup.prompt, answer, ttl)

    def close(self) -> None:
        self._cache.close()
