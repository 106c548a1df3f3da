"""Request logs say who asked what and how it went, never the text, the question or the key."""

from __future__ import annotations

import logging

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

pytestmark = pytest.mark.unit

SECRET_TEXT = "My bank PIN is 4921 and my password is hunter2, please summarise my diary."
SECRET_QUESTION = "What is the PIN 4921 for?"
API_KEY = "log-test-key-d81e"


async def test_request_log_lines_carry_metadata_but_no_content(start_server, caplog):
    server = await start_server(api_keys=f"{API_KEY}:process", allow_unauthenticated=False)
    metadata = (("authorization", f"Bearer {API_KEY}"), ("x-request-id", "req-42"))
    caplog.set_level(logging.INFO)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        request = pb.ProcessRequest(text=SECRET_TEXT, operation=pb.OPERATION_QA, question=SECRET_QUESTION)
        await stub.Process(request, metadata=metadata)
        await stub.Process(request, metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Process(pb.ProcessRequest(text=SECRET_TEXT, operation=pb.OPERATION_QA), metadata=metadata)

    lines = [r.getMessage() for r in caplog.records if r.name == "aitext.requests"]
    assert len(lines) == 3, lines
    assert all("request_id=req-42" in line and "operation=qa" in line for line in lines)
    assert f"text_len={len(SECRET_TEXT)}" in lines[0]
    assert [line.split("outcome=")[1].split()[0] for line in lines] == ["miss", "hit:memory", "error:INVALID_ARGUMENT"]
    assert all("latency_ms=" in line for line in lines)

    everything = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in ("4921", "hunter2", API_KEY, "diary"):
        assert secret not in everything
