"""A bare grpc.aio echo server: the floor Python gRPC sets on this machine.

Same worker model as `aitext serve --workers N`: N processes bind one port with
SO_REUSEPORT. The message class is built from echo.proto's one message at start,
so there is no generated code; every call parses the request and serializes the
reply, as a real servicer does.

    python bench/load/echo_server.py --workers 2 --ready-file /tmp/echo.port
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

SERVICE = "aitext.bench.Echo"


def echo_message_class():
    file = descriptor_pb2.FileDescriptorProto(name="aitext_bench_echo.proto", package="aitext.bench", syntax="proto3")
    message = file.message_type.add(name="EchoMessage")
    message.field.add(
        name="text",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName("aitext.bench.EchoMessage"))


class PassThrough(grpc.aio.ServerInterceptor):
    """Does nothing: measures what having any server interceptor costs grpc.aio per call."""

    async def intercept_service(self, continuation, details):
        return await continuation(details)


async def serve(port: int, ready=None, interceptor: bool = False) -> None:
    message_class = echo_message_class()

    async def echo(request, context):
        return message_class(text=request.text)

    handler = grpc.unary_unary_rpc_method_handler(
        echo, request_deserializer=message_class.FromString, response_serializer=message_class.SerializeToString
    )
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)], interceptors=(PassThrough(),) if interceptor else ())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    if ready is not None:
        ready.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


def _worker(port: int, ready, interceptor: bool) -> None:
    asyncio.run(serve(port, ready, interceptor))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--interceptor", action="store_true", help="add a pass-through server interceptor")
    args = parser.parse_args()

    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", args.port))
    port = holder.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    workers = []
    for _ in range(args.workers):
        ready = context.Event()
        process = context.Process(target=_worker, args=(port, ready, args.interceptor), daemon=True)
        process.start()
        workers.append((process, ready))
    for _, ready in workers:
        ready.wait(30)
    holder.close()
    if args.ready_file is not None:
        args.ready_file.write_text(f"{port}\n")

    def forward(signum, _frame):
        for process, _ in workers:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for process, _ in workers:
        process.join()


if __name__ == "__main__":
    main()
