"""What the benchmark reports share: the machine they ran on, how they name a size, and how they
are asked for (text, JSON or docs/benchmarks.md's Markdown)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from collections.abc import Callable
from typing import Any

import blake3 as blake3_py

from aitext import _native


def describe() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        rustc = "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "rustc": rustc or "unknown",
        "blake3_py": blake3_py.__version__,
        "aitext_native": _native.__version__,
        "load_average": os.getloadavg(),
    }


def human_size(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} B"


def add_output_arguments(parser: argparse.ArgumentParser, quick: str) -> None:
    """--json, --markdown, and --quick (whose help says what a smoke run cuts)."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print docs/benchmarks.md's table(s) as Markdown")
    parser.add_argument("--quick", action="store_true", help=quick)


def print_as_asked(
    report: dict[str, Any],
    args: argparse.Namespace,
    text: Callable[[dict[str, Any]], None],
    markdown: Callable[[dict[str, Any]], None],
) -> None:
    """Prints the report as JSON, as Markdown, or as the text report, as the arguments ask."""
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.markdown:
        markdown(report)
    else:
        text(report)
