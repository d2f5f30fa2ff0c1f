"""The `controlplane` command: a table of subcommands, each a module of its own, loaded only when
it runs; and the one place where errors become exit codes.

Exit codes, as terraform and kubectl use them: 0 success; 1 the config is invalid, a check or a
target failed, or any other controlplane error; 2 a usage error (bad arguments or settings, a
path, revision or environment that cannot be read); 130 interrupted (Ctrl-C). Where a command's
2 means a result (`plan --detailed-exitcode`: there are changes; `evaluate`: a policy failed),
that command reports usage errors as 1 (its module's USAGE_EXIT).

A command module has DESCRIPTION, PARENTS (shared argument parents, `cli.arguments`),
`add_arguments(parser)` and `run(args) -> int`, and may set USAGE_EXIT.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from controlplane import __version__
from controlplane.errors import ConfigError, ControlPlaneError, InvalidConfig, UsageError
from controlplane.logs import configure_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

# name -> (module under controlplane.cli, one-line help). Listed in `controlplane --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "validate",
        "check the config: schema, references, GPU capacity, memory fit, inline secrets",
    ),
    "schemas": ("schemas", "write the JSON Schemas of every kind, or check they are current"),
    "plan": ("plan", "show what apply would change on the environment's live targets"),
    "apply": ("apply", "change the environment's live targets to match the config"),
    "evaluate": ("evaluate", "evaluate SLO, cost and canary policies against Prometheus"),
    "alerts": ("alerts", "render the SLO policies as Prometheus recording and alerting rules"),
    "experiment": ("experiment", "report on an A/B experiment of a route's variants"),
    "serve": ("serve", "run the reconciler service: API, webhook, polling, history"),
    "status": ("status", "show each environment's sync status from a running service"),
    "rollback": (
        "rollback",
        "open a rollback PR for a failing policy now (what serve does on its own)",
    ),
    "demo": (
        "demo",
        "run the whole loop locally: reconcile, SLO breach, rollback PR, merge, restore",
    ),
    "gateway": ("gateway", "the embedded LLM gateway"),
    "forge-standin": (
        "forge_standin",
        "STAND-IN for a GitHub repository's pull requests, over a local bare repo",
    ),
    "upstream-sim": (
        "upstream_sim",
        "SIMULATOR of a GPU model server (OpenAI-compatible) for tests and demos",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    configure_logging(level="WARNING")
    command: ModuleType | None = None
    try:
        name = next((a for a in arguments if not a.startswith("-")), None)
        if name in COMMANDS:
            command = importlib.import_module(f"controlplane.cli.{COMMANDS[name][0]}")
        parser = _parser(name, command)
        try:
            args = parser.parse_args(arguments)
        except SystemExit as exit_:  # argparse: --help, --version, or a usage error (2)
            return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
        if command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        code: int = command.run(args)
        return code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InvalidConfig as exc:
        sys.stderr.write(exc.report)
        return _exit_code(exc, command)
    except ControlPlaneError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return _exit_code(exc, command)
    except Exception as exc:  # a bug: say so in one line rather than a traceback
        print(
            f"controlplane: internal error: {type(exc).__name__}: {exc} (this is a bug in "
            "controlplane; please report it with the command that caused it)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _exit_code(error: ControlPlaneError, command: ModuleType | None) -> int:
    """The one map from errors to exit codes."""
    if isinstance(error, (UsageError, ConfigError)):
        return int(getattr(command, "USAGE_EXIT", EXIT_USAGE))
    return EXIT_FAILED


def _parser(chosen: str | None, command: ModuleType | None) -> argparse.ArgumentParser:
    """Every command listed; only the chosen one's arguments declared (its module is loaded)."""
    parser = argparse.ArgumentParser(
        prog="controlplane",
        description="GitOps control plane for LLM serving: validate, plan and apply the YAML in "
        "git against live gateways, and open rollback PRs when SLOs break.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        if name == chosen and command is not None:
            sub = commands.add_parser(
                name,
                help=summary,
                description=command.DESCRIPTION,
                parents=list(command.PARENTS),
            )
            command.add_arguments(sub)
        else:
            commands.add_parser(name, help=summary, add_help=False)
    return parser
