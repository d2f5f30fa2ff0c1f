"""vLLM servers: which LoRA adapters each should have loaded, and what it must serve.

A Model is on a server when its framework is vllm and its endpoint is the server's URL (with or
without /v1). Two kinds of objects:
- `LoraAdapter` (`<server>/<adapter>`): loaded through the runtime LoRA API; path is the
  adapter's URI.
- `VllmServer` (`<server>`): the base model it serves and its context length. A server cannot
  change either at run time, so a difference is drift to report, never a write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from controlplane.spec import DesiredState, LiveState, Managed, Model
from controlplane.spec.environment import VllmServer, VllmTargetConfig
from controlplane.spec.model import Framework

ADAPTER = "LoraAdapter"
SERVER = "VllmServer"
KINDS = (SERVER, ADAPTER)  # the server's base first: an adapter needs the right base


def base_url(url: str) -> str:
    """A server's URL as compared: no trailing slash, no /v1."""
    url = url.rstrip("/")
    return url.removesuffix("/v1")


@dataclass(frozen=True)
class Placement:
    server: VllmServer
    models: tuple[Model, ...]


def placements(config: VllmTargetConfig, models: Sequence[Model]) -> Iterator[Placement]:
    """Each server with the vLLM Models whose endpoint it is."""
    for server in config.servers:
        here = tuple(
            m
            for m in models
            if m.spec.framework is Framework.VLLM
            and m.spec.endpoint is not None
            and base_url(m.spec.endpoint) == base_url(server.url)
        )
        yield Placement(server, here)


def adapter_name(server: str, adapter: str) -> str:
    return f"{server}/{adapter}"


def wanted(config: VllmTargetConfig, desired: DesiredState, live: LiveState) -> list[Managed]:
    """What the servers should hold. A server's context length is met by any value at least the
    longest any of its Models asks for, so a longer live one is wanted as it is."""
    held = {o.name: o for o in live.objects if o.kind == SERVER}
    objects: list[Managed] = []
    for placement in placements(config, desired.models):
        server = placement.server.name
        if not placement.models:
            if server in held:  # nothing of ours runs there: leave it as it is
                objects.append(held[server])
            continue
        longest = max((m.spec.max_model_len or 0 for m in placement.models), default=0)
        live_length = held[server].document.get("maxModelLen") if server in held else None
        if isinstance(live_length, int) and live_length >= longest:
            longest = live_length
        document: dict[str, object] = {"model": placement.models[0].spec.base_model}
        if longest:
            document["maxModelLen"] = longest
        objects.append(
            Managed(SERVER, server, document, sources=tuple(m.ref for m in placement.models))
        )
        for model in placement.models:
            if model.spec.adapter is not None:
                objects.append(
                    Managed(
                        ADAPTER,
                        adapter_name(server, model.spec.adapter.name),
                        {"path": model.spec.adapter.uri},
                        sources=(model.ref,),
                    )
                )
    return objects


def loadable(uri: str) -> bool:
    """A path or hub id vLLM loads itself: an absolute local path, or org/name."""
    if uri.startswith("/"):
        return True
    return "://" not in uri and uri.count("/") == 1
