"""`aitext bench keys [--json | --markdown] [--quick]`: cache-key generation, every scheme in one run.

For texts of 100 B to 10 MB: the write-up's original scheme (JSON + MD5), its proposed
scheme (SHA-256 + word count, MD5[:8] parts, short texts inline), the Python reference
(aitext.cache.keys), the Rust extension (aitext._native) and raw BLAKE3 over the
already-encoded text with the extension's thread rule (the limit a key can approach).
Then two threads against one just below the multithreading threshold (the GIL is
released while hashing), and make_keys on 1,000 x 10 KB against Python loops.

Times are medians of interleaved rounds: the schemes take turns, so a noisy neighbour
slows them all alike rather than whichever happened to be running; ratios are medians of
the per-round ratios.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from aitext import _native
from aitext.bench.original_schemes import original_key, proposed_key
from aitext.bench.report import add_output_arguments, describe, human_size, print_as_asked
from aitext.cache import keys as reference

SIZES = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000]
SCHEMES = ["original", "proposed", "python", "rust", "raw_blake3"]
LABELS = {
    "original": "original (JSON+MD5)",
    "proposed": "proposed (SHA-256+words)",
    "python": "Python reference",
    "rust": "Rust extension",
    "raw_blake3": "raw BLAKE3",
}
OPERATION = "summarize"
OPTIONS = {"max_length": 100}
QUESTION = None
MODEL = "openai:gpt-4o-mini"
PROMPT_VERSION = "1"

TARGETS = {
    "rust_1mb_vs_original": 30.0,
    "rust_vs_raw_max_overhead": 0.15,
    "rust_100b_vs_original": 5.0,
    "rust_100b_vs_python": 3.0,
    "two_threads_speedup": 1.6,
}


def english_text(size: int, seed: int = 0) -> str:
    """ASCII prose of exactly `size` bytes (so bytes == characters); `seed` varies it."""
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "seven",
        "wizards",
        "quietly",
        "judge",
        "boxing",
        "matches",
        "near",
        "the",
        "old",
        "harbour",
        "every",
        "summer",
        "evening",
    ]
    out: list[str] = []
    length = 0
    i = seed
    while length < size:
        word = words[(i * 7 + seed) % len(words)] + (f"{i}. " if i % 11 == 0 else " ")
        out.append(word)
        length += len(word)
        i += 1
    return "".join(out)[:size]


def time_per_call(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calls_for(fn: Callable[[], object], budget: float) -> int:
    """How many calls fill about `budget` seconds (at least one)."""
    fn()
    once = time_per_call(fn, 1)
    if once * 10 < budget:
        once = time_per_call(fn, max(1, int(budget / once / 10)))
    return max(1, int(budget / max(once, 1e-9)))


def warm_thread_pool(seconds: float = 0.3) -> None:
    """Keeps rayon's pool busy for a moment before anything is timed: the first code in a process
    to hash on several threads ran at half speed for its first ~50 ms (1 MB keys: 174 against
    89 µs), which put the first multithreaded size, 1 MB, at +60% over raw BLAKE3."""
    block = bytes(4 << 20)
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        _native._raw_blake3(block)


def bench_sizes(rounds: int, budget: float, sizes: list[int]) -> list[dict[str, Any]]:
    warm_thread_pool()
    results = []
    for size in sizes:
        text = english_text(size)
        encoded = text.encode()
        calls: dict[str, Callable[[], object]] = {
            "original": lambda: original_key(text, OPERATION, OPTIONS, QUESTION),
            "proposed": lambda: proposed_key(text, OPERATION, OPTIONS, QUESTION),
            "python": lambda: reference.make_key(text, OPERATION, OPTIONS, QUESTION, MODEL, PROMPT_VERSION),
            "rust": lambda: _native.make_key(text, OPERATION, OPTIONS, QUESTION, MODEL, PROMPT_VERSION),
            "raw_blake3": lambda: _native._raw_blake3(encoded),
        }
        numbers = {name: calls_for(fn, budget) for name, fn in calls.items()}
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, fn in calls.items():
                samples[name].append(time_per_call(fn, numbers[name]))
        medians = {name: statistics.median(values) for name, values in samples.items()}

        def paired(other: str) -> float:
            # Median of per-round ratios: both sides of each ratio ran back to back.
            return statistics.median(o / r for o, r in zip(samples[other], samples["rust"], strict=True))

        results.append(
            {
                "bytes": size,
                "us_per_key": {name: medians[name] * 1e6 for name in SCHEMES},
                "gb_per_s": {name: size / medians[name] / 1e9 for name in SCHEMES},
                "rust_speedup": {
                    "vs_original": paired("original"),
                    "vs_proposed": paired("proposed"),
                    "vs_python": paired("python"),
                },
                "rust_over_raw": 1 / paired("raw_blake3") - 1,
                "calls_per_round": numbers,
            }
        )
    return results


def throughput(make: Callable[[], object], threads: int, per_thread: int) -> float:
    """Keys per second when `threads` threads each make `per_thread` keys at once."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            make()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start = time.perf_counter()
    barrier.wait()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - start)


def bench_concurrency(rounds: int, budget: float) -> dict[str, Any]:
    size = _native.MULTITHREAD_MIN_BYTES - 1024
    text = english_text(size, seed=3)
    out: dict[str, Any] = {"bytes": size}
    for name, fn in (
        ("rust", lambda: _native.make_key(text, OPERATION, OPTIONS, QUESTION, MODEL, PROMPT_VERSION)),
        ("python", lambda: reference.make_key(text, OPERATION, OPTIONS, QUESTION, MODEL, PROMPT_VERSION)),
    ):
        per_thread = calls_for(fn, budget)
        one, two = [], []
        for _ in range(rounds):
            one.append(throughput(fn, 1, per_thread))
            two.append(throughput(fn, 2, per_thread))
        out[name] = {
            "one_thread_keys_per_s": statistics.median(one),
            "two_threads_keys_per_s": statistics.median(two),
            "speedup": statistics.median(t / o for t, o in zip(two, one, strict=True)),
        }
    return out


def bench_batch(rounds: int) -> dict[str, Any]:
    requests = [
        (english_text(10_000, seed=i), OPERATION, OPTIONS, QUESTION, MODEL, PROMPT_VERSION) for i in range(1000)
    ]
    calls: dict[str, Callable[[], object]] = {
        "rust_make_keys": lambda: _native.make_keys(requests),
        "rust_loop": lambda: [_native.make_key(*r) for r in requests],
        "python_make_keys": lambda: reference.make_keys(requests),
    }
    assert _native.make_keys(requests) == reference.make_keys(requests)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            samples[name].append(time_per_call(fn, 1))
    ms = {name: statistics.median(values) * 1e3 for name, values in samples.items()}

    def paired(other: str) -> float:
        return statistics.median(o / r for o, r in zip(samples[other], samples["rust_make_keys"], strict=True))

    return {
        "requests": len(requests),
        "bytes_each": 10_000,
        "ms": ms,
        "make_keys_vs_rust_loop": paired("rust_loop"),
        "make_keys_vs_python_loop": paired("python_make_keys"),
    }


def machine() -> dict[str, Any]:
    return {
        **describe(),
        "multithread_min_bytes": _native.MULTITHREAD_MIN_BYTES,
        "detach_min_bytes": _native.DETACH_MIN_BYTES,
    }


def targets(sizes: list[dict[str, Any]], concurrency: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_size = {row["bytes"]: row for row in sizes}
    checks: dict[str, tuple[float, str, float]] = {}
    if 1_000_000 in by_size:
        checks["rust_1mb_vs_original"] = (
            by_size[1_000_000]["rust_speedup"]["vs_original"],
            ">=",
            TARGETS["rust_1mb_vs_original"],
        )
    large = [row["rust_over_raw"] for row in sizes if row["bytes"] >= 100_000]
    if large:
        checks["rust_vs_raw_max_overhead"] = (max(large), "<=", TARGETS["rust_vs_raw_max_overhead"])
    if 100 in by_size:
        checks["rust_100b_vs_original"] = (
            by_size[100]["rust_speedup"]["vs_original"],
            ">=",
            TARGETS["rust_100b_vs_original"],
        )
        checks["rust_100b_vs_python"] = (
            by_size[100]["rust_speedup"]["vs_python"],
            ">=",
            TARGETS["rust_100b_vs_python"],
        )
    checks["two_threads_speedup"] = (concurrency["rust"]["speedup"], ">=", TARGETS["two_threads_speedup"])
    return {
        name: {"value": value, "target": f"{op} {target}", "met": value >= target if op == ">=" else value <= target}
        for name, (value, op, target) in checks.items()
    }


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['cpu']}; Python {m['python']}; {m['rustc']}; "
        f"load average {', '.join(f'{x:.2f}' for x in m['load_average'])}"
    )
    print(
        f"thresholds: GIL released from {m['detach_min_bytes']} B, "
        f"multithreaded BLAKE3 from {m['multithread_min_bytes']} B; "
        f"median of {report['rounds']} interleaved rounds\n"
    )
    print("µs per key (GB/s)")
    header = f"{'text':>7} | " + " | ".join(f"{LABELS[s]:>24}" for s in SCHEMES)
    print(header)
    print("-" * len(header))
    for row in report["sizes"]:
        cells = [f"{row['us_per_key'][s]:>12.2f} ({row['gb_per_s'][s]:>7.3f})" for s in SCHEMES]
        print(f"{human_size(row['bytes']):>7} | " + " | ".join(f"{c:>24}" for c in cells))
    print("\nRust extension: speedup over the other schemes, and time over raw BLAKE3")
    print(f"{'text':>7} | {'vs original':>11} | {'vs proposed':>11} | {'vs Python ref':>13} | {'over raw':>8}")
    for row in report["sizes"]:
        r = row["rust_speedup"]
        print(
            f"{human_size(row['bytes']):>7} | {r['vs_original']:>10.1f}x | {r['vs_proposed']:>10.1f}x | "
            f"{r['vs_python']:>12.1f}x | {row['rust_over_raw']:>+7.1%}"
        )
    c = report["concurrency"]
    print(f"\nconcurrency, {c['bytes']} B texts (just below the multithreading threshold):")
    for name in ("rust", "python"):
        d = c[name]
        print(
            f"  {name:>6}: 1 thread {d['one_thread_keys_per_s']:>9.0f} keys/s, "
            f"2 threads {d['two_threads_keys_per_s']:>9.0f} keys/s -> {d['speedup']:.2f}x"
        )
    b = report["batch"]
    print(
        f"\nbatch of {b['requests']} x {b['bytes_each']} B: make_keys {b['ms']['rust_make_keys']:.2f} ms, "
        f"Python loop over _native.make_key {b['ms']['rust_loop']:.2f} ms "
        f"({b['make_keys_vs_rust_loop']:.2f}x), Python reference make_keys {b['ms']['python_make_keys']:.2f} ms "
        f"({b['make_keys_vs_python_loop']:.2f}x)"
    )
    print("\ntargets:")
    for name, t in report["targets"].items():
        value = f"{t['value']:+.1%}" if name == "rust_vs_raw_max_overhead" else f"{t['value']:.2f}"
        print(f"  {'met ' if t['met'] else 'MISS'} {name}: {value} (target {t['target']})")


def print_markdown(report: dict[str, Any]) -> None:
    """The tables of docs/benchmarks.md ("Cache keys")."""
    print("| text | " + " | ".join(LABELS[s] for s in SCHEMES) + " |")
    print("|---:|" + "---:|" * len(SCHEMES))
    for row in report["sizes"]:
        cells = [f"{row['us_per_key'][s]:,.2f} ({row['gb_per_s'][s]:.2f})" for s in SCHEMES]
        print(f"| {human_size(row['bytes'])} | " + " | ".join(cells) + " |")
    print()
    print("| text | Rust vs original | Rust vs proposed | Rust vs Python reference | Rust over raw BLAKE3 |")
    print("|---:|---:|---:|---:|---:|")
    for row in report["sizes"]:
        r = row["rust_speedup"]
        print(
            f"| {human_size(row['bytes'])} | {r['vs_original']:.1f}x | {r['vs_proposed']:.1f}x | "
            f"{r['vs_python']:.1f}x | {row['rust_over_raw']:+.1%} |"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="aitext bench keys", description=__doc__.splitlines()[0])
    add_output_arguments(parser, quick="fewer, shorter rounds (a smoke run)")
    parser.add_argument(
        "--sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        default=SIZES,
        help="comma-separated text sizes in bytes (default: 100 B to 10 MB)",
    )
    args = parser.parse_args(argv)
    rounds, budget = (3, 0.01) if args.quick else (25, 0.02)
    sizes = bench_sizes(rounds, budget, args.sizes)
    concurrency = bench_concurrency(rounds, budget * 4)
    batch = bench_batch(rounds)
    report = {
        "machine": machine(),
        "rounds": rounds,
        "sizes": sizes,
        "concurrency": concurrency,
        "batch": batch,
        "targets": targets(sizes, concurrency),
    }
    print_as_asked(report, args, text=print_report, markdown=print_markdown)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
