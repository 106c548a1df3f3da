"""Response-cache latencies (L1 hit, L2 hit, miss) and lz4 size ratios on real local-model answers.

    aitext bench cache [--iterations N] [--redis-url URL] [--json]
    aitext bench cache ...

Without --redis-url it starts a throwaway redis-server on a free loopback port.
A "miss" is the cache's own cost around compute(): L1 and L2 lookups, encoding,
SET and the L1 insert; compute() itself returns a ready answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

import lz4.frame

from aitext.cache import CacheOutcome, ResponseCache
from aitext.cache.envelope import EntryMac, Envelope, encode
from aitext.config import Settings
from aitext.operations import BY_NAME, OPERATIONS
from aitext.processing.processor import build_processor
from aitext.v1 import aitext_pb2 as pb

# One operation's row of the report (also its JSON form).
Row: TypeAlias = dict[str, Any]

SENTENCES = (
    "The city council approved a revised transit budget after a four-hour session on Tuesday night.",
    "Three new bus lines will connect the eastern suburbs with the hospital district and the university.",
    "Evening service on the two busiest routes will run every ten minutes instead of every twenty.",
    "Critics argued that the fare increase would hurt commuters who already spend a large share of their income on travel.",
    "Supporters pointed to ridership figures that have grown every year since 2019, even during the pandemic.",
    "The finance committee estimated the annual operating cost at 14.2 million dollars, funded partly by a state grant.",
    "A pilot programme will test battery-electric buses on the waterfront line before a wider rollout in 2027.",
    "Residents of the northern neighbourhoods said the plan still leaves them without a direct link to the centre.",
    "The mayor called the vote a turning point and promised quarterly reports on punctuality and crowding.",
    "Union representatives welcomed the hiring of sixty drivers but warned that training capacity is limited.",
    "An independent audit last spring found that a third of delays were caused by double-parked delivery vans.",
    "The council will revisit the parking enforcement budget in September, when the audit's follow-up is due.",
)
QUESTION = "How much will the new transit plan cost each year?"
OPTIONS = {"max_length": 300, "max_points": 10, "num_questions": 10}


def article(chars: int) -> str:
    """Varied prose of about `chars` characters (sentences cycle, paragraph numbers differ)."""
    parts: list[str] = []
    size, i = 0, 0
    while size < chars:
        sentence = SENTENCES[(i * 7) % len(SENTENCES)]
        if i % len(SENTENCES) == 0:
            sentence = f"Part {i // len(SENTENCES) + 1}. {sentence}"
        parts.append(sentence)
        size += len(sentence) + 1
        i += 1
    return " ".join(parts)


async def real_answers(text: str) -> dict[str, pb.ProcessResponse]:
    """The local model's answer to every operation, as the pipeline would cache it."""
    settings = Settings(model="local")
    processor = build_processor(settings)
    answers = {}
    for op in OPERATIONS:
        options = op.effective_options(OPTIONS)
        result = await processor.run(op.name, text, options, QUESTION if op.requires_question else "")
        response = pb.ProcessResponse(
            operation=op.enum, model=processor.model_name, prompt_version=processor.prompt_version
        )
        result.fill(response)
        answers[op.name] = response
    return answers


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    samples = sorted(samples_ns)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples) / 1000, p99 / 1000


async def _time(iterations: int, call: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    samples: list[int] = []
    for i in range(iterations):
        started = time.perf_counter_ns()
        await call(i)
        samples.append(time.perf_counter_ns() - started)
    return _percentiles(samples)


async def measure(settings: Settings, answers: dict[str, pb.ProcessResponse], iterations: int) -> list[Row]:
    from redis.asyncio import Redis

    assert settings.redis_url is not None
    redis_url = settings.redis_url
    control = pb.CacheControl()
    rows: list[Row] = []
    for name, answer in answers.items():

        async def compute(answer: pb.ProcessResponse = answer) -> pb.ProcessResponse:
            return answer

        options = BY_NAME[name].effective_options(OPTIONS)

        async def run(cache: ResponseCache, key: str, options: dict[str, int] = options) -> CacheOutcome:
            return await cache.get_or_compute(
                key, operation=name, text_len=1000, control=control, compute=compute, tenant="bench", options=options
            )

        memory = ResponseCache(settings, redis=Redis.from_url(redis_url), owns_redis=True)
        no_l1 = ResponseCache(
            settings.model_copy(update={"cache_memory_tiers": []}),
            redis=Redis.from_url(redis_url),
            owns_redis=True,
        )
        await memory.start()
        await no_l1.start()
        try:
            hot = f"bench:v1:{name}:hot"
            await run(memory, hot)
            l1 = await _time(iterations, lambda _: run(memory, hot))
            await run(no_l1, hot)
            l2 = await _time(iterations, lambda _: run(no_l1, hot))
            miss = await _time(iterations, lambda i: run(memory, f"bench:v1:{name}:miss{i}"))
            assert (await run(memory, hot)).tier == "memory" and (await run(no_l1, hot)).tier == "redis"
            await memory.invalidate_all()
        finally:
            await memory.close()
            await no_l1.close()

        payload = answer.SerializeToString()
        stored, codec = encode(
            Envelope(payload, time.time(), 3600, 1000, answer.model),
            key=f"bench:v1:{name}:hot",
            mac=EntryMac("bench-secret-0123456789"),
            compress_min_bytes=settings.cache_compress_min_bytes,
        )
        rows.append(
            {
                "operation": name,
                "payload_bytes": len(payload),
                "stored_bytes": len(stored),
                "lz4_used": bool(codec),
                "lz4_ratio": len(lz4.frame.compress(payload, store_size=True)) / len(payload),
                "l1_hit_us": l1,
                "l2_hit_us": l2,
                "miss_us": miss,
            }
        )
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _ThrowawayRedis:
    def __enter__(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found: install it or pass --redis-url")
        self.dir = tempfile.TemporaryDirectory()
        port = _free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir.name,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return f"redis://127.0.0.1:{port}/0"
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    redis = next((w[2:] for w in redis_version if w.startswith("v=")), "?")
    return f"{cpu}, Python {platform.python_version()}, Redis {redis} on loopback, {platform.system()} {platform.release()}"


def render(rows: list[Row], text_chars: int, iterations: int) -> str:
    lines = [
        f"response cache, {iterations} iterations per cell, answers of the local model on a {text_chars:,}-char article",
        "",
        "| operation | answer bytes | stored bytes | lz4 ratio | L1 hit µs p50 / p99 | L2 hit µs p50 / p99 | miss µs p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            "| {operation} | {payload_bytes:,} | {stored_bytes:,}{star} | {lz4_ratio:.2f} | {l1[0]:.1f} / {l1[1]:.1f} "
            "| {l2[0]:.1f} / {l2[1]:.1f} | {m[0]:.1f} / {m[1]:.1f} |".format(
                **r, star=" (lz4)" if r["lz4_used"] else "", l1=r["l1_hit_us"], l2=r["l2_hit_us"], m=r["miss_us"]
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aitext bench cache", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="timed calls per cell (default 2000)")
    parser.add_argument("--text-chars", type=int, default=20_000, help="size of the article the answers are about")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one (its bench:* keys are deleted)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    answers = asyncio.run(real_answers(article(args.text_chars)))

    def run(url: str) -> list[Row]:
        # A secret, as a deployment with Redis has one: the MAC is part of every L2 read and write.
        settings = Settings(
            redis_url=url, cache_namespace="bench", metrics_port=0, cache_secret="bench-secret-0123456789"
        )
        return asyncio.run(measure(settings, answers, args.iterations))

    if args.redis_url:
        rows = run(args.redis_url)
    else:
        with _ThrowawayRedis() as url:
            rows = run(url)
    if args.json:
        print(json.dumps({"machine": machine(), "iterations": args.iterations, "rows": rows}, indent=2))
    else:
        print(render(rows, args.text_chars, args.iterations))
        print(f"\nmachine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
