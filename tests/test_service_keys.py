"""The service computes its cache keys with the configured backend, and both backends agree."""

from __future__ import annotations

import grpc
import pytest
from aitext.cache import keys
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

pytestmark = pytest.mark.unit

REQUEST = pb.ProcessRequest(
    text="Ünïcödé text with a | pipe, a : colon and an emoji 🦀.", operation=pb.OPERATION_SUMMARIZE
)


@pytest.fixture(autouse=True)
def restore_backend():
    yield
    keys.configure("auto")


async def key_and_stats(start_server, backend: str) -> tuple[str, pb.GetCacheStatsResponse]:
    server = await start_server(key_backend=backend)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        response = await stub.Process(REQUEST)
        return response.cache.key, await stub.GetCacheStats(pb.GetCacheStatsRequest())


async def test_rust_and_python_backends_give_the_service_the_same_key(start_server):
    rust_key, rust_stats = await key_and_stats(start_server, "rust")
    python_key, python_stats = await key_and_stats(start_server, "python")
    assert rust_key == python_key
    # Without keys (development) every caller is the tenant "anonymous", in its own partition.
    assert rust_key.startswith("ai_cache:t:anonymous:v1:summarize:") and len(rust_key.rsplit(":", 1)[1]) == 64
    assert (rust_stats.key_backend, python_stats.key_backend) == ("rust", "python")
    assert {entry.backend for entry in rust_stats.key_latency if entry.count} == {"rust"}
    assert {entry.backend for entry in python_stats.key_latency if entry.count} == {"python"}


async def test_the_key_is_the_documented_spec(start_server):
    server = await start_server()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        response = await pb_grpc.TextServiceStub(channel).Process(REQUEST)
    expected = keys.make_key(
        REQUEST.text, "summarize", {"max_length": 100}, None, "local", response.prompt_version, "ai_cache:t:anonymous"
    )
    assert response.cache.key == expected


def test_the_pipeline_calls_the_configured_implementation():
    from aitext import _native
    from aitext.pipeline import Pipeline

    from tests.fixtures.server import make_test_settings

    assert Pipeline(make_test_settings(key_backend="rust"), None, None)._make_key is _native.make_key
    assert Pipeline(make_test_settings(key_backend="python"), None, None)._make_key is keys.make_key
