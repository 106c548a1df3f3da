"""Long documents on a remote model: a fake OpenAI-compatible provider with a 32 KB context window.

Before map-reduce, a 1 MB summarize against this provider failed: the whole text went into one
prompt, the provider answered 400 `context_length_exceeded`, and the caller got

    UNAVAILABLE: the model provider is unavailable: openai:fake-model: request rejected
    (ModelContextWindowExceededError)

Now every operation succeeds on 1 MB and 10 MB texts and no prompt the provider receives is over
its window; an edit costs the chunks it changed, failures are retried per chunk, and the chunk
results that succeeded before a failure are not paid for again.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import grpc
import pytest
from aitext.cache.response_cache import ResponseCache
from aitext.chunking import chunker
from aitext.config import Settings
from aitext.longdoc import budget
from aitext.longdoc.budget import Plan
from aitext.pipeline import Pipeline
from aitext.processing import prompts
from aitext.processing.processor import build_processor
from aitext.processing.unavailable import ProviderUnavailable
from aitext.security.tenants import ANONYMOUS, Tenants
from aitext.stats import fill_cache_stats
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from aitext.validation import validate_process
from prometheus_client import generate_latest

from tests.fixtures.documents import document, paragraphs
from tests.fixtures.fake_provider import Fail, FakeProvider

pytestmark = pytest.mark.integration

WINDOW = 32 * 1024
MB = 1_000_000
QUESTION = "How many flights did the regional authority handle at the new terminal?"


def user_message(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def document_of(body: dict[str, Any]) -> str:
    return prompts.parse_user_message(user_message(body))[3]


def answers_from_the_text(tool: str, body: dict[str, Any]) -> dict[str, Any]:
    """A model that reads: its outputs come from the document it was shown (its first sentences)."""
    sentences = [s.strip() + "." for s in document_of(body).replace("\n", " ").split(". ") if s.strip()]
    first = sentences[0] if sentences else "Nothing."
    if tool == "submit_summary":  # changes whenever the text shown does, as a real summary would
        return {
            "summary": f"{' '.join(first.split()[:10])} ({hashlib.blake2b(document_of(body).encode()).hexdigest()[:8]})"
        }
    if tool == "submit_key_points":
        return {"points": sentences[:2] or [first]}
    if tool == "submit_questions":
        return {"questions": [f"What does the text say about {' '.join(s.split()[1:4])}?" for s in sentences[:2]]}
    if tool == "submit_sentiment":
        bad = sum(document_of(body).count(w) for w in ("failure", "frustrated", "criticised"))
        good = sum(document_of(body).count(w) for w in ("success", "delighted", "praised"))
        label = "positive" if good > bad else "negative" if bad > good else "neutral"
        return {"label": label, "confidence": 0.8, "explanation": f"{good} good words, {bad} bad words."}
    return {"answer": first}


def provider_settings(fake: FakeProvider, **overrides: Any) -> Settings:
    fake.max_prompt_bytes = WINDOW
    fake.responder = answers_from_the_text
    values: dict[str, Any] = {"model_max_input_bytes": WINDOW, "map_concurrency": 8}
    values.update(overrides)
    return fake.settings(**values)


# The settings that point a test server at the fake provider.
OVERRIDES = (
    "model",
    "openai_base_url",
    "openai_api_key",
    "provider_retries",
    "provider_timeout_seconds",
    "provider_backoff_initial_seconds",
    "provider_backoff_max_seconds",
    "model_max_input_bytes",
    "map_concurrency",
)


def server_overrides(settings: Settings) -> dict[str, Any]:
    return {name: value for name, value in settings.model_dump().items() if name in OVERRIDES}


def pipeline(settings: Settings) -> Pipeline:
    return Pipeline(settings, build_processor(settings), ResponseCache(settings))


def request(text: str, operation: pb.Operation) -> pb.ProcessRequest:
    return pb.ProcessRequest(text=text, operation=operation, question=QUESTION if operation == pb.OPERATION_QA else "")


async def process(p: Pipeline, settings: Settings, message: pb.ProcessRequest) -> pb.ProcessResponse:
    return await p.process(validate_process(message, settings, tenant=Tenants(settings).get(ANONYMOUS)), 120.0)


def digests(text: str, operation: str = "summarize", options: dict[str, int] | None = None) -> list[bytes]:
    plan = Plan.for_room(budget.room(WINDOW, operation, options or {"max_length": 100}, ""))
    return [c[4] for c in chunker(None)(text, plan.target_bytes, plan.min_bytes, plan.max_bytes)]


def map_calls(fake: FakeProvider, text: str, since: int = 0) -> int:
    """Requests that were shown a chunk of `text` (a reduce step is shown summaries instead)."""
    return sum(1 for body in fake.requests[since:] if document_of(body) in text and len(document_of(body)) > 1000)


@pytest.mark.parametrize("size", [MB, 10 * MB], ids=["1MB", "10MB"])
async def test_every_operation_succeeds_on_long_texts_within_the_window(fake_provider: FakeProvider, size: int) -> None:
    settings = provider_settings(fake_provider, map_concurrency=16)
    p = pipeline(settings)
    text = document(size)

    responses = {op: await process(p, settings, request(text, op)) for op in pb.Operation.values() if op}

    assert max(fake_provider.prompt_sizes) <= WINDOW
    assert fake_provider.attempts == sum(r.chunks.model_calls for r in responses.values())
    summary = responses[pb.OPERATION_SUMMARIZE]
    assert summary.summary and len(summary.summary.split()) <= 100
    assert summary.chunks.total == len(digests(text)) > (size // 20_000)
    assert summary.chunks.reduce_calls >= 1
    # merged and de-duplicated (the fake's outputs repeat the templates' wording, so fewer may survive)
    assert 3 <= len(responses[pb.OPERATION_KEY_POINTS].key_points.points) <= 5
    assert 3 <= len(responses[pb.OPERATION_QUESTIONS].questions.questions) <= 5
    assert responses[pb.OPERATION_SENTIMENT].sentiment.label != pb.SENTIMENT_LABEL_UNSPECIFIED
    assert responses[pb.OPERATION_QA].answer and responses[pb.OPERATION_QA].chunks.model_calls == 1
    (asked,) = [body for body in fake_provider.requests if body["tools"][0]["function"]["name"] == "submit_answer"]
    shown = document_of(asked)
    assert len(shown) < WINDOW
    # BM25 picked the chunks about the question: the airport's sentences are denser there
    assert shown.count("flights") / len(shown) > 2 * text.count("flights") / len(text)


async def test_editing_one_middle_paragraph_costs_the_changed_chunks(fake_provider: FakeProvider) -> None:
    settings = provider_settings(fake_provider)
    cache = ResponseCache(settings)
    p = Pipeline(settings, build_processor(settings), cache)
    text = document(MB)
    parts = paragraphs(text)
    middle = len(parts) // 2
    edited = "\n\n".join([*parts[:middle], parts[middle].replace(" the ", " a ", 1), *parts[middle + 1 :]])
    assert edited != text

    first = await process(p, settings, request(text, pb.OPERATION_SUMMARIZE))
    before = fake_provider.attempts
    second = await process(p, settings, request(edited, pb.OPERATION_SUMMARIZE))

    changed = len(set(digests(edited)) - set(digests(text)))
    assert 1 <= changed <= 2
    figures = second.chunks
    assert figures.model_calls == fake_provider.attempts - before  # the response says what happened
    assert figures.model_calls <= changed + figures.reduce_calls
    assert figures.reduce_calls >= 1  # the final summary's input changed with the chunk's summary
    assert figures.model_calls - figures.reduce_calls == changed == map_calls(fake_provider, edited, before)
    assert figures.cached == figures.total - changed
    stats = pb.GetCacheStatsResponse()
    fill_cache_stats(stats, cache)
    assert (stats.chunk_hits, stats.chunk_misses) == (figures.cached, first.chunks.total + changed)
    assert stats.model_calls_saved == figures.cached
    exposed = generate_latest(cache.metrics.registry).decode()
    assert f'aitext_cache_chunk_lookups_total{{result="hit"}} {float(figures.cached)}' in exposed
    assert f"aitext_cache_model_calls_saved_total {float(figures.cached)}" in exposed
    assert first.chunks.model_calls == first.chunks.total + first.chunks.reduce_calls
    assert not second.cache.hit

    # The whole-request key is still the first lookup: no chunk is looked up on its hit.
    before = fake_provider.attempts
    third = await process(p, settings, request(edited, pb.OPERATION_SUMMARIZE))
    assert third.cache.hit and third.summary == second.summary
    assert third.chunks == pb.ChunkInfo(total=figures.total)
    assert fake_provider.attempts == before
    assert cache.metrics.chunk_counts() == (stats.chunk_hits, stats.chunk_misses)


def test_inserting_a_paragraph_at_the_start_keeps_95_percent_of_chunk_digests() -> None:
    text = document(MB)
    inserted = "A new opening paragraph about the harbour. It was written after the report was finished.\n\n" + text

    old, new = digests(text), set(digests(inserted))

    kept = sum(1 for d in old if d in new)
    assert kept / len(old) >= 0.95, (kept, len(old))


async def test_a_provider_failing_on_one_chunk_is_retried(fake_provider: FakeProvider) -> None:
    settings = provider_settings(fake_provider)
    p = pipeline(settings)
    text = document(MB)
    marked = paragraphs(text)[300][:60]
    failures: list[int] = []

    def fail_once_on_the_marked_chunk(body: dict[str, Any]) -> Fail | None:
        if marked in document_of(body) and not failures:
            failures.append(1)
            return Fail(503, "overloaded")
        return None

    fake_provider.rule = fail_once_on_the_marked_chunk

    response = await process(p, settings, request(text, pb.OPERATION_SUMMARIZE))

    asked = [body for body in fake_provider.requests if marked in document_of(body)]
    assert failures == [1] and len(asked) >= 2  # the failed call, then its retry
    assert fake_provider.attempts == response.chunks.model_calls + 1
    assert response.summary


async def provider_quiet(provider: FakeProvider, seconds: float = 0.5) -> None:
    """Returns once the provider has received no request for `seconds`."""
    seen = provider.attempts
    while True:
        await asyncio.sleep(seconds)
        if provider.attempts == seen:
            return
        seen = provider.attempts


async def test_exhausted_retries_fail_unavailable_and_the_next_call_reuses_the_chunks_that_succeeded(
    fake_provider: FakeProvider, start_server: Any
) -> None:
    settings = provider_settings(fake_provider, map_concurrency=4, provider_retries=1)
    server = await start_server(**server_overrides(settings))
    text = document(MB)
    marked = paragraphs(text)[len(paragraphs(text)) * 3 // 4][:60]  # late in the text: earlier chunks finish
    fake_provider.rule = lambda body: Fail(500, "down for this one") if marked in document_of(body) else None

    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.Process(request(text, pb.OPERATION_SUMMARIZE))
        # Requests the failed call sent before it was cancelled may still be on their way to the
        # provider: counted after `before`, they would look like the next call's.
        await provider_quiet(fake_provider)
        succeeded = sum(1 for body in fake_provider.requests if marked not in document_of(body))
        fake_provider.rule = None
        before = fake_provider.attempts
        again = await stub.Process(request(text, pb.OPERATION_SUMMARIZE))

    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not again.cache.hit  # no final answer was cached by the failed call
    figures = again.chunks
    assert 0 < figures.cached <= succeeded
    assert figures.cached >= succeeded - settings.map_concurrency  # at most the calls cancelled in flight
    assert figures.model_calls == figures.total - figures.cached + figures.reduce_calls
    assert fake_provider.attempts - before == figures.model_calls


async def test_invalidating_an_operation_removes_its_chunk_entries(
    fake_provider: FakeProvider, start_server: Any, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    settings = provider_settings(fake_provider)
    namespace = f"longdoc{id(settings)}"
    server = await start_server(
        redis_url=redis_url,
        cache_namespace=namespace,
        **server_overrides(settings),
    )
    partition = f"{namespace}:t:anonymous"  # no API keys: every call is the anonymous tenant's
    text = document(300_000)
    client = aioredis.from_url(redis_url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.TextServiceStub(channel)
            first = await stub.Process(request(text, pb.OPERATION_SUMMARIZE))
            points = await stub.Process(request(text, pb.OPERATION_KEY_POINTS))
            summarize_keys = [k async for k in client.scan_iter(f"{partition}:v1:summarize:*")]
            # the whole answer, one entry per chunk, and the reduce steps
            assert len(summarize_keys) == 1 + first.chunks.total + first.chunks.reduce_calls

            deleted = await stub.InvalidateCache(pb.InvalidateCacheRequest(operation=pb.OPERATION_SUMMARIZE))

            assert deleted.deleted == len(summarize_keys)
            assert [k async for k in client.scan_iter(f"{partition}:v1:summarize:*")] == []
            assert [k async for k in client.scan_iter(f"{partition}:v1:key_points:*")]  # other operations stay
            before = fake_provider.attempts
            again = await stub.Process(request(text, pb.OPERATION_SUMMARIZE))
            assert again.chunks.cached == 0
            assert fake_provider.attempts - before == again.chunks.model_calls == first.chunks.model_calls
            stats = await stub.GetCacheStats(pb.GetCacheStatsRequest())
            assert stats.chunk_misses == 2 * first.chunks.total + points.chunks.total
            assert stats.chunk_hits == stats.model_calls_saved == 0

    finally:
        await client.aclose()


def test_aitext_serve_refuses_a_budget_too_small_for_a_prompt_and_a_chunk() -> None:
    import os
    import subprocess

    from tests.fixtures.server import AITEXT

    env = {k: v for k, v in os.environ.items() if not k.startswith("AITEXT_")}
    env.update(
        AITEXT_MODEL_MAX_INPUT_BYTES="2000",
        AITEXT_ALLOW_UNAUTHENTICATED="true",
        AITEXT_HOST="127.0.0.1",
        AITEXT_PORT="0",
        AITEXT_METRICS_PORT="0",
    )

    done = subprocess.run([str(AITEXT), "serve"], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert "AITEXT_MODEL_MAX_INPUT_BYTES=2000 is too small" in done.stderr
    assert "set it to" in done.stderr


async def test_a_budget_over_the_window_gives_what_every_long_text_got_before(fake_provider: FakeProvider) -> None:
    """The docstring's "before": the whole text in one prompt, refused by the provider, UNAVAILABLE."""
    settings = provider_settings(fake_provider, model_max_input_bytes=64 * MB)
    p = pipeline(settings)

    with pytest.raises(ProviderUnavailable) as caught:
        await process(p, settings, request(document(MB), pb.OPERATION_SUMMARIZE))

    assert "request rejected (ModelContextWindowExceededError)" in str(caught.value)
    assert fake_provider.attempts == 1 and fake_provider.prompt_sizes[0] > MB
