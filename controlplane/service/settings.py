"""Service settings: flags over environment variables (CONTROLPLANE_*) over a YAML file.

Only the repository is required. Credentials are references (env:VAR / file:PATH); when the API
token or webhook secret is not given, one is generated into the work folder (mode 0600) and its
path is logged, so the service is never open by accident.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from controlplane.errors import UsageError
from controlplane.history import SqlHistory
from controlplane.repo import GitMirror, repo_url
from controlplane.spec.base import SecretRef


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTROLPLANE_", extra="forbid")
    _yaml_file: ClassVar[Path | None] = None

    repo: str = Field(description="The config repository: a URL git can clone, or a path.")
    branch: str = Field(default="main", description="The branch whose head is applied.")
    environments: list[str] = Field(
        default_factory=list, description="Environments to reconcile; empty means all."
    )
    workdir: Path = Field(
        default=Path(".controlplane"), description="Mirror, history database and generated keys."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the history (default: SQLite in workdir)."
    )
    poll_interval: float = Field(default=60, gt=0, description="Seconds between polls.")
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8080, description="Port the API listens on.")
    api_token: SecretRef | None = Field(default=None, description="Bearer token for the API.")
    webhook_secret: SecretRef | None = Field(
        default=None, description="HMAC secret shared with the forge's push webhook."
    )
    git_token: SecretRef | None = Field(
        default=None, description="Token for fetching an HTTPS repository."
    )
    rollback_dry_run: bool = Field(
        default=False,
        description="Write rollback pull requests to workdir/rollbacks/ instead of pushing and "
        "opening them.",
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest request body the API and the webhook accept (refused unread above).",
    )
    webhook_replay_seconds: float = Field(
        default=600,
        ge=0,
        description="A webhook delivery id seen this recently is not acted on again.",
    )
    apply_attempts: int = Field(default=3, ge=1, description="Tries per pass before giving up.")
    retry_base_seconds: float = Field(default=0.5, gt=0, description="First retry delay.")
    retry_max_seconds: float = Field(default=10, gt=0, description="Longest retry delay.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if cls._yaml_file is not None:
            sources += (YamlConfigSettingsSource(settings_cls, yaml_file=cls._yaml_file),)
        return sources

    @property
    def history_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.workdir / 'history.db').resolve()}"

    def mirror(self) -> GitMirror:
        """The bare mirror of the repository, in the work folder."""
        return GitMirror(
            repo_url(self.repo), self.workdir / "mirror.git", self.branch, self.git_token
        )

    def history(self) -> SqlHistory:
        """The history database; the default SQLite file's folder is made when missing."""
        if self.database_url is None:
            try:
                self.workdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"cannot create the work folder {self.workdir}: {exc}") from exc
        return SqlHistory(self.history_url)

    def credential(self, name: str, reference: str | None) -> tuple[str, str]:
        """(reference, where it came from) for a credential, generating one when unset."""
        if reference is not None:
            return reference, reference
        path = self.workdir / name
        if not path.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32) + "\n")
        return f"file:{path.resolve()}", f"generated in {path.resolve()}"


def load_settings(config_file: Path | None, overrides: dict[str, Any]) -> ServiceSettings:
    if config_file is not None:
        _check_file(config_file)
    ServiceSettings._yaml_file = config_file
    try:
        return ServiceSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        where = f" ({config_file}, CONTROLPLANE_* variables or flags)" if config_file else ""
        details = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise UsageError(f"invalid service settings{where}: {details}") from exc


def _check_file(config_file: Path) -> None:
    """UsageError unless the file is a YAML mapping (or empty): pydantic-settings would raise
    whatever its parser raises."""
    if not config_file.is_file():
        raise UsageError(f"{config_file}: no such settings file")
    try:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{config_file}: not UTF-8 text") from exc
    except OSError as exc:
        raise UsageError(f"{config_file}: cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{config_file}: not valid YAML{where}") from exc
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"{config_file}: expected a mapping of setting names to values")
