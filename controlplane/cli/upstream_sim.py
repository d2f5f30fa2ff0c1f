"""`controlplane upstream-sim`: the SIMULATOR of a model server, for tests and the demo."""

from __future__ import annotations

import argparse
import os

from controlplane.cli import arguments

DESCRIPTION = (
    "A simulator of a GPU model server, not a model: an OpenAI-compatible server with set time "
    "to first token, time per token, token count and error rate."
)
PARENTS = (arguments.listen(8101),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ttft", type=float, default=0.05, help="seconds to the first token")
    parser.add_argument("--tpot", type=float, default=0.01, help="seconds per further token")
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per answer")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests that 500")
    parser.add_argument("--seed", type=int, help="seed for the error draw (default: random)")
    parser.add_argument(
        "--chunk-chars", type=int, default=0, help="stream the echo in pieces of N characters"
    )
    parser.add_argument(
        "--no-stream-usage", action="store_true", help="send no usage in streams (as llama.cpp)"
    )
    parser.add_argument(
        "--api-key-env", metavar="VAR", help="require the bearer token held in this variable"
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.9,
        help="mean token probability of answers asked with logprobs ('hard' prompts: a third)",
    )
    parser.add_argument(
        "--reply",
        metavar="TEXT",
        help="answer TEXT to every request instead of the echo (e.g. a judge's '{\"score\": 0.8}')",
    )


def run(args: argparse.Namespace) -> int:
    from controlplane.testing.upstream_sim import SimulatorSettings, serve_simulator

    settings = SimulatorSettings(
        ttft=args.ttft,
        tpot=args.tpot,
        tokens=args.tokens,
        error_rate=args.error_rate,
        seed=args.seed,
        chunk_chars=args.chunk_chars,
        stream_usage=not args.no_stream_usage,
        confidence=args.confidence,
        api_key=os.environ.get(args.api_key_env) if args.api_key_env else None,
        reply=args.reply,
    )
    print(f"upstream SIMULATOR (not a model) on http://{args.host}:{args.port}/v1", flush=True)
    serve_simulator(args.host, args.port, settings)
    return 0
