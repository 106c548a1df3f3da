"""One request's path: key -> cache -> model -> typed response."""

from __future__ import annotations

import time
from typing import Protocol

from aitext.cache import keys
from aitext.cache.response_cache import ResponseCache
from aitext.config import Settings
from aitext.processing.results import OperationResult
from aitext.security.tenants import Tenant
from aitext.v1 import aitext_pb2 as pb
from aitext.validation import ValidRequest


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

    async def process(self, request: ValidRequest, timeout: float | None) -> pb.ProcessResponse:
        started = time.perf_counter()
        key = self.key_for(request)

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
            key,
            operation=request.spec.name,
            text_len=len(request.text),
            control=request.control,
            compute=compute,
            tenant=request.tenant.name,
            options=request.options,
        )
        response = outcome.response
        response.cache.hit = outcome.hit
        response.cache.tier = outcome.tier
        response.cache.key = key
        response.cache.age_seconds = outcome.age_seconds
        response.processing_time_ms = (time.perf_counter() - started) * 1000
        return response
