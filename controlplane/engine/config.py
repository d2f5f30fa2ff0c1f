"""The desired state from a config repository: read the files (a folder, or a git revision),
parse, validate. The one place that does this sequence; everything else asks here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from controlplane.config import LoadedConfig, parse_config
from controlplane.errors import ConfigError, InvalidConfig
from controlplane.render import render_validation_text
from controlplane.repo import read_folder, read_revision
from controlplane.spec import DesiredState
from controlplane.validate import Validation, validate_config


def load(root: Path, rev: str | None = None) -> LoadedConfig:
    """Every document under `root`, or under `root` at commit `rev` (nothing checked out)."""
    files = read_revision(root, rev) if rev is not None else read_folder(root)
    return parse_config(files, str(root), rev)


def _where(root: Path, rev: str | None) -> str:
    return f"{root} at {rev}" if rev else str(root)


def validate(
    root: Path, environments: Sequence[str] = (), rev: str | None = None
) -> tuple[tuple[str, ...], Validation]:
    """The environments validated (those named, or all) and the result. ConfigError when there
    is no environment at all, or a named one does not exist."""
    loaded = load(root, rev)
    if not loaded.environments:
        raise ConfigError(
            f"no environments/<env>/ folders with YAML under {_where(root, rev)}: is this a "
            "controlplane config repository?"
        )
    chosen = tuple(environments) or loaded.environments
    unknown = [e for e in chosen if e not in loaded.environments]
    if unknown:
        raise ConfigError(
            f"no environment {', '.join(map(repr, unknown))} under "
            f"{_where(root, rev)}/environments (found: {', '.join(loaded.environments)})"
        )
    return chosen, validate_config(loaded, chosen)


def desired_state(root: Path, environment: str, rev: str | None = None) -> DesiredState:
    """The validated desired state of one environment. ConfigError when it does not exist,
    InvalidConfig (with the problems and their report) when it does not validate."""
    loaded = load(root, rev)
    if environment not in loaded.environments:
        known = ", ".join(loaded.environments) or "none"
        raise ConfigError(
            f"no environment {environment!r} under {_where(root, rev)} (found: {known})"
        )
    result = validate_config(loaded, [environment])
    if not result.ok:
        raise InvalidConfig(result.problems, render_validation_text(result, [environment]))
    state = result.states[environment]
    return replace(state, commit=rev) if rev else state
