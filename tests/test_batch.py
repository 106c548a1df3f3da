"""ProcessBatch streams one result per item, with per-item errors."""

from __future__ import annotations

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb

pytestmark = pytest.mark.unit

SENTENCES = [
    "The harbour town rebuilt its sea wall after the storm of 1953.",
    "Volunteers planted dune grass along twelve kilometres of coast.",
    "Tourism returned within three summers, and the ferry doubled its crossings.",
    "Fishermen still tell stories about the night the water came in.",
]


async def test_batch_of_twenty_streams_every_index_with_one_bad_item(stub):
    requests = [
        pb.ProcessRequest(text=" ".join(SENTENCES[i % 4 :] + SENTENCES[: i % 4]) + f" Item {i}.", operation=op)
        for i, op in zip(range(20), [pb.OPERATION_SUMMARIZE, pb.OPERATION_SENTIMENT, pb.OPERATION_KEY_POINTS] * 7)
    ]
    bad_index = 13
    requests[bad_index] = pb.ProcessRequest(text="   ", operation=pb.OPERATION_SUMMARIZE)

    results = [item async for item in stub.ProcessBatch(pb.ProcessBatchRequest(requests=requests, max_concurrency=4))]

    assert sorted(r.index for r in results) == list(range(20))
    by_index = {r.index: r for r in results}
    bad = by_index[bad_index]
    assert bad.WhichOneof("outcome") == "error"
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert f"requests[{bad_index}].text" in bad.error.message
    for index, result in by_index.items():
        if index != bad_index:
            assert result.WhichOneof("outcome") == "response", result
            assert result.response.operation == requests[index].operation
            assert result.response.WhichOneof("result") is not None


async def test_batch_results_stream_before_the_batch_ends(stub):
    """The first result arrives while later items are still being processed (drives progress bars)."""
    long_text = " ".join(SENTENCES * 2000)
    requests = [pb.ProcessRequest(text="Short and happy. What a lovely day!", operation=pb.OPERATION_SENTIMENT)]
    requests += [pb.ProcessRequest(text=long_text + f" {i}", operation=pb.OPERATION_KEY_POINTS) for i in range(6)]
    call = stub.ProcessBatch(pb.ProcessBatchRequest(requests=requests, max_concurrency=1))
    first = await call.read()
    assert first.index == 0
    # The other items are still pending on the server at this point: the stream is not done.
    assert not call.done()
    rest = []
    while (item := await call.read()) is not grpc.aio.EOF:
        rest.append(item)
    assert sorted(r.index for r in rest) == list(range(1, 7))
