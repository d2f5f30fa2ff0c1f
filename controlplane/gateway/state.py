"""The gateway process's mutable parts: the current snapshot, and the one lock writers take."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

from controlplane.errors import ConfigError
from controlplane.gateway.answered import RecentAnswers
from controlplane.gateway.audit import AuditLog
from controlplane.gateway.budgets import SpendLedger
from controlplane.gateway.caching import ResponseCache
from controlplane.gateway.detectors import injection_detector, toxicity_detector
from controlplane.gateway.judges import JudgeQueue
from controlplane.gateway.metrics import GatewayMetrics
from controlplane.gateway.ratelimit import RateLimiter
from controlplane.gateway.snapshot import Snapshot
from controlplane.spec import KIND_BY_NAME

log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    admin_token: str
    state_file: Path | None = None
    snapshot: Snapshot = field(default_factory=Snapshot)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    ledger: SpendLedger = field(default_factory=SpendLedger)
    cache: ResponseCache = field(default_factory=ResponseCache)
    audit: AuditLog | None = None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    client: httpx.AsyncClient | None = None
    recent: RecentAnswers = field(default_factory=RecentAnswers)  # what feedback may rate
    judges: JudgeQueue | None = None  # answers to grade; made when the gateway starts

    def publish(self, snapshot: Snapshot) -> None:
        """Make `snapshot` live (one reference swap), and persist it when a file is set."""
        if self.state_file is not None:
            save_snapshot(snapshot, self.state_file)
        self.snapshot = snapshot
        self.metrics.config_version.set(snapshot.version)
        if snapshot.needing_the_model():
            warm_up()


_warming = threading.Lock()
_warmed: list[bool] = []


def warm_up() -> None:
    """Load the embedding model and the classifiers' examples (a few seconds) in the
    background, once, so that the first requests that need them do not wait for it."""
    with _warming:
        if _warmed:
            return
        _warmed.append(True)

    def load() -> None:
        try:
            injection_detector()
            toxicity_detector()
        except ConfigError as exc:  # not installed: the requests that need it say so
            log.warning("the embedding model is not available: %s", exc)

    threading.Thread(target=load, name="warm-up", daemon=True).start()


def snapshot_to_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "version": snapshot.version,
        "resources": [
            {
                "kind": kind,
                "name": name,
                "version": snapshot.versions[(kind, name)],
                "document": resource.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
            for (kind, name), resource in sorted(snapshot.resources.items())
        ],
    }


def _partial_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_partial_writes(path: Path) -> list[Path]:
    """Temporary files a crash left behind mid-write (they were never renamed into place)."""
    leftovers = sorted(path.parent.glob(f"{_partial_prefix(path)}*.tmp"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


def save_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write atomically (temporary file, then rename), so a crash never leaves half a file; a
    temporary file a crash leaves is removed at the next start (`remove_partial_writes`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, prefix=_partial_prefix(path), suffix=".tmp"
    ) as tmp:
        json.dump(snapshot_to_json(snapshot), tmp)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def load_snapshot(path: Path) -> Snapshot:
    """The snapshot saved in PATH (empty when there is none); ConfigError when it cannot be
    read as one, rather than serving a half-understood config."""
    remove_partial_writes(path)
    if not path.exists():
        return Snapshot()
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        resources = {}
        versions = {}
        for item in body["resources"]:
            key = (item["kind"], item["name"])
            resources[key] = KIND_BY_NAME[item["kind"]].model_validate(item["document"])
            versions[key] = int(item["version"])
        version = int(body["version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ValidationError is a ValueError
        why = str(exc.strerror) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(
            f"{path}: not a gateway state file ({why.splitlines()[0]}); move it away to start "
            "with an empty config"
        ) from exc
    return Snapshot(
        version=version,
        resources=MappingProxyType(resources),
        versions=MappingProxyType(versions),
    )
