"""`aitext bench NAME [args]`: the microbenchmarks, shipped with the package.

They run from a plain install, no checkout needed. Service-load benchmarks (`make bench-load`,
bench/load/) drive ghz and the gateway, and stay in the repository.
"""

from __future__ import annotations

import importlib
import sys

# name -> what it measures (the CLI's choices and help come from here).
BENCHMARKS: dict[str, str] = {
    "keys": "cache keys: Rust, the Python reference and the write-up's schemes, beside raw BLAKE3",
    "cache": "the response cache: L1 and Redis hits, misses, envelope encode and decode",
    "chunks": "content-defined chunking plus digests: Rust against the Python reference",
}


def run_bench(name: str, argv: list[str]) -> int:
    if name not in BENCHMARKS:
        print(f"no benchmark {name!r} (available: {', '.join(BENCHMARKS)})", file=sys.stderr)
        return 2
    module = importlib.import_module(f"aitext.bench.{name}")
    return int(module.main(argv))
