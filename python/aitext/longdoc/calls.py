"""One model call of a long request, cached under its own key, and the figures of the request.

A chunk's map result is keyed by the chunk's digest, a reduce step by its input text; both
go through the response cache like whole answers (same tiers, TTLs, single-flight and
invalidation: the keys carry the operation in clear, docs/cache-keys.md "Chunk entries").
A call's result is stored as the ProcessResponse it would fill, and read back from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aitext.cache.response_cache import ResponseCache
from aitext.operations import BY_NAME
from aitext.processing.results import OperationResult
from aitext.tracing import span
from aitext.v1 import aitext_pb2 as pb
from aitext.v1.aitext_pb2 import ProcessResponse

# (text or digest hex, stage, options) -> cache key; the pipeline binds the rest (namespace included).
KeyMaker = Callable[[str, str, dict[str, int]], str]
MAP, REDUCE = "map", "reduce"


class ModelRunner(Protocol):
    """What a cached call needs of the processor (processing.processor.AgentProcessor is one)."""

    model_name: str
    prompt_version: str

    async def run(
        self, operation: str, text: str, options: dict[str, int], question: str, *, timeout: float | None = None
    ) -> OperationResult: ...


@dataclass(slots=True)
class Figures:
    """What a long request did: ProcessResponse.chunks."""

    total: int = 0
    cached: int = 0
    map_calls: int = 0
    reduce_calls: int = 0

    def info(self) -> pb.ChunkInfo:
        return pb.ChunkInfo(
            total=self.total,
            cached=self.cached,
            model_calls=self.map_calls + self.reduce_calls,
            reduce_calls=self.reduce_calls,
        )


class CachedCalls:
    def __init__(
        self,
        processor: ModelRunner,
        cache: ResponseCache,
        key: KeyMaker,
        *,
        operation: str,
        question: str,
        tenant: str,
        control: pb.CacheControl,
        deadline: float | None,
    ) -> None:
        self._processor = processor
        self._cache = cache
        self._key = key
        self.operation = operation
        self.question = question
        self._tenant = tenant
        self._control = control
        self._deadline = deadline
        self.figures = Figures()

    def remaining(self) -> float | None:
        """What is left of the request's deadline, for the next model call."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    async def map(self, text: str, digest: bytes, options: dict[str, int]) -> OperationResult:
        """The map result of one chunk, from the cache when it holds it."""
        result, hit = await self._cached(self._key(digest.hex(), MAP, options), text, options, MAP)
        metrics = self._cache.metrics
        metrics.count_chunk(hit)
        if hit:
            self.figures.cached += 1
        return result

    async def reduce(self, text: str, options: dict[str, int]) -> OperationResult:
        """One reduce step over `text` (cached too: an unchanged input is never paid for twice)."""
        result, _ = await self._cached(self._key(text, REDUCE, options), text, options, REDUCE)
        return result

    async def answer(self, text: str) -> OperationResult:
        """A call whose result is the request's answer (qa over its best chunks): not cached on its own."""
        self.figures.reduce_calls += 1
        with span("longdoc.answer", {"aitext.text_len": len(text)}):
            return await self._processor.run(self.operation, text, {}, self.question, timeout=self.remaining())

    async def _cached(self, key: str, text: str, options: dict[str, int], stage: str) -> tuple[OperationResult, bool]:
        spec = BY_NAME[self.operation]

        async def compute() -> ProcessResponse:
            if stage == MAP:
                self.figures.map_calls += 1
            else:
                self.figures.reduce_calls += 1
            result = await self._processor.run(self.operation, text, options, self.question, timeout=self.remaining())
            response = ProcessResponse(
                operation=spec.enum, model=self._processor.model_name, prompt_version=self._processor.prompt_version
            )
            result.fill(response)
            return response

        attributes: dict[str, str | int] = {"aitext.operation": self.operation, "aitext.text_len": len(text)}
        with span(f"longdoc.{stage}", attributes) as current:
            outcome = await self._cache.get_or_compute(
                key,
                operation=self.operation,
                text_len=len(text),
                control=self._control,
                compute=compute,
                tenant=self._tenant,
                options=options,
                count_lookups=False,
                deadline=self._deadline,
            )
            current.set_attribute("aitext.cache.hit", outcome.hit)
        return spec.result_type.read(outcome.response), outcome.hit
