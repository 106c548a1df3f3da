"""`aitext bench chunks [--json | --markdown] [--quick]`: content-defined chunking plus digests, Rust against the Python reference.

For prose of 100 KB, 1 MB and 10 MB (paragraphs of sentences, ASCII, so bytes =
characters): `aitext._native.chunk_text` (Rust), `aitext.chunking.chunk_text` (the Python
reference) and, as the yardstick, raw BLAKE3 of the same bytes on one core (the `blake3`
package, one thread): chunking hashes every byte once with BLAKE3 and once with the gear
hash, so it cannot beat that.

Times are medians of interleaved rounds (the three take turns, so a noisy neighbour
slows them all alike); the ratios are medians of per-round ratios. Each is measured twice:
wall time, and the calling thread's CPU time (time.thread_time: all three run on the
calling thread, the extension with the GIL released), which is what one core does when
other processes share it. The best round is reported too: on a shared machine noise only
adds time, so the fastest round is the closest to what one quiet core does. Both
chunkers' outputs are compared before timing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import blake3 as blake3_py

from aitext import _native, chunking
from aitext.bench.report import add_output_arguments, describe, human_size, print_as_asked

SIZES = [100_000, 1_000_000, 10_000_000]
SCHEMES = ["python", "rust", "raw_blake3"]
LABELS = {
    "python": "Python reference",
    "rust": "Rust extension",
    "raw_blake3": "raw BLAKE3, 1 core",
}
TARGETS = {
    "rust_10mb_gb_per_s": 1.0,
    "rust_10mb_cpu_gb_per_s": 1.0,
    "rust_10mb_best_gb_per_s": 1.0,
    "rust_vs_python": 20.0,
}
WORDS = [
    "the",
    "quarterly",
    "report",
    "shows",
    "steady",
    "growth",
    "in",
    "most",
    "regions",
    "while",
    "costs",
    "fell",
    "and",
    "a",
    "few",
    "risks",
    "remain",
    "open",
    "for",
    "the",
    "board",
    "to",
    "review",
    "before",
    "next",
    "summer",
    "when",
    "markets",
    "close",
]


def prose(size: int, seed: int = 0) -> str:
    """ASCII prose of exactly `size` bytes: sentences of 5-25 words, paragraphs of 2-8 sentences."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    length = 0
    while length < size:
        sentences = (
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25))).capitalize() + "."
            for _ in range(rng.randint(2, 8))
        )
        paragraphs.append(" ".join(sentences))
        length += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)[:size]


def time_per_call(fn: Callable[[], object], number: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(number):
        fn()
    return (time.perf_counter() - wall) / number, (time.thread_time() - cpu) / number


def calls_for(fn: Callable[[], object], budget: float) -> int:
    """How many calls fill about `budget` seconds (at least one)."""
    once = time_per_call(fn, 1)[0]
    return max(1, int(budget / max(once, 1e-9)))


def bench_sizes(rounds: int, budget: float, sizes: list[int]) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        text = prose(size)
        encoded = text.encode()
        chunks = _native.chunk_text(text)
        assert chunking.chunk_text(text) == chunks, "the two chunkers disagree"
        calls: dict[str, Callable[[], object]] = {
            "python": lambda: chunking.chunk_text(text),
            "rust": lambda: _native.chunk_text(text),
            "raw_blake3": lambda: blake3_py.blake3(encoded).digest(),
        }
        numbers = {name: calls_for(fn, budget) for name, fn in calls.items()}
        samples: dict[str, list[float]] = {name: [] for name in calls}
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, fn in calls.items():
                wall, used = time_per_call(fn, numbers[name])
                samples[name].append(wall)
                cpu[name].append(used)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}

        def paired(other: str) -> float:
            # Median of per-round ratios: both sides of each ratio ran back to back.
            return statistics.median(o / r for o, r in zip(samples[other], samples["rust"], strict=True))

        results.append(
            {
                "bytes": size,
                "chunks": len(chunks),
                "mean_chunk_bytes": size / max(1, len(chunks)),
                "ms_per_call": {name: medians[name] * 1e3 for name in SCHEMES},
                "gb_per_s": {name: size / medians[name] / 1e9 for name in SCHEMES},
                "cpu_gb_per_s": {name: size / max(cpu_medians[name], 1e-9) / 1e9 for name in SCHEMES},
                "best_gb_per_s": {name: size / min(samples[name]) / 1e9 for name in SCHEMES},
                "rust_vs_python": paired("python"),
                "rust_over_raw": 1 / paired("raw_blake3"),
                "calls_per_round": numbers,
            }
        )
    return results


def machine() -> dict[str, Any]:
    return describe()


def targets(sizes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_size = {row["bytes"]: row for row in sizes}
    checks: dict[str, float] = {}
    if 10_000_000 in by_size:
        checks["rust_10mb_gb_per_s"] = by_size[10_000_000]["gb_per_s"]["rust"]
        checks["rust_10mb_cpu_gb_per_s"] = by_size[10_000_000]["cpu_gb_per_s"]["rust"]
        checks["rust_10mb_best_gb_per_s"] = by_size[10_000_000]["best_gb_per_s"]["rust"]
    if sizes:
        checks["rust_vs_python"] = min(row["rust_vs_python"] for row in sizes)
    return {
        name: {"value": value, "target": f">= {TARGETS[name]}", "met": value >= TARGETS[name]}
        for name, value in checks.items()
    }


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['cpu']}; Python {m['python']}; {m['rustc']}; "
        f"load average {', '.join(f'{x:.2f}' for x in m['load_average'])}"
    )
    print(f"default sizes (target 8 KiB, min 2 KiB, max 32 KiB); median of {report['rounds']} interleaved rounds\n")
    print("ms per text (GB/s)")
    header = f"{'text':>7} | {'chunks':>6} | " + " | ".join(f"{LABELS[s]:>20}" for s in SCHEMES)
    print(header)
    print("-" * len(header))
    for row in report["sizes"]:
        cells = [f"{row['ms_per_call'][s]:>10.2f} ({row['gb_per_s'][s]:>6.3f})" for s in SCHEMES]
        print(f"{human_size(row['bytes']):>7} | {row['chunks']:>6} | " + " | ".join(f"{c:>20}" for c in cells))
    print("\nGB/s of CPU time (the calling thread's) / in the best round")
    for row in report["sizes"]:
        cells = [f"{row['cpu_gb_per_s'][s]:>9.3f} / {row['best_gb_per_s'][s]:<8.3f}" for s in SCHEMES]
        print(f"{human_size(row['bytes']):>7} |        | " + " | ".join(f"{c:>20}" for c in cells))
    print("\nRust extension: speedup over the Python reference, and time over raw BLAKE3")
    for row in report["sizes"]:
        print(
            f"{human_size(row['bytes']):>7} | {row['rust_vs_python']:>7.1f}x | {row['rust_over_raw']:>5.2f}x "
            f"(mean chunk {row['mean_chunk_bytes']:,.0f} B)"
        )
    print("\ntargets:")
    for name, t in report["targets"].items():
        print(f"  {'met ' if t['met'] else 'MISS'} {name}: {t['value']:.2f} (target {t['target']})")


def print_markdown(report: dict[str, Any]) -> None:
    """The table of docs/benchmarks.md ("Chunking")."""
    print("| text | chunks | " + " | ".join(LABELS[s] for s in SCHEMES) + " | Rust vs Python | Rust over raw BLAKE3 |")
    print("|---:|---:|" + "---:|" * (len(SCHEMES) + 2))
    for row in report["sizes"]:
        cells = [
            f"{row['ms_per_call'][s]:,.2f} ({row['gb_per_s'][s]:.3f}; CPU {row['cpu_gb_per_s'][s]:.3f}; "
            f"best {row['best_gb_per_s'][s]:.3f})"
            for s in SCHEMES
        ]
        print(
            f"| {human_size(row['bytes'])} | {row['chunks']} | "
            + " | ".join(cells)
            + f" | {row['rust_vs_python']:.1f}x | {row['rust_over_raw']:.2f}x |"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="aitext bench chunks", description=__doc__.splitlines()[0])
    add_output_arguments(parser, quick="fewer, shorter rounds (a smoke run)")
    parser.add_argument(
        "--sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        default=SIZES,
        help="comma-separated text sizes in bytes (default: 100 KB, 1 MB, 10 MB)",
    )
    args = parser.parse_args(argv)
    # The Python reference takes about a second for 10 MB: it runs once per round.
    rounds, budget = (2, 0.01) if args.quick else (9, 0.05)
    sizes = bench_sizes(rounds, budget, args.sizes)
    report = {"machine": machine(), "rounds": rounds, "sizes": sizes, "targets": targets(sizes)}
    print_as_asked(report, args, text=print_report, markdown=print_markdown)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
