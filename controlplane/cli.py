"""The `controlplane` command. Errors become exit codes here, and only here.

Exit codes, as terraform and kubectl use them: 0 success, 1 the config is invalid (or a check
failed, or a target failed), 2 a usage error (bad arguments, a path or revision that cannot be
read). `plan --detailed-exitcode` uses 2 for "there are changes", as terraform does, so plan and
apply report every error as 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from controlplane import __version__
from controlplane.apply import apply_plan, dry_run, render_apply
from controlplane.credentials import resolve_secret
from controlplane.errors import ConfigError, TargetError
from controlplane.load import load_config
from controlplane.plan import Plan, compute_plan, simulate
from controlplane.plan import render_json as render_plan_json
from controlplane.plan import render_markdown as render_plan_markdown
from controlplane.plan import render_text as render_plan_text
from controlplane.reference import REFERENCE_FILE, render_reference
from controlplane.report import render_github, render_json, render_text
from controlplane.schema import render_schema_files
from controlplane.spec import DesiredState, LiveState
from controlplane.targets.select import drivers_for
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

    for name, summary in (
        ("plan", "show what apply would change on the environment's live targets"),
        ("apply", "change the environment's live targets to match the config"),
    ):
        command = commands.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}. Reads the config (the folder, or "
            "--rev from git), validates it, reads each target's live state and diffs them.",
        )
        command.add_argument(
            "path",
            nargs="?",
            default=".",
            type=Path,
            help="the config repository root (default: .)",
        )
        command.add_argument("--env", required=True, metavar="ENV", help="the environment")
        command.add_argument(
            "--rev", metavar="REV", help="read the config at this git revision (default: folder)"
        )
        if name == "plan":
            command.add_argument(
                "--output",
                "-o",
                choices=("text", "json", "markdown"),
                default="text",
                help="text (terraform-style), json, or markdown for PR comments (default: text)",
            )
            command.add_argument(
                "--live-from",
                metavar="REV",
                help="plan against the config at REV as if applied (e.g. the PR's base) instead "
                "of the live targets; contacts no target",
            )
            command.add_argument(
                "--detailed-exitcode",
                action="store_true",
                help="exit 0 when there are no changes, 2 when there are, 1 on error",
            )
            command.set_defaults(run=_run_plan)
        else:
            command.add_argument(
                "--auto-approve",
                action="store_true",
                help="apply without asking (required when stdin is not a terminal)",
            )
            command.add_argument(
                "--dry-run",
                action="store_true",
                help="show what would be applied, and change nothing",
            )
            command.set_defaults(run=_run_apply)

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate SLO, cost and canary policies against Prometheus",
        description="Evaluate the policies that select an environment, at a given time, and "
        "print each pass / fail / inconclusive result with its evidence. Exit 0 when nothing "
        "failed, 2 when a policy failed, 1 on an error.",
    )
    evaluate.add_argument(
        "path", nargs="?", default=".", type=Path, help="the config repository root (default: .)"
    )
    evaluate.add_argument("--env", required=True, metavar="ENV", help="the environment")
    evaluate.add_argument("--rev", metavar="REV", help="read the config at this git revision")
    evaluate.add_argument(
        "--policy", action="append", metavar="NAME", help="only this policy (repeatable)"
    )
    evaluate.add_argument(
        "--at", metavar="TIME", help="evaluation time: ISO 8601 or Unix seconds (default: now)"
    )
    evaluate.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus URL (default: the Environment's prometheus.url)",
    )
    evaluate.add_argument("--output", "-o", choices=("text", "json"), default="text")
    evaluate.set_defaults(run=_run_evaluate)

    gateway = commands.add_parser(
        "gateway", help="the embedded LLM gateway", description="The embedded LLM gateway."
    )
    gateway_commands = gateway.add_subparsers(
        dest="gateway_command", metavar="COMMAND", required=True
    )
    serve = gateway_commands.add_parser(
        "serve",
        help="run the gateway (OpenAI-compatible proxy, admin API, /metrics)",
        description="Run the gateway: /v1/chat/completions and /v1/models for clients, "
        "/admin/v1 for controlplane (bearer token), /metrics for Prometheus.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4000, help="port (default: 4000)")
    serve.add_argument(
        "--token-env",
        default="CONTROLPLANE_GATEWAY_TOKEN",
        metavar="VAR",
        help="environment variable holding the admin token (default: CONTROLPLANE_GATEWAY_TOKEN)",
    )
    serve.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the live config in this file across restarts (default: memory only)",
    )
    serve.set_defaults(run=_run_gateway)

    serve_cmd = commands.add_parser(
        "serve",
        help="run the reconciler service: API, webhook, polling, history",
        description="Keep every environment's live targets equal to the branch head: apply on "
        "a signed push webhook, on polling and on manual sync; record history; report drift. "
        "Settings: flags over CONTROLPLANE_* variables over --config FILE (YAML).",
    )
    serve_cmd.add_argument("--repo", help="config repository URL or path (required somewhere)")
    serve_cmd.add_argument("--branch", help="branch to apply (default: main)")
    serve_cmd.add_argument(
        "--env",
        action="append",
        dest="environments",
        metavar="ENV",
        help="environment to reconcile (repeatable; default: all)",
    )
    serve_cmd.add_argument(
        "--workdir", type=Path, help="mirror, history and generated keys (default: .controlplane)"
    )
    serve_cmd.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in workdir)")
    serve_cmd.add_argument("--poll-interval", type=float, help="seconds between polls (60)")
    serve_cmd.add_argument("--host", help="address (default: 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port (default: 8080)")
    serve_cmd.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")
    serve_cmd.set_defaults(run=_run_serve)

    rollback = commands.add_parser(
        "rollback",
        help="open a rollback PR for a failing policy now (what serve does on its own)",
        description="Evaluate POLICY in ENV now; if a check fails, blame the applied commit "
        "from serve's history, revert (or patch) it on a rollback/ branch, and open a pull "
        "request with the evidence and the plan. Uses serve's settings and work folder. Exit 0 "
        "when a PR was opened or written (or nothing fails), 1 when none could be made.",
    )
    rollback.add_argument("--env", required=True, help="environment")
    rollback.add_argument("--policy", required=True, help="SLOPolicy, CostPolicy or CanaryAnalysis")
    rollback.add_argument(
        "--dry-run",
        action="store_true",
        help="build and validate the rollback, print the PR and write it to "
        "WORKDIR/rollbacks/; push nothing, open nothing",
    )
    rollback.add_argument("--commit", help="blame this commit instead of attributing")
    rollback.add_argument("--at", help="evaluate at this time (ISO 8601 or Unix seconds)")
    rollback.add_argument("--repo", help="config repository URL or path")
    rollback.add_argument("--branch", help="branch applied (default: main)")
    rollback.add_argument(
        "--workdir", type=Path, help="serve's work folder: mirror and history (.controlplane)"
    )
    rollback.add_argument("--database-url", help="SQLAlchemy URL of serve's history")
    rollback.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")
    rollback.set_defaults(run=_run_rollback)

    demo = commands.add_parser(
        "demo",
        help="run the whole loop locally: reconcile, SLO breach, rollback PR, merge, restore",
        description="From an empty temporary folder: a bare git repo seeded with the shipped "
        "config, SIMULATED model servers (the canary slow on purpose), the gateway, "
        "Prometheus, the forge STAND-IN and `controlplane serve`, all on 127.0.0.1. A canary "
        "commit is applied, traffic breaks the latency policy, a rollback PR is opened, merged "
        "and applied. Everything stops at the end or on Ctrl-C. Needs Prometheus installed.",
    )
    demo.add_argument("--requests", type=int, default=900, help="most requests sent (default: 900)")
    demo.add_argument("--rate", type=float, default=25, help="requests per second (default: 25)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary folder")
    demo.set_defaults(run=_run_demo)

    standin = commands.add_parser(
        "forge-standin",
        help="STAND-IN for a GitHub repository's pull requests, over a local bare repo",
        description="Not a forge: serves the GitHub REST pulls subset that rollback uses "
        "(pulls, labels, reviewers, comments, merge) over a local bare repository, for tests "
        "and the demo. A merge sends a signed push webhook when --webhook-url is set.",
    )
    standin.add_argument("--repo", required=True, type=Path, help="the bare repository")
    standin.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    standin.add_argument("--port", type=int, default=8102, help="port (default: 8102)")
    standin.add_argument(
        "--token", default="env:FORGE_TOKEN", metavar="REF", help="token clients must send"
    )
    standin.add_argument("--repository", default="local/config", help="owner/name it answers for")
    standin.add_argument("--webhook-url", help="push webhook sent after a merge")
    standin.add_argument("--webhook-secret", metavar="REF", help="HMAC secret for the webhook")
    standin.set_defaults(run=_run_forge_standin)

    status = commands.add_parser(
        "status",
        help="show each environment's sync status from a running service",
        description="Read /api/v1/environments from `controlplane serve`.",
    )
    status.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="service URL (default: http://127.0.0.1:8080)",
    )
    status.add_argument(
        "--token",
        default="env:CONTROLPLANE_API_TOKEN",
        metavar="REF",
        help="API token reference, env:VAR or file:PATH (default: env:CONTROLPLANE_API_TOKEN)",
    )
    status.add_argument("--output", "-o", choices=("text", "json"), default="text")
    status.set_defaults(run=_run_status)

    sim = commands.add_parser(
        "upstream-sim",
        help="SIMULATOR of a GPU model server (OpenAI-compatible) for tests and demos",
        description="A simulator of a GPU model server, not a model: an OpenAI-compatible "
        "server with set time to first token, time per token, token count and error rate.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8101, help="port (default: 8101)")
    sim.add_argument("--ttft", type=float, default=0.05, help="seconds to the first token")
    sim.add_argument("--tpot", type=float, default=0.01, help="seconds per further token")
    sim.add_argument("--tokens", type=int, default=16, help="output tokens per answer")
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of requests that 500")
    sim.add_argument("--seed", type=int, help="seed for the error draw (default: random)")
    sim.set_defaults(run=_run_simulator)
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


def _desired(args: argparse.Namespace) -> DesiredState | None:
    """The validated desired state of --env, or None after printing why there is none."""
    loaded = load_config(args.path, rev=args.rev)
    if args.env not in loaded.environments:
        known = ", ".join(loaded.environments) or "none"
        raise ConfigError(f"no environment {args.env!r} under {args.path} (found: {known})")
    result = validate_config(loaded, [args.env])
    if not result.ok:
        sys.stderr.write(render_text(result, [args.env], color=_color(sys.stderr)))
        return None
    return result.states[args.env]


def _plans(args: argparse.Namespace, desired: DesiredState) -> list[Plan]:
    """Against each live target; with --live-from, against that revision as if applied (no
    target is contacted: what a CI job without access to the gateways can show)."""
    if args.live_from is None:
        return [
            compute_plan(desired, t.read(), t.capabilities.kinds)
            for t in drivers_for(desired.environment)
        ]
    loaded = load_config(args.path, rev=args.live_from)
    if args.env not in loaded.environments:
        return [compute_plan(desired, LiveState(resources=()))]  # a new environment
    base = validate_config(loaded, [args.env])
    if not base.ok:
        raise ConfigError(f"--live-from {args.live_from}: environment {args.env} is invalid there")
    empty = LiveState(resources=())
    applied = simulate(compute_plan(base.states[args.env], empty), empty)
    return [compute_plan(desired, applied)]


def _run_plan(args: argparse.Namespace) -> int:
    try:
        desired = _desired(args)
        if desired is None:
            return EXIT_INVALID
        changes = False
        for plan in _plans(args, desired):
            changes = changes or not plan.empty
            if args.output == "json":
                sys.stdout.write(render_plan_json(plan))
            elif args.output == "markdown":
                sys.stdout.write(render_plan_markdown(plan))
            else:
                sys.stdout.write(render_plan_text(plan, color=_color(sys.stdout)))
    except (ConfigError, TargetError) as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return 2 if args.detailed_exitcode and changes else EXIT_OK


def _run_apply(args: argparse.Namespace) -> int:
    try:
        desired = _desired(args)
        if desired is None:
            return EXIT_INVALID
        ok = True
        for target in drivers_for(desired.environment):
            plan = compute_plan(desired, target.read(), target.capabilities.kinds)
            sys.stdout.write(render_plan_text(plan, color=_color(sys.stdout)))
            if plan.empty:
                continue
            if args.dry_run:
                sys.stdout.write(render_apply(dry_run(plan, target.name)))
                continue
            if not args.auto_approve and not _confirm(target.name):
                print("Apply cancelled.")
                return EXIT_INVALID
            if target.read().version != plan.live_version:
                print(
                    f"controlplane: error: the live state of {target.name!r} changed since "
                    "the plan was made; nothing was applied. Run apply again.",
                    file=sys.stderr,
                )
                return EXIT_INVALID
            result = apply_plan(plan, target)
            sys.stdout.write(render_apply(result))
            ok = ok and result.ok
    except (ConfigError, TargetError) as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK if ok else EXIT_INVALID


def _confirm(target: str) -> bool:
    if not sys.stdin.isatty():
        raise ConfigError("stdin is not a terminal: pass --auto-approve to apply without asking")
    answer = input(f"Apply these changes to {target}? Only 'yes' is accepted: ")
    return answer.strip() == "yes"


def _run_gateway(args: argparse.Namespace) -> int:
    from controlplane.gateway.app import serve  # the server stack loads only for this command

    token = os.environ.get(args.token_env)
    if not token:
        raise ConfigError(
            f"set {args.token_env} to the admin token: the gateway's admin API needs one"
        )
    serve(args.host, args.port, token, args.state)
    return EXIT_OK


def _run_simulator(args: argparse.Namespace) -> int:
    from controlplane.upstream_sim import SimulatorSettings, serve_simulator

    settings = SimulatorSettings(
        ttft=args.ttft,
        tpot=args.tpot,
        tokens=args.tokens,
        error_rate=args.error_rate,
        seed=args.seed,
    )
    print(f"upstream SIMULATOR (not a model) on http://{args.host}:{args.port}/v1", flush=True)
    serve_simulator(args.host, args.port, settings)
    return EXIT_OK


def _parse_time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--at {text!r}: expected ISO 8601 or Unix seconds") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _run_evaluate(args: argparse.Namespace) -> int:
    from controlplane.policy import DIALECTS, Outcome, evaluate_state
    from controlplane.prometheus import BatchingSource, connect
    from controlplane.report import render_evaluations

    try:
        at = _parse_time(args.at)
        desired = _desired(args)
        if desired is None:
            return EXIT_INVALID
        config = desired.environment.spec.prometheus
        url = args.prometheus or (config.url if config else None)
        if url is None:
            raise ConfigError(f"environment {args.env!r} has no prometheus.url; pass --prometheus")
        label = DIALECTS[config.dialect if config else "gateway"].route_label
        source = BatchingSource(connect(url, config.bearer_token if config else None), label)
        results = evaluate_state(desired, source, at, args.policy)
    except ConfigError as exc:
        print(f"controlplane: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.output == "json":
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        sys.stdout.write(render_evaluations(results, color=_color(sys.stdout)))
    return 2 if any(r.outcome is Outcome.FAIL for r in results) else EXIT_OK


def _run_serve(args: argparse.Namespace) -> int:
    from controlplane.service.server import serve
    from controlplane.service.settings import load_settings

    keys = (
        "repo",
        "branch",
        "environments",
        "workdir",
        "database_url",
        "poll_interval",
        "host",
        "port",
    )
    settings = load_settings(args.config, {k: getattr(args, k) for k in keys})
    serve(settings)
    return EXIT_OK


def _run_rollback(args: argparse.Namespace) -> int:
    from controlplane.report import render_evaluations
    from controlplane.rollback.manual import rollback_by_hand
    from controlplane.rollback.proposal import render_file
    from controlplane.rollback.rollbacker import Decision
    from controlplane.service.settings import load_settings

    keys = ("repo", "branch", "workdir", "database_url")
    settings = load_settings(args.config, {k: getattr(args, k) for k in keys})
    done = rollback_by_hand(
        settings, args.env, args.policy, _parse_time(args.at), args.dry_run, args.commit
    )
    sys.stdout.write(render_evaluations(done.evaluations, color=_color(sys.stdout)))
    if done.result is None:
        print(f"nothing fails in {args.env} as of live commit {done.live_commit[:12]}: no rollback")
        return EXIT_OK
    result = done.result
    if result.decision is Decision.DRY_RUN and result.proposal is not None:
        print("\n--- dry run: the pull request that would be opened ---\n")
        sys.stdout.write(render_file(result.proposal))
    print(f"rollback: {result.decision.value}: {result.message}")
    failed = result.decision in (Decision.FAILED, Decision.NO_ATTRIBUTION)
    return EXIT_INVALID if failed else EXIT_OK


def _run_demo(args: argparse.Namespace) -> int:
    from controlplane.demo.run import run_demo

    if args.requests < 1 or args.rate <= 0:
        raise ConfigError("--requests must be at least 1 and --rate above 0")
    return run_demo(args.requests, args.rate, args.keep)


def _run_forge_standin(args: argparse.Namespace) -> int:
    from controlplane.http_server import serve_http
    from controlplane.standins.forge import ForgeStandIn, create_forge_app

    forge = ForgeStandIn(
        args.repo,
        resolve_secret(args.token),
        args.repository,
        args.webhook_url,
        resolve_secret(args.webhook_secret) if args.webhook_secret else None,
        f"http://{args.host}:{args.port}",
    )
    print(
        f"forge STAND-IN (GitHub pulls subset, not a forge) on http://{args.host}:{args.port}",
        flush=True,
    )
    serve_http(create_forge_app(forge), args.host, args.port)
    return EXIT_OK


def _run_status(args: argparse.Namespace) -> int:
    import httpx

    try:
        response = httpx.get(
            f"{args.url.rstrip('/')}/api/v1/environments",
            timeout=10,
            headers={"Authorization": f"Bearer {resolve_secret(args.token)}"},
        )
    except httpx.HTTPError as exc:
        print(
            f"controlplane: error: cannot reach {args.url}: {type(exc).__name__}", file=sys.stderr
        )
        return EXIT_INVALID
    if response.status_code != 200:
        print(
            f"controlplane: error: {args.url} answered {response.status_code}: "
            f"{response.text[:200]}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    body = response.json()
    if args.output == "json":
        print(json.dumps(body, indent=2))
        return EXIT_OK
    for env in body["environments"]:
        live = (env.get("liveCommit") or "-")[:12]
        head = (env.get("headCommit") or "-")[:12]
        print(
            f"{env['name']:<12} {env['sync']:<12} live {live:<12} head {head:<12} "
            f"{env.get('message', '').splitlines()[0] if env.get('message') else ''}"
        )
    return EXIT_OK


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _color(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ
