"""`aitext bench NAME [args]`: runs bench/NAME.py's main(argv) from the source checkout."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def run_bench(name: str, argv: list[str]) -> int:
    path = BENCH_DIR / f"{name}.py"
    if not name.isidentifier() or not path.is_file():
        available = sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))
        print(f"no benchmark {name!r} in {BENCH_DIR} (available: {', '.join(available) or 'none'})", file=sys.stderr)
        return 2
    # Benchmarks import their sibling helper modules by plain name.
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(f"aitext_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(argv))
