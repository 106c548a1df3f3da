"""Where a worker's time goes under ghz: py-spy on one worker, summed per function.

    python bench/load/profile.py --target hit1k --seconds 10      # needs py-spy (pip install py-spy) and root or ptrace rights

Starts one worker (the load benchmark's settings), warms it, runs ghz at the given concurrency
and samples the worker with `py-spy record --format raw` meanwhile. Prints the functions with
the most samples, self and inclusive; the raw stacks are kept for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run as load
from memory import listening_pid


def summarize(raw: Path, top: int) -> str:
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [f"{total} samples", "", "self:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="hit1k", choices=("hit1k", "hit100k", "cold1k", "batch100"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples a second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--env", nargs="*", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    binary = load.find_ghz()
    out = load.HERE / "results" / f"profile-{args.target}-{time.strftime('%Y%m%d-%H%M%S')}.raw"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        target = load.targets()[args.target]
        target.message_file = tmp / "request.bin"
        target.message_file.write_bytes(target.message)
        procs = load.Processes(tmp)
        try:
            port = load.start_aitext(procs, tmp, "profiled", 1, dict(item.split("=", 1) for item in args.env))
            load.ghz(binary, target, port, args.concurrency, duration=None, count=500, out=None)
            run = load.Run(args.target, args.concurrency, 1, "profiled", port)
            sampler = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "-p",
                    str(listening_pid(port)),
                    "-d",
                    str(args.seconds),
                    "-r",
                    str(args.rate),
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            load.measure(binary, target, run, f"{args.seconds + 1}s", tmp / "ghz.json")
            sampler.wait(30)
        finally:
            procs.stop_all()
    print(summarize(out, args.top))
    print(f"\nraw stacks: {out.relative_to(load.ROOT)} (flamegraph.pl or speedscope read them)")


if __name__ == "__main__":
    main()
