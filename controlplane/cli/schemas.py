"""`controlplane schemas`: write the JSON Schemas and the configuration reference, or check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controlplane.schema import REFERENCE_FILE, render_reference, render_schema_files

DESCRIPTION = (
    "Generate one JSON Schema per kind (and controlplane.json for any kind) from the models, for "
    "editors and CI, and REFERENCE.md, the configuration reference. With --check, write nothing "
    "and exit 1 if the files differ from the models."
)
PARENTS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, default=Path("schemas"), help="output folder (default: schemas)"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the files are missing or stale"
    )


def run(args: argparse.Namespace) -> int:
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
            return 1
        print(f"{folder}: {len(files)} files are current")
        return 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"controlplane: error: cannot write {folder}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} files to {folder}")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
