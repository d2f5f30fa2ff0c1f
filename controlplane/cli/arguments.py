"""Arguments several commands share, as argparse parents, and the parsing of their values."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from controlplane.errors import UsageError


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def config_path() -> argparse.ArgumentParser:
    """The positional PATH of the config repository."""
    parent = _parent()
    parent.add_argument(
        "path",
        nargs="?",
        default=".",
        type=Path,
        help="the config repository root, holding environments/ and policies/ (default: .)",
    )
    return parent


def environment() -> argparse.ArgumentParser:
    """--env ENV, required: the one environment a command acts on."""
    parent = _parent()
    parent.add_argument("--env", required=True, metavar="ENV", help="the environment")
    return parent


def revision() -> argparse.ArgumentParser:
    """--rev REV: read the config from git instead of the folder."""
    parent = _parent()
    parent.add_argument(
        "--rev",
        metavar="REV",
        help="read the config at this git revision (commit, branch, tag) without checking it "
        "out (default: the working folder)",
    )
    return parent


def output(*formats: str) -> argparse.ArgumentParser:
    """--output/-o FORMAT, the first of FORMATS by default."""
    parent = _parent()
    parent.add_argument(
        "--output",
        "-o",
        choices=formats,
        default=formats[0],
        help=f"output format (default: {formats[0]})",
    )
    return parent


def service() -> argparse.ArgumentParser:
    """Where `serve` keeps its state: what `rollback` reads too."""
    parent = _parent()
    parent.add_argument("--repo", help="config repository URL or path (required somewhere)")
    parent.add_argument("--branch", help="branch to apply (default: main)")
    parent.add_argument(
        "--workdir", type=Path, help="mirror, history and generated keys (default: .controlplane)"
    )
    parent.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in workdir)")
    parent.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")
    return parent


def listen(port: int) -> argparse.ArgumentParser:
    """--host and --port of a server."""
    parent = _parent()
    parent.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parent.add_argument("--port", type=port_number, default=port, help=f"port (default: {port})")
    return parent


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def parse_time(text: str | None, flag: str = "--at") -> datetime:
    """A time option: ISO 8601 or Unix seconds; now when not given."""
    if text is None:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r}: expected ISO 8601 or Unix seconds") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
