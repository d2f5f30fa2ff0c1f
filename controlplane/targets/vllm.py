"""Driver for vLLM servers' runtime LoRA adapters (`/v1/load_lora_adapter`,
`/v1/unload_lora_adapter`, read back through `/v1/models`, which lists each adapter with its
parent).

A server is started with `--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True. What it
serves (its base model, its context length) cannot change at run time: a difference is drift
that the plan shows with both values, and applying it fails with what to do instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import httpx
from pydantic import ValidationError

from controlplane.answers import Answer, misfit
from controlplane.errors import TargetError
from controlplane.plan import Change, ChangeKind
from controlplane.serving import vllm
from controlplane.spec import DesiredState, LiveState, Managed
from controlplane.spec.environment import VllmTargetConfig
from controlplane.targets import Capabilities, version_of
from controlplane.targets.http import TargetHttp


class _Served(Answer):
    id: str
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None


class _Models(Answer):
    data: list[_Served]


class VllmDriver:
    capabilities = Capabilities(kinds=vllm.KINDS, conditional_writes=False)

    def __init__(
        self,
        config: VllmTargetConfig,
        tokens: Mapping[str, str | None],
        timeout: float = 60.0,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`tokens`: each server's token, resolved, by server name."""
        self.name = name = config.name
        self._config = config
        self._servers = {
            server.name: TargetHttp(
                f"vllm {name!r} server {server.name!r}",
                vllm.base_url(server.url),
                {"Authorization": f"Bearer {token}"} if token else {},
                timeout=timeout,  # loading an adapter reads its weights
                retries=retries,
                sleep=sleep,
                transport=transport,
            )
            for server in config.servers
            for token in [tokens.get(server.name)]
        }

    def close(self) -> None:
        for http in self._servers.values():
            http.close()

    def wanted(self, desired: DesiredState, live: LiveState) -> Sequence[Managed]:
        return vllm.wanted(self._config, desired, live)

    def read(self) -> LiveState:
        objects: list[Managed] = []
        for server, http in self._servers.items():
            served = self._served(http)
            bases = [m for m in served if m.parent is None]
            if bases:
                document: dict[str, object] = {"model": bases[0].id}
                if bases[0].max_model_len is not None:
                    document["maxModelLen"] = bases[0].max_model_len
                objects.append(Managed(vllm.SERVER, server, document))
            for adapter in served:
                if adapter.parent is not None:
                    objects.append(
                        Managed(
                            vllm.ADAPTER,
                            vllm.adapter_name(server, adapter.id),
                            {"path": adapter.root or ""},
                        )
                    )
        return LiveState(resources=(), version=version_of(objects), objects=tuple(objects))

    def apply(self, change: Change) -> None:
        if change.kind == vllm.SERVER:
            before, after = change.before or {}, change.after or {}
            raise TargetError(
                f"vllm {self.name!r}: server {change.name!r} serves {before.get('model')!r} "
                f"(max_model_len {before.get('maxModelLen')}), the config asks for "
                f"{after.get('model')!r} (max_model_len {after.get('maxModelLen')}); vLLM cannot "
                "change either at run time: restart it with that model and --max-model-len"
            )
        server, _, adapter = change.name.partition("/")
        http = self._servers.get(server)
        if http is None:
            raise TargetError(f"vllm {self.name!r}: no server {server!r}")
        if change.action in (ChangeKind.UPDATE, ChangeKind.DELETE):
            self._unload(http, adapter)
        if change.action in (ChangeKind.CREATE, ChangeKind.UPDATE):
            path = (change.after or {}).get("path", "")
            response = http.request(
                "POST",
                "/v1/load_lora_adapter",
                json={"lora_name": adapter, "lora_path": path},
                allow=(404,),
            )
            if response.status_code == 404:
                raise TargetError(_not_loaded(http.label, adapter, path, response))

    def _unload(self, http: TargetHttp, adapter: str) -> None:
        """Unload, where an adapter already gone (an earlier try that landed) is done."""
        try:
            http.request("POST", "/v1/unload_lora_adapter", json={"lora_name": adapter})
        except TargetError:
            held = {m.id for m in self._served(http) if m.parent is not None}
            if adapter in held:
                raise

    def _served(self, http: TargetHttp) -> list[_Served]:
        try:
            return _Models.model_validate_json(http.request("GET", "/v1/models").content).data
        except ValidationError as exc:
            raise TargetError(
                f"{http.label}: an answer that is not vLLM's ({misfit(exc)})"
            ) from exc

    def apply_all(self, changes: Sequence[Change]) -> None:
        raise NotImplementedError("vLLM adapters are applied one at a time")


def _not_loaded(label: str, adapter: str, path: str, response: httpx.Response) -> str:
    """Why a load answered 404: the route is missing (runtime updating is off) or the path
    holds no adapter."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("detail") == "Not Found":
        return (
            f"{label}: the server does not allow runtime LoRA updates; start it with "
            "--enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
        )
    return f"{label}: no LoRA adapter {adapter!r} could be loaded from {path!r}"
