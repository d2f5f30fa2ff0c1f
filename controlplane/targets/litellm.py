"""Driver for a LiteLLM proxy: reads what it serves, writes its config file or its admin API.

Reads always come from the running proxy (`/model/info`, `/router/settings`, `/guardrails/list`)
and keep only the fields controlplane owns (serving.litellm); the rest (cost tables, defaults,
objects made by hand) is never compared and never deleted.

Two ways to write:
- config file: the whole plan at once. The file is rewritten atomically with the owned objects
  replaced and everything else in it kept, the reload command is run, and the proxy must come
  back ready and serving the new objects within the timeout. Otherwise the previous file is
  restored and reloaded, and the apply fails as a whole: nothing is half applied.
- admin API: one change at a time through `/model/new`, `/model/update`, `/model/delete`,
  `/guardrails` and `/fallback` (a proxy with a database).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from controlplane.answers import Answer, misfit
from controlplane.errors import TargetError
from controlplane.plan import Change, ChangeKind, diff_fields
from controlplane.serving import litellm
from controlplane.spec import DesiredState, LiveState, Managed
from controlplane.spec.environment import LiteLLMMode
from controlplane.spec.state import MANAGED_BY, MANAGER
from controlplane.targets import Capabilities, version_of
from controlplane.targets.http import TargetHttp


class _Deployment(Answer):
    model_name: str
    litellm_params: dict[str, Any]
    model_info: dict[str, Any]


class _ModelInfo(Answer):
    data: list[_Deployment]


class _Guardrail(Answer):
    guardrail_id: str | None = None
    guardrail_name: str
    litellm_params: dict[str, Any]
    guardrail_info: dict[str, Any] | None = None


class _Guardrails(Answer):
    guardrails: list[_Guardrail]


class _Setting(Answer):
    field_name: str
    field_value: Any = None


class _RouterSettings(Answer):
    fields: list[_Setting]


PATTERN_KEYS = ("pattern_type", "pattern_name", "pattern", "name", "action")


def _deployment_object(item: _Deployment) -> Managed:
    info = item.model_info
    params = {k: item.litellm_params[k] for k in litellm.OWNED_PARAMS if k in item.litellm_params}
    params = {k: v for k, v in params.items() if v is not None}
    kept_info = {"id": str(info.get("id", ""))}
    if litellm.API_KEY_REF in info:
        kept_info[litellm.API_KEY_REF] = info[litellm.API_KEY_REF]
    sources = str(info.get(litellm.SOURCES, ""))
    return Managed(
        litellm.DEPLOYMENT,
        kept_info["id"],
        {"model_name": item.model_name, "litellm_params": params, "model_info": kept_info},
        owned=info.get(MANAGED_BY) == MANAGER,
        sources=tuple(s for s in sources.split(",") if s),
    )


def _guardrail_object(item: _Guardrail) -> Managed:
    params = item.litellm_params
    patterns = [
        {k: p[k] for k in PATTERN_KEYS if p.get(k) is not None}
        for p in params.get("patterns") or []
        if isinstance(p, dict)
    ]
    info = item.guardrail_info or {}
    return Managed(
        litellm.GUARDRAIL,
        item.guardrail_name,
        {
            "guardrail_name": item.guardrail_name,
            "litellm_params": {
                "guardrail": params.get("guardrail"),
                "mode": params.get("mode"),
                "patterns": patterns,
            },
        },
        owned=info.get(MANAGED_BY) == MANAGER,
        sources=(f"Guardrail/{item.guardrail_name}",),
    )


class LiteLLMDriver:
    def __init__(
        self,
        name: str,
        url: str,
        master_key: str,
        mode: LiteLLMMode = LiteLLMMode.CONFIG_FILE,
        config_file: str | None = None,
        reload_command: Sequence[str] = (),
        ready_timeout: float = 120.0,
        timeout: float = 10.0,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if mode is LiteLLMMode.CONFIG_FILE and (config_file is None or not reload_command):
            raise TargetError(f"litellm {name!r}: config-file mode needs a file and a command")
        self.name = name
        self.capabilities = Capabilities(
            kinds=litellm.KINDS,
            conditional_writes=False,
            all_at_once=mode is LiteLLMMode.CONFIG_FILE,
        )
        self._mode = mode
        self._config_file = Path(config_file) if config_file else None
        self._reload_command = list(reload_command)
        self._ready_timeout = ready_timeout
        self._sleep = sleep
        self._http = TargetHttp(
            f"litellm {name!r}",
            url,
            {"Authorization": f"Bearer {master_key}"},
            timeout=timeout,
            retries=retries,
            sleep=sleep,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def wanted(self, desired: DesiredState, live: LiveState) -> Sequence[Managed]:
        return litellm.wanted(desired)

    # Reading

    def read(self) -> LiveState:
        try:
            models = _ModelInfo.model_validate_json(self._get("/model/info"))
            guardrails = _Guardrails.model_validate_json(self._get("/guardrails/list"))
            router = _RouterSettings.model_validate_json(self._get("/router/settings"))
        except ValidationError as exc:
            raise TargetError(
                f"litellm {self.name!r}: an answer that is not LiteLLM's ({misfit(exc)})"
            ) from exc
        objects = [_deployment_object(d) for d in models.data]
        objects += [_guardrail_object(g) for g in guardrails.guardrails]
        fallbacks: Any = next(
            (f.field_value for f in router.fields if f.field_name == "fallbacks"), []
        )
        owned = dict(litellm.owned_fallbacks(fallbacks))
        objects.append(
            Managed(
                litellm.ROUTER,
                litellm.ROUTER_NAME,
                {"fallbacks": litellm.router_fallbacks(owned)},
                sources=tuple(f"Route/{route}" for route in owned),
            )
        )
        return LiveState(resources=(), version=version_of(objects), objects=tuple(objects))

    def _get(self, path: str) -> bytes:
        return self._http.request("GET", path).content

    # Writing through the admin API, one change at a time

    def apply(self, change: Change) -> None:
        if self._mode is LiteLLMMode.CONFIG_FILE:
            self.apply_all([change])
            return
        match change.kind, change.action:
            case litellm.DEPLOYMENT, ChangeKind.CREATE:
                self._post("/model/new", _deployment_entry(change))
            case litellm.DEPLOYMENT, ChangeKind.UPDATE:
                self._post("/model/update", _deployment_entry(change))
            case litellm.DEPLOYMENT, ChangeKind.DELETE:
                self._post("/model/delete", {"id": change.name})
            case litellm.GUARDRAIL, ChangeKind.CREATE:
                self._post("/guardrails", {"guardrail": _guardrail_entry(change)})
            case litellm.GUARDRAIL, ChangeKind.UPDATE:
                path = f"/guardrails/{self._guardrail_id(change.name)}"
                self._http.request("PUT", path, json={"guardrail": _guardrail_entry(change)})
            case litellm.GUARDRAIL, ChangeKind.DELETE:
                self._http.request("DELETE", f"/guardrails/{self._guardrail_id(change.name)}")
            case litellm.ROUTER, _:
                self._write_fallbacks(change)
            case _:
                raise TargetError(f"litellm {self.name!r}: cannot {change.action} {change.ref}")

    def _guardrail_id(self, name: str) -> str:
        """The database id of a guardrail, which its admin endpoints take instead of its name."""
        listing = _Guardrails.model_validate_json(self._get("/guardrails/list"))
        for guardrail in listing.guardrails:
            if guardrail.guardrail_name == name and guardrail.guardrail_id:
                return guardrail.guardrail_id
        raise TargetError(f"litellm {self.name!r}: guardrail {name!r} has no id to update it by")

    def _write_fallbacks(self, change: Change) -> None:
        """Per route: set the fallbacks it should have, drop those of routes that have none."""
        before = dict(litellm.owned_fallbacks((change.before or {}).get("fallbacks")))
        after = dict(litellm.owned_fallbacks((change.after or {}).get("fallbacks")))
        for route, groups in after.items():
            if before.get(route) != groups:
                body = {"model": route, "fallback_models": groups, "fallback_type": "general"}
                self._post("/fallback", body)
        for route in before.keys() - after.keys():
            self._http.request("DELETE", f"/fallback/{route}")

    def _post(self, path: str, body: dict[str, Any]) -> None:
        self._http.request("POST", path, json=body)

    # Writing the config file, all changes at once

    def apply_all(self, changes: Sequence[Change]) -> None:
        assert self._config_file is not None
        path = self._config_file
        try:
            previous = path.read_bytes() if path.exists() else None
            config = _parse_config(previous, path)
        except (OSError, ValueError) as exc:
            raise TargetError(f"litellm {self.name!r}: cannot read {path}: {exc}") from exc
        for change in changes:
            _change_config(config, change)
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode()
        try:
            _write_atomically(path, text)
            self._reload()
            self._await(changes)
        except TargetError as failure:
            self._restore(path, previous)
            raise TargetError(f"{failure}; the previous config file was put back") from failure

    def _restore(self, path: Path, previous: bytes | None) -> None:
        try:
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                _write_atomically(path, previous)
            self._reload()
        except TargetError:
            pass  # the original failure is the one to report; the next apply retries

    def _reload(self) -> None:
        try:
            done = subprocess.run(  # argv from the environment, no shell
                self._reload_command,
                capture_output=True,
                text=True,
                timeout=self._ready_timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TargetError(f"litellm {self.name!r}: the reload command failed: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-300:]
            raise TargetError(
                f"litellm {self.name!r}: the reload command exited {done.returncode}: {tail}"
            )

    def _await(self, changes: Sequence[Change]) -> None:
        """Until the proxy answers and serves exactly what the changes wrote."""
        deadline = time.monotonic() + self._ready_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                live = {(o.kind, o.name): o for o in self.read().objects}
            except TargetError as exc:
                last = str(exc)
            else:
                pending = [c for c in changes if not _landed(c, live)]
                if not pending:
                    return
                last = f"it still serves the old {pending[0].ref}"
            self._sleep(0.5)
        raise TargetError(
            f"litellm {self.name!r}: not ready with the new config after "
            f"{self._ready_timeout:g} s ({last})"
        )


def _landed(change: Change, live: dict[tuple[str, str], Managed]) -> bool:
    held = live.get((change.kind, change.name))
    if change.action is ChangeKind.DELETE:
        return held is None
    return held is not None and held.owned and not diff_fields(held.document, change.after or {})


def _parse_config(raw: bytes | None, path: Path) -> dict[str, Any]:
    if raw is None:
        return {}
    config = yaml.safe_load(raw) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path} does not hold a mapping")
    return config


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the file, flush it to disk, then rename over it: a reader sees the old file
    or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise TargetError(f"cannot write {path}: {exc}") from exc


def _deployment_entry(change: Change) -> dict[str, Any]:
    """A deployment as LiteLLM takes it: the compared document plus the API key reference and
    the ownership marks."""
    document = change.after or {}
    params = dict(document.get("litellm_params", {}))
    info = dict(document.get("model_info", {}))
    reference = info.get(litellm.API_KEY_REF)
    # LiteLLM's OpenAI client insists on a key; a server that wants none ignores it.
    params["api_key"] = litellm.env_reference(reference) if reference else "none"
    info[MANAGED_BY] = MANAGER
    if change.sources:
        info[litellm.SOURCES] = ",".join(change.sources)
    return {"model_name": document.get("model_name"), "litellm_params": params, "model_info": info}


def _guardrail_entry(change: Change) -> dict[str, Any]:
    document = dict(change.after or {})
    document["guardrail_info"] = {MANAGED_BY: MANAGER}
    return document


def _change_config(config: dict[str, Any], change: Change) -> None:
    """Apply one change to the parsed config file, leaving what is not ours as it is."""
    match change.kind:
        case litellm.DEPLOYMENT:
            entries = [e for e in config.get("model_list") or [] if _id(e) != change.name]
            if change.action is not ChangeKind.DELETE:
                entries.append(_deployment_entry(change))
            config["model_list"] = entries
        case litellm.GUARDRAIL:
            entries = [
                g
                for g in config.get("guardrails") or []
                if not (isinstance(g, dict) and g.get("guardrail_name") == change.name)
            ]
            if change.action is not ChangeKind.DELETE:
                entries.append(_guardrail_entry(change))
            config["guardrails"] = entries
        case litellm.ROUTER:
            settings = config.setdefault("router_settings", {})
            ours = dict(litellm.owned_fallbacks(settings.get("fallbacks")))
            kept = [
                entry
                for entry in settings.get("fallbacks") or []
                if not (isinstance(entry, dict) and set(entry) <= set(ours))
            ]
            after = (change.after or {}).get("fallbacks", [])
            settings["fallbacks"] = kept + list(after)


def _id(entry: Any) -> str | None:
    info = entry.get("model_info") if isinstance(entry, dict) else None
    return str(info.get("id")) if isinstance(info, dict) else None
