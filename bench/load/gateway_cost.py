"""The gateway's cost with h2load: one cached 1 KB sentiment, direct and through the gateway.

    python bench/load/gateway_cost.py                 # 3 rounds, prints the table (about 3 min)
    python bench/load/gateway_cost.py --rounds 1 --requests 5000
    python bench/load/gateway_cost.py --gateway /tmp/gw-old   # another gateway build, same setup

`aitext serve --workers 2` (memory cache, local model, production logging) and one
gateway in front of it; h2load (Debian nghttp2-client) sends the same request, a cache
hit after the first call, over 16 connections one stream each, to:

- the workers directly over native gRPC (the baseline),
- bench/load/bareproxy over native gRPC: the least a Go proxy can do, the floor,
- the gateway over native gRPC, gRPC-Web and REST/JSON,
- the workers directly again, paced to the rate the gateway's native gRPC reached in the
  same round (h2load --rps): what the workers spend per call at that rate with no proxy.

h2load is far lighter than ghz, so it takes less of the two cores the servers need.
Each round runs every path once, in turn; the table gives each path's median req/s over
the rounds, its ratio to the direct median of the same run, and the CPU time per request
of the server's processes and of the proxy (from /proc/PID/stat). Everything shares this
machine's cores, so the proxy's CPU is taken from the workers: the ratio says what the
gateway costs where it runs next to them. The paced row separates the two effects: the
proxy's own CPU, and the workers' CPU per call, which is higher at a lower rate (each
wake-up of a worker serves fewer calls) whether or not a proxy sits in front.

--split-cores gives the workers the first half of the CPUs and h2load and the proxies the
other half, the layout of a deployment where the gateway has CPUs of its own (its own pods
in deploy/k8s): there the ratio says how much of the workers' capacity the gateway keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib import request as urllib_request

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aitext.bench.cache import article
from aitext.v1 import aitext_pb2 as pb
from run import API_KEY, HERE, ROOT, Processes, free_port, machine, start_aitext, wait_port

# The production shape, logging as in production.
ENV = {"AITEXT_LOG_LEVEL": "WARNING", "AITEXT_CACHE_BACKEND": "memory"}


def request_bodies(tmp: Path) -> dict[str, Path]:
    """The request file of each kind of call: gRPC and gRPC-Web send the same framed message."""
    text = article(1024)[:1024]
    message = pb.ProcessRequest(text=text, operation=pb.OPERATION_SENTIMENT).SerializeToString()
    framed = tmp / "request.grpc"
    framed.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    rest = tmp / "request.json"
    rest.write_text(json.dumps({"text": text, "operation": "OPERATION_SENTIMENT"}))
    return {"grpc": framed, "grpc-web": framed, "rest": rest}


# Direct again, at the rate the gateway's native gRPC reached in the same round.
PACED = "native gRPC, direct, paced to the gateway's rate"
PACED_TO = "native gRPC through the gateway"

# path name -> (where: "server" | "gateway" | "bareproxy", URL path, request kind)
PATHS = {
    "native gRPC, direct to the workers": ("server", "/aitext.v1.TextService/Process", "grpc"),
    "native gRPC through a bare proxy (the floor)": ("bareproxy", "/aitext.v1.TextService/Process", "grpc"),
    "native gRPC through the gateway": ("gateway", "/aitext.v1.TextService/Process", "grpc"),
    "gRPC-Web through the gateway": ("gateway", "/aitext.v1.TextService/Process", "grpc-web"),
    "REST/JSON through the gateway": ("gateway", "/v1/process", "rest"),
    PACED: ("server", "/aitext.v1.TextService/Process", "grpc"),
}
HEADERS = {
    "grpc": ["content-type:application/grpc", "te:trailers"],
    "grpc-web": ["content-type:application/grpc-web+proto", "x-grpc-web:1"],
    "rest": ["content-type:application/json"],
}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (/proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process and of its children onto these CPUs (threads started later inherit it)."""
    process = psutil.Process(pid)
    for each in [process, *process.children(recursive=True)]:
        for thread in each.threads():
            os.sched_setaffinity(thread.id, cpus)


def h2load(
    url: str,
    body: Path,
    headers: list[str],
    requests: int,
    connections: int,
    rate: float | None = None,
    cpus: set[int] | None = None,
) -> float:
    """req/s, at most `rate` in all when given; exits if any response failed or was not 2xx."""
    argv = ["h2load", "-n", str(requests), "-c", str(connections), "-m", "1", "-d", str(body)]
    if rate:
        argv.append(f"--rps={max(1, round(rate / connections))}")  # h2load paces each connection
    for header in [*headers, f"x-api-key:{API_KEY}"]:
        argv += ["-H", header]
    on_cpus = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True, preexec_fn=on_cpus).stdout
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    failed = re.search(r"requests: .* (\d+) failed", out)
    if int(status.group(3)) + int(status.group(4)) + int(failed.group(1)):
        raise SystemExit(f"{url}: some responses failed or were not 2xx:\n{out}")
    return float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))


def grpc_ok(url: str, body: Path, headers: list[str]) -> None:
    """One call must answer grpc-status 0 (h2load only sees HTTP status 200)."""
    argv = ["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", "--data-binary", f"@{body}"]
    for header in [*headers, f"x-api-key:{API_KEY}"]:
        argv += ["-H", header]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout.lower()
    if "grpc-status: 0" not in out and "grpc-status" in out:
        raise SystemExit(f"{url}: the call failed: {out}")


@dataclass
class Sample:
    rps: float
    worker_ms: float  # CPU per request, all workers together
    proxy_ms: float  # CPU per request of the gateway or the bare proxy (0 when direct)


def start_proxy(procs: Processes, name: str, argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Start the gateway or the bare proxy on a free port; its port and pid."""
    port = free_port()
    process = procs.start(name, [*argv, "--listen", f"127.0.0.1:{port}"], env)
    wait_port(port)
    return port, process.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20000, help="per path per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gateway", type=Path, help="a built gateway binary (default: build gateway/)")
    parser.add_argument("--gateway-arg", action="append", default=[], help="one more gateway flag, repeatable")
    parser.add_argument(
        "--proxy-env",
        action="append",
        default=[],
        help="NAME=VALUE for the gateway and the bare proxy, such as GOMAXPROCS=2",
    )
    parser.add_argument(
        "--split-cores",
        action="store_true",
        help="workers on the first half of the CPUs, h2load and the proxies on the rest",
    )
    args = parser.parse_args()
    if not shutil.which("h2load"):
        raise SystemExit("h2load not found: apt-get install nghttp2-client")
    proxy_env = dict(item.split("=", 1) for item in args.proxy_env)
    cpus = sorted(os.sched_getaffinity(0))
    worker_cpus, load_cpus = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
    if args.split_cores and not worker_cpus:
        raise SystemExit("--split-cores needs at least 2 CPUs")

    with tempfile.TemporaryDirectory(prefix="aitext-gwcost-") as tmpdir:
        tmp = Path(tmpdir)
        procs = Processes(tmp)
        try:
            gateway_binary = args.gateway
            if gateway_binary is None:
                gateway_binary = tmp / "gateway"
                subprocess.run(["go", "build", "-o", str(gateway_binary), "."], cwd=ROOT / "gateway", check=True)
            bare_binary = tmp / "bareproxy"
            subprocess.run(["go", "build", "-o", str(bare_binary), "."], cwd=HERE / "bareproxy", check=True)
            bodies = request_bodies(tmp)
            server_port = start_aitext(procs, tmp, "server", args.workers, ENV)
            server = psutil.Process(procs.started[-1].pid)
            backend = f"127.0.0.1:{server_port}"
            debug_port = free_port()
            gateway = start_proxy(
                procs,
                "gateway",
                [
                    str(gateway_binary),
                    "--backends",
                    backend,
                    "--debug-listen",
                    f"127.0.0.1:{debug_port}",
                    *args.gateway_arg,
                ],
                proxy_env,
            )
            bare = start_proxy(procs, "bareproxy", [str(bare_binary), "--backend", backend], proxy_env)
            where = {"server": (server_port, None), "gateway": gateway, "bareproxy": bare}
            if args.split_cores:
                pin(server.pid, worker_cpus)
                pin(gateway[1], load_cpus)
                pin(bare[1], load_cpus)
            load_on = load_cpus if args.split_cores else None
            urls = {}
            for name, (place, path, kind) in PATHS.items():
                urls[name] = f"http://127.0.0.1:{where[place][0]}{path}"
                body = bodies[kind]
                if kind != "rest":
                    grpc_ok(urls[name], body, HEADERS[kind])
                h2load(
                    urls[name], body, HEADERS[kind], 500, args.connections, cpus=load_on
                )  # warm: the cache, the connections
            samples: dict[str, list[Sample]] = {name: [] for name in PATHS}
            for round_ in range(args.rounds):
                for name, (place, _, kind) in PATHS.items():
                    body = bodies[kind]
                    proxy = [where[place][1]] if where[place][1] else []
                    # The supervisor, its workers and anything they started.
                    workers = [server.pid, *(p.pid for p in server.children(recursive=True))]
                    before = cpu_seconds(workers), cpu_seconds(proxy)
                    rate = samples[PACED_TO][-1].rps if name == PACED else None
                    rps = h2load(urls[name], body, HEADERS[kind], args.requests, args.connections, rate, load_on)
                    after = cpu_seconds(workers), cpu_seconds(proxy)
                    per_request = [(b - a) * 1000 / args.requests for a, b in zip(before, after, strict=True)]
                    samples[name].append(Sample(rps, *per_request))
                    print(
                        f"round {round_ + 1} {name}: {rps:,.0f} req/s, CPU per request: "
                        f"workers {per_request[0]:.3f} ms, proxy {per_request[1]:.3f} ms",
                        flush=True,
                    )
            with urllib_request.urlopen(f"http://127.0.0.1:{debug_port}/debug/backends") as response:
                [row] = json.load(response)
            spread = sorted(row.get("connections_per_worker", {}).values(), reverse=True)
        finally:
            procs.stop_all()

    direct = statistics.median(s.rps for s in samples["native gRPC, direct to the workers"])
    layout = "all processes share the CPUs"
    if args.split_cores:
        layout = f"workers on CPUs {sorted(worker_cpus)}, h2load and the proxies on {sorted(load_cpus)}"
    h2load_version = subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout.strip()
    print()
    print(f"{machine('h2load')}; {h2load_version}")
    print(
        f"`aitext serve --workers {args.workers}`, h2load -n {args.requests} -c {args.connections} -m 1, "
        f"{args.rounds} round(s), medians; proxy environment: {proxy_env or 'none'}; "
        f"{layout}; "
        "the gateway's connections "
        f"per worker at the end: {'+'.join(map(str, spread)) or 'not known'}"
    )
    print()
    print("| path | req/s | of direct | CPU per request: workers | proxy | req/s per round |")
    print("|---|---:|---:|---:|---:|---|")
    for name, runs in samples.items():
        rps = statistics.median(s.rps for s in runs)
        worker_ms = statistics.median(s.worker_ms for s in runs)
        proxy_ms = statistics.median(s.proxy_ms for s in runs)
        each = " / ".join(f"{s.rps:,.0f}" for s in runs)
        proxy = f"{proxy_ms:.3f} ms" if proxy_ms else "-"
        print(f"| {name} | {rps:,.0f} | {rps / direct:.0%} | {worker_ms:.3f} ms | {proxy} | {each} |")


if __name__ == "__main__":
    main()
