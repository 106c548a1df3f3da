"""A worker's RSS while its L1 fills with 100,000 distinct answers: does it stay within the budget?

    python bench/load/memory.py                       # 100k requests, 64 MiB L1, table on stdout
    python bench/load/memory.py --docs                # also rewrites the memory table in docs/benchmarks.md
    python bench/load/memory.py --requests 20000 --budget-mib 16

One worker, memory tier only, the production logging. ghz sends distinct summarize requests
(about 420 characters each, numbered by ghz's template) in chunks; after each chunk the script
reads VmRSS from /proc/<pid>/status and the L1's own accounting from GetCacheStats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
import run as load
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

MiB = 2**20
BEGIN, END = "<!-- memory-table:begin (bench/load/memory.py --docs rewrites this part) -->", "<!-- memory-table:end -->"
SENTENCE = (
    "Request {chunk}-{{{{.RequestNumber}}}}: the council approved the transit budget after a long session, "
    "three new bus lines will connect the eastern suburbs with the hospital district, evening service "
    "will run every ten minutes, and critics warned that the fare increase hurts commuters who already "
    "spend a large share of their income on travel to work."
)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def listening_pid(port: int) -> int:
    """The pid that owns the listening socket (the worker, with --workers 1)."""
    inode = None
    for table in ("/proc/net/tcp6", "/proc/net/tcp"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                inode = parts[9]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return int(pid)
        except OSError:
            continue
    raise SystemExit(f"no process listens on {port}")


def stats(port: int) -> pb.GetCacheStatsResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return pb_grpc.TextServiceStub(channel).GetCacheStats(
            pb.GetCacheStatsRequest(), metadata=(("authorization", f"Bearer {load.API_KEY}"),), timeout=10
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--budget-mib", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--docs", action="store_true", help="rewrite the memory table in docs/benchmarks.md")
    args = parser.parse_args()

    binary = load.find_ghz()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        procs = load.Processes(tmp)
        try:
            env = {"AITEXT_CACHE_MEMORY_MAX_BYTES": str(args.budget_mib * MiB)}
            port = load.start_aitext(procs, tmp, "memory", 1, env)
            pid = listening_pid(port)
            rows.append(("started", 0, status_kib(pid, "VmRSS"), stats(port)))
            sent = 0
            while sent < args.requests:
                n = min(args.chunk, args.requests - sent)
                data = json.dumps(
                    {"text": SENTENCE.format(chunk=sent // args.chunk), "operation": "OPERATION_SUMMARIZE"}
                )
                done = subprocess.run(
                    [
                        binary,
                        "--insecure",
                        "--proto",
                        str(load.PROTO),
                        "--import-paths",
                        str(load.ROOT / "proto"),
                        "--call",
                        "aitext.v1.TextService.Process",
                        "--metadata",
                        load.METADATA,
                        "-d",
                        data,
                        "-n",
                        str(n),
                        "-c",
                        str(args.concurrency),
                        "--connections",
                        "4",
                        "--format",
                        "json",
                        f"127.0.0.1:{port}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                report = json.loads(done.stdout)
                bad = {k: v for k, v in (report.get("statusCodeDistribution") or {}).items() if k != "OK"}
                if bad:
                    raise SystemExit(f"errors: {bad} {report.get('errorDistribution')}")
                sent += n
                rows.append((f"{sent:,} requests", sent, status_kib(pid, "VmRSS"), stats(port)))
                print(
                    f"{rows[-1][0]:>20}: RSS {rows[-1][2] / 1024:7.1f} MiB, L1 {rows[-1][3].memory_entries:,} entries, "
                    f"{rows[-1][3].memory_bytes / MiB:.1f} MiB accounted ({report['rps']:.0f} rps)",
                    flush=True,
                )
            peak = status_kib(pid, "VmHWM")
        finally:
            procs.stop_all()

    start_rss = rows[0][2] * 1024
    last = rows[-1]
    budget = args.budget_mib * MiB
    over = last[2] * 1024 - start_rss
    evicting = [r for r in rows[1:] if r[3].memory_bytes >= 0.98 * budget]
    lines = [
        f"One worker, `AITEXT_CACHE_MEMORY_MAX_BYTES` = {args.budget_mib} MiB, memory tier only; "
        f"{args.requests:,} distinct summarize requests of {len(SENTENCE.format(chunk=0)) - 10} characters or so "
        f"(ghz, concurrency {args.concurrency}), {time.strftime('%Y-%m-%d %H:%M')} UTC. RSS from /proc/PID/status.",
        "",
        "| after | RSS MiB | RSS - start MiB | L1 entries | L1 accounted MiB | RSS - start - accounted MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, _, rss, st in rows:
        growth = rss * 1024 - start_rss
        lines.append(
            f"| {label} | {rss / 1024:.1f} | {growth / MiB:.1f} | {st.memory_entries:,} | {st.memory_bytes / MiB:.1f} | "
            f"{(growth - st.memory_bytes) / MiB:.1f} |"
        )
    lines += [
        "",
        f"Start-up RSS (imports, the model, gRPC): {start_rss / MiB:.1f} MiB; peak (VmHWM) {peak / 1024:.1f} MiB. "
        f"Final RSS - start = {over / MiB:.1f} MiB: the L1's {last[3].memory_bytes / MiB:.1f} MiB "
        f"(budget {args.budget_mib} MiB) plus {(over - last[3].memory_bytes) / MiB:.1f} MiB it does not account"
        f"{'; L1 reached its budget and evicted' if evicting else ''}.",
    ]
    table = "\n".join(lines)
    print("\n" + table)
    if args.docs:
        text = load.DOCS.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        load.DOCS.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
