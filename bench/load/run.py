"""Service load with ghz: echo floor, cache hits, the cold path and batches; tables in docs/benchmarks.md.

    python bench/load/run.py              # the full set, 3 repeats, rewrites the tables (about 13 min)
    python bench/load/run.py --quick      # 2 workers, concurrency 16, one repeat; docs untouched
    python bench/load/run.py --only hit1k --concurrency 16 --workers 2 --repeats 5 --no-docs

Everything runs on this machine over loopback: the servers, the gateway and ghz
share its cores. Servers are started once and left running for every repeat;
each repeat runs the whole matrix, so an echo run and the aitext runs it is
compared with are minutes apart at most. Every ghz run writes its JSON under
bench/load/results/<time>/; summary.json holds the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aitext.bench.cache import article  # the same prose the cache benchmark uses
from aitext.v1 import aitext_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

GHZ_VERSION = "v0.120.0"
API_KEY = "bench-load-key"
METADATA = json.dumps({"authorization": f"Bearer {API_KEY}"})
PROTO = ROOT / "proto" / "aitext" / "v1" / "aitext.proto"
ECHO_PROTO = HERE / "echo.proto"
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- ghz-tables:begin (bench/load/run.py rewrites this part) -->", "<!-- ghz-tables:end -->"
# The production shape, minus a limiter that would throttle a load test: keys on, limiter on but wide.
BASE_ENV = {
    "AITEXT_API_KEYS": f"{API_KEY}:process+admin",
    "AITEXT_RATE_LIMIT_PER_SECOND": "1000000",
    "AITEXT_RATE_LIMIT_BURST": "1000000",
    "AITEXT_METRICS_PORT": "0",
    "AITEXT_MODEL": "local",
}


# --- the requests --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    call: str
    what: str
    message: bytes
    proto: Path = PROTO
    items: int = 1  # results per call (ProcessBatch)
    message_file: Path | None = None  # where ghz reads the serialized request


def targets() -> dict[str, Target]:
    text_1k, text_100k = article(1024)[:1024], article(100 * 1024)[: 100 * 1024]
    summarize = pb.OPERATION_SUMMARIZE
    batch = pb.ProcessBatchRequest(
        requests=[pb.ProcessRequest(text=f"Item {i}. {text_1k}"[:1024], operation=summarize) for i in range(100)]
    )
    from echo_server import echo_message_class

    return {
        t.name: t
        for t in (
            Target(
                "echo",
                "aitext.bench.Echo.Echo",
                "bare grpc.aio echo, 1 KB",
                echo_message_class()(text=text_1k).SerializeToString(),
                ECHO_PROTO,
            ),
            Target(
                "hit1k",
                "aitext.v1.TextService.Process",
                "Process, cache hit (L1), 1 KB text",
                pb.ProcessRequest(text=text_1k, operation=summarize).SerializeToString(),
            ),
            Target(
                "hit100k",
                "aitext.v1.TextService.Process",
                "Process, cache hit (L1), 100 KB text",
                pb.ProcessRequest(text=text_100k, operation=summarize).SerializeToString(),
            ),
            Target(
                "cold1k",
                "aitext.v1.TextService.Process",
                "Process, cold (skip_read: local model), 1 KB",
                pb.ProcessRequest(
                    text=text_1k, operation=summarize, cache_control=pb.CacheControl(skip_read=True)
                ).SerializeToString(),
            ),
            Target(
                "batch100",
                "aitext.v1.TextService.ProcessBatch",
                "ProcessBatch, 100 x 1 KB, cache hits",
                batch.SerializeToString(),
                items=100,
            ),
        )
    }


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Processes:
    """Everything this run starts, stopped (by pid, process group) at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 -- the child writes to it until stop()
        process = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
        self.started.append(process)
        return process

    def wait_ready(self, process: subprocess.Popen, ready_file: Path, timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        while not (ready_file.exists() and ready_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{process.args} did not start; see {self.logs}")
            time.sleep(0.1)
        return int(ready_file.read_text())

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def start_redis(procs: Processes, tmp: Path) -> str:
    port = free_port()
    procs.start(
        f"redis-{port}",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
    )
    wait_port(port)
    return f"redis://127.0.0.1:{port}/0"


def start_aitext(procs: Processes, tmp: Path, name: str, workers: int, env: dict[str, str]) -> int:
    ready = tmp / f"{name}.port"
    argv = [str(ROOT / ".venv/bin/aitext"), "serve", "--host", "127.0.0.1", "--port", "0"]
    process = procs.start(name, [*argv, "--workers", str(workers), "--ready-file", str(ready)], {**BASE_ENV, **env})
    return procs.wait_ready(process, ready)


def start_echo(procs: Processes, tmp: Path, workers: int) -> int:
    ready = tmp / f"echo-w{workers}.port"
    argv = [sys.executable, str(HERE / "echo_server.py"), "--workers", str(workers), "--ready-file", str(ready)]
    return procs.wait_ready(procs.start(f"echo-w{workers}", argv), ready)


def gateway_binary(out: Path) -> Path:
    binary = out / "gateway"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ROOT / "gateway", check=True)
    return binary


def start_gateway(procs: Processes, binary: Path, backend: int) -> int:
    port = free_port()
    procs.start(
        f"gateway-{backend}", [str(binary), "--listen", f"127.0.0.1:{port}", "--backends", f"127.0.0.1:{backend}"]
    )
    wait_port(port)
    return port


def connections_per_process(port: int) -> list[int]:
    """Established connections to `port`, counted per process that holds them (SO_REUSEPORT workers)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "01":
                inodes.add(f"socket:[{parts[9]}]")
    counts = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            n = sum(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        if n:
            counts.append(n)
    return sorted(counts, reverse=True)


def find_ghz() -> str:
    local = ROOT / ".tools" / "bin" / "ghz"
    if local.exists():
        return str(local)
    if shutil.which("ghz"):
        return shutil.which("ghz")
    print(f"installing ghz {GHZ_VERSION} into .tools/bin", file=sys.stderr)
    env = {**os.environ, "GOBIN": str(local.parent)}
    subprocess.run(["go", "install", f"github.com/bojand/ghz/cmd/ghz@{GHZ_VERSION}"], env=env, check=True)
    return str(local)


# --- one ghz run ---------------------------------------------------------------------------


@dataclass
class Run:
    target: str
    concurrency: int
    workers: int
    via: str  # "direct" | "gateway" | a costs-table setup name
    port: int
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.target}-c{self.concurrency}-w{self.workers}-{self.via}"


def ghz(
    binary: str, t: Target, port: int, concurrency: int, *, duration: str | None, count: int | None, out: Path | None
):
    argv = [
        binary,
        "--insecure",
        "--proto",
        str(t.proto),
        "--import-paths",
        str(ROOT / "proto"),
        "--call",
        t.call,
        "--binary-file",
        str(t.message_file),
        "--metadata",
        METADATA,
        "-c",
        str(concurrency),
        "--connections",
        str(min(concurrency, 16)),
        "--format",
        "json",
        "--timeout",
        "30s",
    ]
    argv += ["-z", duration] if duration else ["-n", str(count)]
    done = subprocess.run([*argv, f"127.0.0.1:{port}"], capture_output=True, text=True)
    if done.returncode != 0 and not done.stdout:
        raise SystemExit(f"ghz failed: {done.stderr}")
    report = json.loads(done.stdout)
    if out is not None:
        out.write_text(json.dumps(report, indent=1))
    return report


def measure(binary: str, t: Target, run: Run, duration: str, out: Path) -> str:
    report = ghz(binary, t, run.port, run.concurrency, duration=duration, count=None, out=out)
    latency = {int(d["percentage"]): d["latency"] / 1e6 for d in report.get("latencyDistribution") or ()}
    # With -z, ghz closes its connections at the deadline and reports the calls still in flight
    # (at most `concurrency` of them) as errors; those are not the server's.
    errors = sum(
        n
        for message, n in (report.get("errorDistribution") or {}).items()
        if not any(s in message for s in ("the client connection is closing", "use of closed network connection"))
    )
    run.rps.append(report["rps"])
    run.p50.append(latency.get(50, float("nan")))
    run.p95.append(latency.get(95, float("nan")))
    run.p99.append(latency.get(99, float("nan")))
    run.errors.append(errors)
    line = (
        f"{run.id:32} {report['rps']:9.1f} rps  p50 {run.p50[-1]:6.2f}  p95 {run.p95[-1]:6.2f}  "
        f"p99 {run.p99[-1]:6.2f} ms" + (f"  ERRORS {errors}: {report.get('errorDistribution')}" if errors else "")
    )
    print(line, flush=True)
    return line


# --- the report ----------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine(binary: str) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import google.protobuf
    import grpc
    from google.protobuf.internal import api_implementation

    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    redis = next((w[2:] for w in version(["redis-server", "--version"]).split() if w.startswith("v=")), "?")
    mem = int(
        next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1]
    )
    return (
        f"{os.cpu_count()} vCPUs ({cpu}), {mem / 2**20:.1f} GiB RAM, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, grpcio {grpc.__version__}, protobuf {google.protobuf.__version__} "
        f"({api_implementation.Type()}), {version(['go', 'version']).removeprefix('go version ')}, "
        f"ghz {GHZ_VERSION}, Redis {redis}"
    )


def fmt_rps(v: float) -> str:
    return f"{v:,.0f}"


def fmt_lat(run: Run) -> str:
    return f"{med(run.p50):.2f} / {med(run.p95):.2f} / {med(run.p99):.2f}"


def ratio_per_repeat(a: Run, b: Run) -> float:
    return med([x / y for x, y in zip(a.rps, b.rps)])


def render(runs: dict[str, Run], t: dict[str, Target], info: dict) -> str:
    def get(target, c, w, via):
        return runs.get(f"{target}-c{c}-w{w}-{via}")

    lines = [
        f"Run {info['started']} - {info['finished']} UTC, {info['repeats']} repeats of {info['duration']} per cell "
        f"(medians; per-repeat ratios, then their median), load average {info['load_before']} before and "
        f"{info['load_after']} after. ghz runs on the same machine as the servers and the gateway.",
        "",
        f"Machine: {info['machine']}.",
        "",
        "| call | c | workers | direct RPS | p50 / p95 / p99 ms | vs echo | gateway RPS | p50 / p95 / p99 ms | gateway / direct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("echo", "hit1k", "hit100k", "cold1k", "batch100"):
        for w in info["workers"]:
            for c in info["concurrency"]:
                direct = get(name, c, w, "direct")
                if direct is None:
                    continue
                echo = get("echo", c, w, "direct")
                gw = get(name, c, w, "gateway")
                vs_echo = f"{ratio_per_repeat(direct, echo):.2f}x" if echo is not None and name != "echo" else ""
                gw_cells = (
                    [fmt_rps(med(gw.rps)), fmt_lat(gw), f"{ratio_per_repeat(gw, direct):.0%}"] if gw else ["", "", ""]
                )
                err = " (errors!)" if any(direct.errors) or (gw and any(gw.errors)) else ""
                lines.append(
                    f"| {t[name].what}{err} | {c} | {w} | {fmt_rps(med(direct.rps))} | {fmt_lat(direct)} | {vs_echo} | "
                    + " | ".join(gw_cells)
                    + " |"
                )
    batch = [r for r in runs.values() if r.target == "batch100"]
    if batch:
        lines += ["", "ProcessBatch RPS counts streams; each carries 100 results (items/s = 100 x RPS)."]
    if info.get("gateway_connections"):
        split = "; ".join(f"{w} worker(s): {'+'.join(map(str, c))}" for w, c in info["gateway_connections"].items())
        lines += [
            "",
            f"The gateway's HTTP/2 connections to the server (4 + its health-check channel), as the kernel "
            f"spread them over the SO_REUSEPORT workers in this run: {split}.",
        ]

    costs = [r for r in runs.values() if r.via.startswith("cost:")]
    if costs:
        lines += [
            "",
            "What authentication, the rate limiter and Redis cost (1 KB cache hits, concurrency 16, 2 workers, direct; "
            "Δ is machine time per request, 1/RPS, against the open server):",
            "",
            "| setup | RPS | p50 / p95 / p99 ms | Δ µs per request |",
            "|---|---:|---:|---:|",
        ]
        base = runs.get("hit1k-c16-w2-cost:open")
        for r in costs:
            delta = ""
            if base is not None and r is not base:
                delta = f"{med([1e6 / x - 1e6 / y for x, y in zip(r.rps, base.rps)]):+.1f}"
            lines.append(f"| {COSTS[r.via][0]} | {fmt_rps(med(r.rps))} | {fmt_lat(r)} | {delta} |")

    goals = []
    hit, echo, hit_gw = get("hit1k", 16, 2, "direct"), get("echo", 16, 2, "direct"), get("hit1k", 16, 2, "gateway")
    big = get("hit100k", 16, 2, "direct")
    if hit and echo:
        r = ratio_per_repeat(hit, echo)
        goals.append(
            f"| 1 KB hit, c16, 2 workers ≥ 0.65x echo | {r:.2f}x ({fmt_rps(med(hit.rps))} vs {fmt_rps(med(echo.rps))}) | {'met' if r >= 0.65 else 'missed'} |"
        )
        p99 = med(hit.p99)
        goals.append(f"| same, p99 ≤ 10 ms | {p99:.2f} ms | {'met' if p99 <= 10 else 'missed'} |")
    if hit and hit_gw:
        r = ratio_per_repeat(hit_gw, hit)
        goals.append(
            f"| through the gateway ≥ 60% of direct | {r:.0%} ({fmt_rps(med(hit_gw.rps))}) | {'met' if r >= 0.6 else 'missed'} |"
        )
    if big:
        v = med(big.rps)
        goals.append(f"| 100 KB hit ≥ 1,500 RPS (c16, 2 workers) | {fmt_rps(v)} | {'met' if v >= 1500 else 'missed'} |")
    if goals:
        lines += ["", "| goal (issue 9) | measured (median) | |", "|---|---:|---|", *goals]
    return "\n".join(lines)


def rewrite_docs(table: str) -> None:
    text = DOCS.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{DOCS} has no {BEGIN!r} marker; add the section first")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


# --- the matrix ----------------------------------------------------------------------------

# Extra setups for the costs table: name -> (description, server env on top of BASE_ENV, needs Redis)
COSTS = {
    "cost:open": (
        "no key, no limiter (AITEXT_ALLOW_UNAUTHENTICATED)",
        {"AITEXT_API_KEYS": "", "AITEXT_ALLOW_UNAUTHENTICATED": "true", "AITEXT_RATE_LIMIT_PER_SECOND": "0"},
        False,
    ),
    "cost:key": ("API key, no limiter", {"AITEXT_RATE_LIMIT_PER_SECOND": "0"}, False),
    "cost:key+limiter": ("API key + in-process limiter (memory only, the main table's setup)", {}, False),
    "cost:redis-nolimit": (
        "API key, Redis as L2, no limiter (answers from L1)",
        {"AITEXT_RATE_LIMIT_PER_SECOND": "0"},
        True,
    ),
    "cost:redis+limiter": ("API key, Redis as L2 + limiter in Redis (a Lua call per request)", {}, True),
    "cost:nolog": (
        "API key + in-process limiter, request log lines off (AITEXT_LOG_LEVEL=WARNING)",
        {"AITEXT_LOG_LEVEL": "WARNING"},
        False,
    ),
    "cost:redis-l2": (
        "API key, L1 off: answers from Redis, no limiter",
        {"AITEXT_RATE_LIMIT_PER_SECOND": "0", "AITEXT_CACHE_MEMORY_TIERS": ""},
        True,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 workers, concurrency 16, 1 repeat of 2 s, docs untouched"
    )
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--duration", help="ghz -z per cell (default 3s, quick 2s)")
    parser.add_argument("--only", nargs="*", help="targets to run (echo always runs)")
    parser.add_argument("--concurrency", type=int, nargs="*")
    parser.add_argument("--workers", type=int, nargs="*")
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--no-costs", action="store_true", help="skip the auth/limiter/Redis table")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    duration = args.duration or ("2s" if args.quick else "3s")
    concurrency = args.concurrency or ([16] if args.quick else [1, 16, 64])
    workers = args.workers or ([2] if args.quick else [1, 2])
    wanted = set(args.only or ("hit1k", "hit100k", "cold1k", "batch100")) | {"echo"}
    write_docs = not (args.no_docs or args.quick or args.only or args.concurrency or args.workers)

    binary = find_ghz()
    out = HERE / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    t = targets()
    for target in t.values():
        target.message_file = out / f"{target.name}.bin"
        target.message_file.write_bytes(target.message)

    info = {
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "repeats": repeats,
        "duration": duration,
        "concurrency": concurrency,
        "workers": workers,
        "load_before": os.getloadavg()[0],
        "machine": machine(binary),
    }
    procs = Processes(out)
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            gw_binary = None if args.no_gateway else gateway_binary(out)
            gateways = {}
            for w in workers:
                echo_port = start_echo(procs, tmp, w)
                port = start_aitext(procs, tmp, f"aitext-w{w}", w, {})
                gw_port = start_gateway(procs, gw_binary, port) if gw_binary else None
                if gw_port:
                    gateways[w] = port
                for c in concurrency:
                    for name in ("echo", "hit1k", "hit100k", "cold1k", "batch100"):
                        if name not in wanted:
                            continue
                        vias = [("direct", echo_port if name == "echo" else port)]
                        if gw_port and name != "echo":
                            vias.append(("gateway", gw_port))
                        for via, p in vias:
                            run = Run(name, c, w, via, p)
                            runs[run.id] = run
            if not args.no_costs and "hit1k" in wanted and 2 in workers and 16 in concurrency:
                redis_url = start_redis(procs, tmp)
                for via, (_, env, needs_redis) in COSTS.items():
                    env = {**env, **({"AITEXT_REDIS_URL": redis_url} if needs_redis else {})}
                    port = start_aitext(procs, tmp, via.replace(":", "-").replace("+", "-"), 2, env)
                    run = Run("hit1k", 16, 2, via, port)
                    runs[run.id] = run

            print(f"warming up {len(runs)} cells (fills the caches)", flush=True)
            for run in runs.values():
                ghz(
                    binary,
                    t[run.target],
                    run.port,
                    16,
                    duration=None,
                    count=300 if run.target != "batch100" else 20,
                    out=None,
                )
            # The gateway keeps its connections; the kernel hashes each onto one worker.
            info["gateway_connections"] = {w: connections_per_process(p) for w, p in gateways.items()}
            print(f"gateway connections per worker: {info['gateway_connections']}", flush=True)
            for repeat in range(repeats):
                print(f"--- repeat {repeat + 1}/{repeats}, load {os.getloadavg()[0]:.2f}", flush=True)
                for run in runs.values():
                    # ghz cancels the calls in flight at its deadline; let the servers finish
                    # unwinding them (cold calls, batches) before the next cell starts.
                    time.sleep(0.5)
                    measure(binary, t[run.target], run, duration, out / f"{run.id}-{repeat + 1}.json")
        finally:
            procs.stop_all()

    info |= {"finished": time.strftime("%H:%M"), "load_after": os.getloadavg()[0]}
    info["load_before"], info["load_after"] = f"{info['load_before']:.1f}", f"{info['load_after']:.1f}"
    table = render(runs, t, info)
    (out / "summary.json").write_text(
        json.dumps({"info": info, "runs": {k: vars(r) for k, r in runs.items()}}, indent=1, default=str)
    )
    (out / "tables.md").write_text(table + "\n")
    print("\n" + table)
    if write_docs:
        rewrite_docs(table)
        print(f"\nrewrote the ghz tables in {DOCS.relative_to(ROOT)}")
    for log in out.glob("*.log"):
        if log.stat().st_size > 20 * 2**20:
            log.unlink()  # per-request log lines of the servers; kept only when small
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
