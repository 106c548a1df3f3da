"""`aitext serve | process | operations | bench`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aitext.operations import OPERATIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aitext", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC server (settings: AITEXT_* env vars)")
    serve.add_argument("--host", help="bind address (AITEXT_HOST)")
    serve.add_argument("--port", type=int, help="port, 0 for any free one (AITEXT_PORT)")
    serve.add_argument("--workers", type=int, help="processes sharing the port (AITEXT_WORKERS)")
    serve.add_argument("--max-message-bytes", type=int, help="largest gRPC message (AITEXT_MAX_MESSAGE_BYTES)")
    serve.add_argument("--ready-file", type=Path, help="write the bound port here once serving")

    process = commands.add_parser("process", help="call Process on a running server; text from stdin or --text")
    process.add_argument("--address", default="localhost:50051")
    process.add_argument("--operation", "-o", required=True, choices=[op.name for op in OPERATIONS])
    process.add_argument("--text", help="the text (default: read stdin)")
    asking = ", ".join(op.name for op in OPERATIONS if op.requires_question)
    process.add_argument("--question", default="", help=f"the question, for {asking}")
    seen: set[str] = set()  # an option name two operations share is one flag
    for op in OPERATIONS:
        for option in op.options:
            if option.name in seen:
                continue
            seen.add(option.name)
            process.add_argument(
                f"--{option.name.replace('_', '-')}",
                type=int,
                help=f"{op.name}: {option.description} ({option.min_value}..{option.max_value}, default {option.default})",
            )
    process.add_argument("--skip-cache", action="store_true", help="do not answer from the cache")
    process.add_argument("--api-key", help="API key (default: AITEXT_CLIENT_API_KEY)")
    process.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds")
    process.add_argument("--json", action="store_true", help="print the whole response as JSON")

    bench = commands.add_parser("bench", help="benchmarks (keys, cache, chunks, longdoc)")
    bench.add_argument("name", choices=("keys", "cache", "chunks", "longdoc"))
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark, e.g. --json")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "process":
        from aitext.client_cli import run_process

        return run_process(args)
    from aitext.bench_entry import run_bench

    return run_bench(args.name, args.rest)


def _serve(args: argparse.Namespace) -> int:
    from aitext.config import ConfigError, Settings
    from aitext.server import configure_logging, serve

    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("workers", args.workers),
            ("max_message_bytes", args.max_message_bytes),
        )
        if value is not None
    }
    configure_logging()
    try:
        serve(Settings(**overrides), ready_file=args.ready_file)
    except ConfigError as exc:
        print(f"aitext serve: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
