"""Before/after on the same machine in the same minutes: a revision's server against the working tree's.

    python bench/load/ab.py --base HEAD --target hit1k --rounds 5

Both servers run side by side (the base from `git archive REV python`, with the working tree's
built extension copied in); ghz runs alternate between them, round after round, so both see
the same load. Prints per-round RPS and the medians, and the working tree over the base.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import run as load

ROOT = load.ROOT


def extract(revision: str, into: Path) -> Path:
    """The revision's python/ tree, with the working tree's built extension; returns its python/ path."""
    into.mkdir()
    archive = subprocess.run(["git", "archive", revision, "python"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    for built in (ROOT / "python" / "aitext").glob("_native*.so"):
        shutil.copy(built, into / "python" / "aitext" / built.name)
    return into / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git revision to compare the working tree against")
    parser.add_argument("--against", help="a second revision instead of the working tree (A/A checks: --against HEAD)")
    parser.add_argument("--target", default="hit1k", choices=("hit1k", "hit100k", "cold1k", "batch100"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", default="3s")
    parser.add_argument("--env", nargs="*", default=[], help="KEY=VALUE for both servers")
    parser.add_argument("--work-env", nargs="*", default=[], help="KEY=VALUE for the second server only")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)

    binary = load.find_ghz()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = extract(args.base, tmp / "base")
        work_env = {**env, **dict(item.split("=", 1) for item in args.work_env)}
        if args.against:
            work_env["PYTHONPATH"] = str(extract(args.against, tmp / "against"))
        target = load.targets()[args.target]
        target.message_file = tmp / f"{target.name}.bin"
        target.message_file.write_bytes(target.message)

        procs = load.Processes(tmp)
        try:
            ports = {
                "base": load.start_aitext(procs, tmp, "base", args.workers, {**env, "PYTHONPATH": str(base)}),
                "work": load.start_aitext(procs, tmp, "work", args.workers, work_env),
            }
            runs = {
                side: load.Run(args.target, args.concurrency, args.workers, side, port) for side, port in ports.items()
            }
            for run in runs.values():
                load.ghz(binary, target, run.port, 16, duration=None, count=300, out=None)
            for r in range(args.rounds):
                order = ("base", "work") if r % 2 == 0 else ("work", "base")
                for side in order:
                    load.measure(binary, target, runs[side], args.duration, tmp / f"{side}-{r}.json")
        finally:
            procs.stop_all()

    b, w = runs["base"], runs["work"]
    ratio = statistics.median(x / y for x, y in zip(w.rps, b.rps))
    print(
        f"\n{args.target} c{args.concurrency} w{args.workers}, {args.rounds} rounds of {args.duration}, "
        f"base {args.base} vs {args.against or 'working tree'} {' '.join(args.work_env)} ({time.strftime('%H:%M')}):\n"
        f"  base: {load.med(b.rps):,.0f} rps, p50/p95/p99 {load.fmt_lat(b)} ms\n"
        f"  work: {load.med(w.rps):,.0f} rps, p50/p95/p99 {load.fmt_lat(w)} ms\n"
        f"  work / base: {ratio:.3f}x (median of per-round ratios)"
    )


if __name__ == "__main__":
    main()
