"""One request's path: key -> cache -> model -> typed response."""

from __future__ import annotations

import time
from asyncio import to_thread
from typing import Protocol

from aitext.cache import keys
from aitext.cache.response_cache import ResponseCache
from aitext.config import Settings
from aitext.processing.results import OperationResult
from aitext.v1 import aitext_pb2 as pb
from aitext.validation import ValidRequest

THREADED_KEY_CHARS = 1 << 20


class Processor(Protocol):
    """What the pipeline and the servicer need of a processor (processing.processor.AgentProcessor is one)."""

    model_name: str
    prompt_version: str

    @property
    def circuit_state(self) -> str: ...

    async def run(
        self, operation: str, text: str, options: dict[str, int], question: str, *, timeout: float | None = None
    ) -> OperationResult: ...


class Pipeline:
    def __init__(self, settings: Settings, processor: Processor, cache: ResponseCache) -> None:
        self._settings = settings
        self._processor = processor
        self._cache = cache
        self.key_backend = keys.configure(settings.key_backend)
        self._make_key = keys.key_function()

    def key_for(self, request: ValidRequest) -> str:
        started = time.perf_counter()
        key = self._make_key(
            request.text,
            request.spec.name,
            request.options,
            request.question,
            self._processor.model_name,
            self._processor.prompt_version,
            self._settings.cache_namespace,
        )
        self._cache.observe_key_latency(len(request.text), self.key_backend, time.perf_counter() - started)
        return key

    async def process(self, request: ValidRequest, timeout: float | None) -> pb.ProcessResponse:
        started = time.perf_counter()
        # Hashing a long text takes milliseconds with the GIL released: in a thread, the loop serves on.
        key = (
            self.key_for(request) if len(request.text) < THREADED_KEY_CHARS else await to_thread(self.key_for, request)
        )

        async def compute() -> pb.ProcessResponse:
            result = await self._processor.run(
                request.spec.name, request.text, request.options, request.question, timeout=timeout
            )
            response = pb.ProcessResponse(
                operation=request.spec.enum,
                model=self._processor.model_name,
                prompt_version=self._processor.prompt_version,
            )
            result.fill(response)
            return response

        outcome = await self._cache.get_or_compute(
            key, operation=request.spec.name, text_len=len(request.text), control=request.control, compute=compute
        )
        response = outcome.response
        response.cache.hit = outcome.hit
        response.cache.tier = outcome.tier
        response.cache.key = key
        response.cache.age_seconds = outcome.age_seconds
        response.processing_time_ms = (time.perf_counter() - started) * 1000
        return response
