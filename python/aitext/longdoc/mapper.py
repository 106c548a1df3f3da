"""Every chunk's map result, at most `concurrency` model calls at a time, with progress after each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aitext.chunking import Chunk
from aitext.longdoc.calls import CachedCalls
from aitext.processing.results import OperationResult
from aitext.v1 import aitext_pb2 as pb

Progress = Callable[[pb.ProcessProgress], None]
T = TypeVar("T")


async def map_chunks(
    calls: CachedCalls,
    text: str,
    chunks: Sequence[Chunk],
    options: dict[str, int],
    *,
    concurrency: int,
    progress: Progress | None,
) -> list[OperationResult]:
    """The map results in chunk order; the first failure cancels the rest and is raised.

    Results that finished before a failure are already in the cache, so a retry of the
    request pays only for the chunks that had not.
    """

    async def one(index: int) -> OperationResult:
        start, end, _, _, digest = chunks[index]
        return await calls.map(text[start:end], digest, options)

    def finished(done: int) -> None:
        if progress is not None:
            progress(
                pb.ProcessProgress(
                    chunks_done=done, chunks_total=len(chunks), chunks_cached=calls.figures.cached, stage="map"
                )
            )

    return await bounded(len(chunks), one, concurrency, finished)


async def bounded(
    count: int, job: Callable[[int], Awaitable[T]], concurrency: int, finished: Callable[[int], None] | None = None
) -> list[T]:
    """job(0) ... job(count - 1) by `concurrency` workers; results in index order."""
    found: dict[int, T] = {}
    pending = iter(range(count))

    async def worker() -> None:
        for index in pending:  # one shared iterator: each index goes to one worker
            found[index] = await job(index)
            if finished is not None:
                finished(len(found))

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, count))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return [found[index] for index in range(count)]
