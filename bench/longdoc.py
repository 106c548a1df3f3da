"""`python bench/longdoc.py [--json | --markdown] [--quick]` (`make bench-longdoc`): what an edit of a long document costs.

A development benchmark: it runs from a checkout, since its provider is the test suite's.

A counting OpenAI-compatible provider on loopback (tests/fixtures/fake_provider.py) with a
32 KB context window and a fixed latency per call (default 50 ms, like a fast hosted model's
time to first token) serves a 1 MB document's summarize through the real pipeline, with
AITEXT_MODEL_MAX_INPUT_BYTES=32768 and the default AITEXT_MAP_CONCURRENCY=4:

1. cold: nothing cached;
2. one paragraph in the middle edited;
3. a paragraph inserted at the very start;
4. the same request again: a whole-answer hit;
5. the whole answer invalidated (InvalidateCache of that request) but its chunk and reduce
   results still cached: no model call at all, only the lookups and the chunking.

Each round starts from an empty cache; model calls are counted by the provider, times are
wall times of Pipeline.process, medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aitext.bench.report import add_output_arguments, print_as_asked  # noqa: E402
from aitext.cache.response_cache import ResponseCache  # noqa: E402
from aitext.pipeline import Pipeline  # noqa: E402
from aitext.processing import prompts  # noqa: E402
from aitext.processing.processor import build_processor  # noqa: E402
from aitext.security.tenants import ANONYMOUS, Tenants  # noqa: E402
from aitext.v1 import aitext_pb2 as pb  # noqa: E402
from aitext.validation import validate_process  # noqa: E402

from tests.fixtures.documents import document, paragraphs  # noqa: E402
from tests.fixtures.fake_provider import start_fake_provider  # noqa: E402

WINDOW = 32 * 1024
STEPS = {
    "cold": "cold: nothing cached",
    "edit_middle": "one middle paragraph edited",
    "insert_start": "a paragraph inserted at the start",
    "whole_hit": "the same request again (whole-answer hit)",
    "chunks_only": "whole answer gone, chunk and reduce results cached",
}


def summaries_that_follow_the_text(tool: str, body: dict[str, Any]) -> dict[str, Any]:
    """A model whose summary changes whenever its input does (the fake's canned one never does)."""
    shown = prompts.parse_user_message(next(m["content"] for m in body["messages"] if m["role"] == "user"))[3]
    words = " ".join(shown.split()[:10])
    return {"summary": f"{words} ({hashlib.blake2b(shown.encode(), digest_size=4).hexdigest()})"}


def texts(size: int) -> dict[str, str]:
    text = document(size)
    parts = paragraphs(text)
    middle = len(parts) // 2
    edited = "\n\n".join([*parts[:middle], parts[middle].replace(" the ", " a ", 1), *parts[middle + 1 :]])
    inserted = "A new opening paragraph, written after the report was finished.\n\n" + edited
    return {"cold": text, "edit_middle": edited, "insert_start": inserted}


async def one_round(size: int, latency: float, concurrency: int) -> dict[str, dict[str, float]]:
    fake, stop = start_fake_provider()
    fake.max_prompt_bytes = WINDOW
    fake.latency_seconds = latency
    fake.responder = summaries_that_follow_the_text
    try:
        settings = fake.settings(model_max_input_bytes=WINDOW, map_concurrency=concurrency, provider_retries=0)
        cache = ResponseCache(settings)
        pipeline = Pipeline(settings, build_processor(settings), cache)
        by_step = texts(size)
        by_step["whole_hit"] = by_step["chunks_only"] = by_step["insert_start"]
        rows: dict[str, dict[str, float]] = {}
        for step, text in by_step.items():
            valid = validate_process(
                pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE),
                settings,
                tenant=Tenants(settings).get(ANONYMOUS),
            )
            if step == "chunks_only":
                await cache.invalidate_key(pipeline.key_for(valid))
            before = fake.attempts
            started = time.perf_counter()
            response = await pipeline.process(valid, 600.0)
            elapsed = time.perf_counter() - started
            chunks = response.chunks
            rows[step] = {
                "seconds": elapsed,
                "provider_calls": fake.attempts - before,
                "model_calls": chunks.model_calls,
                "reduce_calls": chunks.reduce_calls,
                "chunks": chunks.total,
                "cached_chunks": chunks.cached,
                "whole_hit": float(response.cache.hit),
            }
        return rows
    finally:
        stop()


def run(size: int, latency: float, concurrency: int, rounds: int) -> dict[str, Any]:
    measured = [asyncio.run(one_round(size, latency, concurrency)) for _ in range(rounds)]
    steps = {}
    for step in STEPS:
        values = [m[step] for m in measured]
        row = {name: statistics.median(v[name] for v in values) for name in values[0]}
        row["ms"] = row.pop("seconds") * 1000
        steps[step] = row
    return {
        "bytes": size,
        "window_bytes": WINDOW,
        "latency_ms": latency * 1000,
        "map_concurrency": concurrency,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "nproc": os.cpu_count(),
        "steps": steps,
    }


def print_report(report: dict[str, Any]) -> None:
    print(
        f"summarize of {report['bytes']:,} bytes; window {report['window_bytes']:,} B; {report['latency_ms']:.0f} ms "
        f"a call; map concurrency {report['map_concurrency']}; median of {report['rounds']} rounds; "
        f"{report['nproc']} CPUs at load {', '.join(f'{x:.2f}' for x in report['load_average'])}\n"
    )
    print(f"{'step':<52} | {'calls':>5} | {'reduce':>6} | {'chunks':>6} | {'cached':>6} | {'ms':>9}")
    for step, label in STEPS.items():
        r = report["steps"][step]
        print(
            f"{label:<52} | {r['provider_calls']:>5.0f} | {r['reduce_calls']:>6.0f} | {r['chunks']:>6.0f} | "
            f"{r['cached_chunks']:>6.0f} | {r['ms']:>9.1f}"
        )


def print_markdown(report: dict[str, Any]) -> None:
    """The table of docs/benchmarks.md ("Long documents")."""
    print("| step | model calls | of which reduce | chunks | chunks cached | wall time |")
    print("|---|---:|---:|---:|---:|---:|")
    for step, label in STEPS.items():
        r = report["steps"][step]
        print(
            f"| {label} | {r['provider_calls']:.0f} | {r['reduce_calls']:.0f} | {r['chunks']:.0f} | "
            f"{r['cached_chunks']:.0f} | {r['ms']:,.1f} ms |"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/longdoc.py", description=__doc__.splitlines()[0])
    add_output_arguments(parser, quick="one round (a smoke run)")
    parser.add_argument("--size", type=int, default=1_000_000, help="document size in bytes (default 1 MB)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the provider takes per call")
    parser.add_argument("--concurrency", type=int, default=4, help="AITEXT_MAP_CONCURRENCY")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    report = run(args.size, args.latency, args.concurrency, 1 if args.quick else args.rounds)
    print_as_asked(report, args, text=print_report, markdown=print_markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
