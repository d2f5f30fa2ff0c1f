"""The `controlplane` command. Errors become exit codes here, and only here.

Exit codes, as terraform and kubectl use them: 0 success, 1 the config is invalid (or a check
failed), 2 a usage error (bad arguments, a path or revision that cannot be read).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from controlplane import __version__
from controlplane.errors import ConfigError
from controlplane.load import load_config
from controlplane.reference import REFERENCE_FILE, render_reference
from controlplane.report import render_github, render_json, render_text
from controlplane.schema import render_schema_files
from controlplane.validate import validate_config

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controlplane",
        description="GitOps control plane for LLM serving: validate, plan and apply the YAML "
        "in git against live gateways, and open rollback PRs when SLOs break.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check the config: schema, references, GPU capacity, memory fit, inline secrets",
        description="Validate every environment (or those named with --env) and the policies "
        "that select them. Reports every problem with file:line and field. Exit 0 when valid, "
        "1 when invalid, 2 on a usage error.",
    )
    validate.add_argument(
        "path",
        nargs="?",
        default=".",
        type=Path,
        help="the config repository root, holding environments/ and policies/ (default: .)",
    )
    validate.add_argument(
        "--env",
        action="append",
        metavar="ENV",
        help="validate only this environment (repeatable; default: all)",
    )
    validate.add_argument(
        "--rev",
        metavar="REV",
        help="read the config at this git revision (commit, branch, tag) without checking it "
        "out (default: the working folder)",
    )
    validate.add_argument(
        "--output",
        "-o",
        choices=("text", "json", "github"),
        default="text",
        help="text for people, json for tools, github for workflow annotations (default: text)",
    )
    validate.set_defaults(run=_run_validate)

    schemas = commands.add_parser(
        "schemas",
        help="write the JSON Schemas of every kind, or check they are current",
        description="Generate one JSON Schema per kind (and controlplane.json for any kind) "
        "from the models, for editors and CI, and REFERENCE.md, the configuration reference. "
        "With --check, write nothing and exit 1 if the files differ from the models.",
    )
    schemas.add_argument(
        "--dir", type=Path, default=Path("schemas"), help="output folder (default: schemas)"
    )
    schemas.add_argument(
        "--check", action="store_true", help="exit 1 if the files are missing or stale"
    )
    schemas.set_defaults(run=_run_schemas)
    return parser


def _run_validate(args: argparse.Namespace) -> int:
    loaded = load_config(args.path, rev=args.rev)
    where = f"{args.path} at {args.rev}" if args.rev else str(args.path)
    if not loaded.environments:
        raise ConfigError(
            f"no environments/<env>/ folders with YAML under {where}: is this a controlplane "
            "config repository?"
        )
    chosen: list[str] = args.env or list(loaded.environments)
    unknown = [e for e in chosen if e not in loaded.environments]
    if unknown:
        known = ", ".join(loaded.environments)
        raise ConfigError(
            f"no environment {', '.join(map(repr, unknown))} under {where}/environments "
            f"(found: {known})"
        )
    result = validate_config(loaded, chosen)
    if args.output == "json":
        sys.stdout.write(render_json(result, chosen))
    elif args.output == "github":
        sys.stdout.write(render_github(result, chosen))
    else:
        sys.stdout.write(render_text(result, chosen, color=_color(sys.stdout)))
    return EXIT_OK if result.ok else EXIT_INVALID


def _run_schemas(args: argparse.Namespace) -> int:
    files = {**render_schema_files(), REFERENCE_FILE: render_reference()}
    folder: Path = args.dir
    if args.check:
        stale = [n for n, text in files.items() if _read(folder / n) != text]
        extra = (
            sorted(p.name for p in folder.glob("*.json") if p.name not in files)
            if folder.is_dir()
            else []
        )
        for name in stale:
            print(f"{folder / name}: stale or missing", file=sys.stderr)
        for name in extra:
            print(f"{folder / name}: not generated from any kind", file=sys.stderr)
        if stale or extra:
            print("run `controlplane schemas` and commit the result", file=sys.stderr)
            return EXIT_INVALID
        print(f"{folder}: {len(files)} files are current")
        return EXIT_OK
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {folder}")
    return EXIT_OK


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _color(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ
