"""`controlplane demo`: the whole loop on 127.0.0.1, from an empty temporary folder."""

from __future__ import annotations

import argparse

from controlplane.errors import UsageError

DESCRIPTION = (
    "From an empty temporary folder: a bare git repo seeded with the shipped config, SIMULATED "
    "model servers (the canary slow on purpose), the gateway, Prometheus, the forge STAND-IN and "
    "`controlplane serve`, all on 127.0.0.1. A canary commit is applied, traffic breaks the "
    "latency policy, a rollback PR is opened, merged and applied. Everything stops at the end "
    "or on Ctrl-C. Needs Prometheus installed."
)
PARENTS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--requests", type=int, default=900, help="most requests sent (default: 900)"
    )
    parser.add_argument("--rate", type=float, default=25, help="requests per second (default: 25)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")


def run(args: argparse.Namespace) -> int:
    from controlplane.demo.run import run_demo

    if args.requests < 1 or not args.rate > 0:
        raise UsageError("--requests must be at least 1 and --rate above 0")
    return run_demo(args.requests, args.rate, args.keep)
