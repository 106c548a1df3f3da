"""What the key and chunking reports share: the machine they ran on, and how they name a size."""

from __future__ import annotations

import os
import platform
import subprocess
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
