"""One request's path: key -> cache -> model -> typed response."""

from __future__ import annotations

import asyncio
import time
from asyncio import to_thread
from collections.abc import Callable
from typing import Protocol

from aitext.cache import keys
from aitext.cache.response_cache import ResponseCache
from aitext.config import Settings
from aitext.longdoc.engine import LongDocuments
from aitext.processing.results import OperationResult
from aitext.security.tenants import Tenant
from aitext.tracing import span
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


# Called after each finished chunk of a long text, and once when its reduce starts.
Progress = Callable[[pb.ProcessProgress], None]


class Pipeline:
    def __init__(self, settings: Settings, processor: Processor, cache: ResponseCache) -> None:
        self._settings = settings
        self._processor = processor
        self._cache = cache
        self.key_backend = keys.configure(settings.key_backend)
        self._make_key = keys.key_function()
        # Raises ConfigError at start-up when the model's input budget cannot hold a minimal prompt.
        self.long_documents = LongDocuments(settings, processor, cache)
        self._namespaces: dict[tuple[str, bool], str] = {}

    def namespace_for(self, tenant: Tenant) -> str:
        """The namespace of every cache key made for `tenant`'s requests (docs/cache-keys.md, Tenants).

        `{base}:t:{tenant}`, a partition of its own, or `{base}:shared` for a tenant in the shared
        pool. The one place this is decided: whole answers and their parts (chunk entries) use it alike.
        """
        namespace = self._namespaces.get((tenant.name, tenant.shared))
        if namespace is None:
            base = self._settings.cache_namespace
            namespace = f"{base}:shared" if tenant.shared else f"{base}:t:{tenant.name}"
            self._namespaces[(tenant.name, tenant.shared)] = namespace
        return namespace

    def key_for(self, request: ValidRequest) -> str:
        started = time.perf_counter()
        attributes: dict[str, str | int] = {"aitext.operation": request.spec.name, "aitext.text_len": len(request.text)}
        with span("cache.key", attributes):  # never the key itself
            key = self._make_key(
                request.text,
                request.spec.name,
                request.options,
                request.question,
                self._processor.model_name,
                self._processor.prompt_version,
                self.namespace_for(request.tenant),
            )
        self._cache.observe_key_latency(len(request.text), self.key_backend, time.perf_counter() - started)
        return key

    def chunk_key_for(self, request: ValidRequest, text: str, stage: str, options: dict[str, int]) -> str:
        """The key of one map or reduce result of a long text (docs/cache-keys.md, "Chunk entries")."""
        return self._make_key(
            text,
            request.spec.name,
            options,
            request.question,
            self._processor.model_name,
            f"{self._processor.prompt_version}/{stage}",
            self.namespace_for(request.tenant),
        )

    async def process(
        self, request: ValidRequest, timeout: float | None, progress: Progress | None = None
    ) -> pb.ProcessResponse:
        started = time.perf_counter()
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        # Hashing a long text takes milliseconds with the GIL released: in a thread, the loop serves on.
        key = (
            self.key_for(request) if len(request.text) < THREADED_KEY_CHARS else await to_thread(self.key_for, request)
        )

        async def compute() -> pb.ProcessResponse:
            response = pb.ProcessResponse(
                operation=request.spec.enum,
                model=self._processor.model_name,
                prompt_version=self._processor.prompt_version,
            )
            if self.long_documents.needed(request):
                result, chunks = await self.long_documents.process(
                    request,
                    lambda text, stage, options: self.chunk_key_for(request, text, stage, options),
                    deadline,
                    progress,
                )
                response.chunks.CopyFrom(chunks)
            else:
                result = await self._processor.run(
                    request.spec.name, request.text, request.options, request.question, timeout=timeout
                )
            result.fill(response)
            return response

        outcome = await self._cache.get_or_compute(
            key,
            operation=request.spec.name,
            text_len=len(request.text),
            control=request.control,
            compute=compute,
            tenant=request.tenant.name,
            options=request.options,
            deadline=deadline,
        )
        response = outcome.response
        if outcome.hit and response.HasField("chunks"):
            # The whole answer came from the cache: this request made no chunk lookups and no model calls.
            response.chunks.CopyFrom(pb.ChunkInfo(total=response.chunks.total))
        response.cache.hit = outcome.hit
        response.cache.tier = outcome.tier
        response.cache.key = key
        response.cache.age_seconds = outcome.age_seconds
        response.processing_time_ms = (time.perf_counter() - started) * 1000
        return response
