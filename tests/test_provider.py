"""The real-provider path, over HTTP to an OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
from aitext.config import Settings
from aitext.processing import prompts
from aitext.processing.processor import AgentProcessor, build_processor
from aitext.processing.results import (
    AnswerResult,
    KeyPointsResult,
    QuestionsResult,
    SentimentResult,
    SummaryResult,
)
from aitext.processing.unavailable import ProviderUnavailable

from tests.fixtures.fake_provider import CANNED, MODEL, Fail, FakeProvider, Hang, Reply, Text

pytestmark = pytest.mark.integration

TEXT = "The bridge closed in March for repairs. It reopened in June with a new bike lane."
CASES = [
    ("summarize", {"max_length": 50}, "", SummaryResult),
    ("sentiment", {}, "", SentimentResult),
    ("key_points", {"max_points": 5}, "", KeyPointsResult),
    ("questions", {"num_questions": 5}, "", QuestionsResult),
    ("qa", {}, "When did the bridge reopen?", AnswerResult),
]


async def _wait_for_state(processor: AgentProcessor, state: str) -> None:
    for _ in range(500):
        if processor.circuit_state == state:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"breaker never became {state}")


@pytest.mark.parametrize(("operation", "options", "question", "result_type"), CASES, ids=[c[0] for c in CASES])
async def test_structured_output_from_the_provider_is_parsed(
    fake_provider: FakeProvider, operation: str, options: dict[str, int], question: str, result_type: type
) -> None:
    processor = build_processor(fake_provider.settings())
    result = await processor.run(operation, TEXT, options, question)

    assert isinstance(result, result_type)
    tool, _ = prompts.OUTPUT_TOOLS[operation]
    assert result.model_dump() == CANNED[tool]
    (request,) = fake_provider.requests
    assert request["model"] == MODEL
    assert [t["function"]["name"] for t in request["tools"]] == [tool]
    system, user = request["messages"][0], request["messages"][-1]
    assert system["role"] == "system" and prompts.TASKS[operation] in system["content"]
    assert user["role"] == "user"
    assert prompts.parse_user_message(user["content"]) == (operation, options, question, TEXT)
    assert fake_provider.headers[0]["authorization"] == "Bearer test-key"
    assert processor.model_name == f"openai:{MODEL}"


def test_model_name_and_prompt_version() -> None:
    remote = build_processor(Settings(model="openai:gpt-4o-mini", openai_base_url="http://127.0.0.1:9/v1"))
    offline = build_processor(Settings(model="local"))
    assert (remote.model_name, offline.model_name) == ("openai:gpt-4o-mini", "local")
    # The local model's algorithms are part of its version; both are stable across builds.
    assert remote.prompt_version != offline.prompt_version
    assert build_processor(Settings(model="local")).prompt_version == offline.prompt_version


def test_base_url_needs_an_openai_model() -> None:
    with pytest.raises(ValueError, match="openai:<model>"):
        build_processor(Settings(model="anthropic:claude-sonnet-4-5", openai_base_url="http://127.0.0.1:9/v1"))


async def test_server_error_exhausts_the_retries(fake_provider: FakeProvider) -> None:
    fake_provider.default = Fail(500)
    processor = build_processor(fake_provider.settings(provider_retries=3))
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("summarize", TEXT, {"max_length": 50}, "")
    assert raised.value.reason == "retries_exhausted"
    assert raised.value.attempts == 4
    # One HTTP request per attempt: the OpenAI SDK's own retries are off.
    assert fake_provider.attempts == 4


async def test_zero_retries_means_one_attempt(fake_provider: FakeProvider) -> None:
    fake_provider.default = Fail(503)
    processor = build_processor(fake_provider.settings(provider_retries=0))
    with pytest.raises(ProviderUnavailable):
        await processor.run("sentiment", TEXT, {}, "")
    assert fake_provider.attempts == 1


async def test_hanging_provider_times_out_after_the_retries(fake_provider: FakeProvider) -> None:
    fake_provider.default = Hang()
    processor = build_processor(fake_provider.settings(provider_retries=2, provider_timeout_seconds=0.2))
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("sentiment", TEXT, {}, "")
    assert raised.value.reason == "timeout"
    assert fake_provider.attempts == 3


async def test_caller_deadline_bounds_all_attempts(fake_provider: FakeProvider) -> None:
    fake_provider.default = Hang()
    processor = build_processor(fake_provider.settings(provider_retries=5, provider_timeout_seconds=120))
    with pytest.raises(ProviderUnavailable) as raised:
        # Not a timing assertion: the outer bound only turns "the deadline was ignored and the
        # call waited for the 120 s provider timeout" into a failure instead of a long hang.
        await asyncio.wait_for(processor.run("sentiment", TEXT, {}, "", timeout=0.3), 30)
    assert raised.value.reason == "timeout"
    # The first attempt used up the whole deadline: no retry was started after it.
    assert fake_provider.attempts == 1


async def test_transient_failures_are_retried_until_success(fake_provider: FakeProvider) -> None:
    fake_provider.script(Fail(503), Fail(429), Fail(502))
    processor = build_processor(fake_provider.settings(provider_retries=3))
    result = await processor.run("qa", TEXT, {}, "When did the bridge reopen?")
    assert result == AnswerResult(**CANNED["submit_answer"])
    assert fake_provider.attempts == 4
    assert processor.circuit_state == "closed"


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_client_errors_are_not_retried(fake_provider: FakeProvider, status: int) -> None:
    fake_provider.default = Fail(status)
    processor = build_processor(fake_provider.settings(provider_retries=3, breaker_failure_threshold=1))
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("summarize", TEXT, {"max_length": 50}, "")
    assert raised.value.reason == "rejected"
    assert fake_provider.attempts == 1
    # A refused request says nothing about the provider being down.
    assert processor.circuit_state == "closed"


async def test_breaker_opens_fails_fast_and_closes_after_a_good_probe(fake_provider: FakeProvider) -> None:
    fake_provider.default = Fail(500)
    processor = build_processor(
        fake_provider.settings(provider_retries=2, breaker_failure_threshold=3, breaker_reset_seconds=0.3)
    )
    assert processor.circuit_state == "closed"
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("summarize", TEXT, {"max_length": 50}, "")
    assert raised.value.reason == "retries_exhausted"
    assert fake_provider.attempts == 3
    assert processor.circuit_state == "open"

    for _ in range(3):
        with pytest.raises(ProviderUnavailable) as raised:
            await processor.run("summarize", TEXT, {"max_length": 50}, "")
        assert raised.value.reason == "circuit_open"
        assert raised.value.attempts == 0
        assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert fake_provider.attempts == 3  # failing fast: nothing reached the provider

    fake_provider.default = Reply()
    await _wait_for_state(processor, "half_open")
    result = await processor.run("summarize", TEXT, {"max_length": 50}, "")
    assert result == SummaryResult(**CANNED["submit_summary"])
    assert fake_provider.attempts == 4
    assert processor.circuit_state == "closed"


async def test_failed_probe_reopens_the_breaker_without_retrying(fake_provider: FakeProvider) -> None:
    fake_provider.default = Fail(503)
    processor = build_processor(
        fake_provider.settings(provider_retries=3, breaker_failure_threshold=2, breaker_reset_seconds=0.2)
    )
    with pytest.raises(ProviderUnavailable):
        await processor.run("sentiment", TEXT, {}, "")
    # The breaker opened after two failures; the retries stopped there instead of hammering on.
    assert fake_provider.attempts == 2
    await _wait_for_state(processor, "half_open")
    with pytest.raises(ProviderUnavailable):
        await processor.run("sentiment", TEXT, {}, "")
    assert fake_provider.attempts == 3
    assert processor.circuit_state == "open"


async def test_half_open_lets_one_probe_through(fake_provider: FakeProvider) -> None:
    fake_provider.default = Fail(500)
    processor = build_processor(
        fake_provider.settings(provider_retries=0, breaker_failure_threshold=1, breaker_reset_seconds=0.2)
    )
    with pytest.raises(ProviderUnavailable):
        await processor.run("sentiment", TEXT, {}, "")
    await _wait_for_state(processor, "half_open")
    fake_provider.default = Reply()
    fake_provider.script(Hang())
    probe = asyncio.ensure_future(processor.run("sentiment", TEXT, {}, "", timeout=1.0))
    while fake_provider.attempts < 2:
        await asyncio.sleep(0.01)
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("sentiment", TEXT, {}, "")
    assert raised.value.reason == "circuit_open"
    with pytest.raises(ProviderUnavailable):
        await probe
    assert fake_provider.attempts == 2


async def test_plain_text_instead_of_the_tool_call_is_invalid_output(fake_provider: FakeProvider) -> None:
    fake_provider.default = Text("Here is my summary: it was fine.")
    processor = build_processor(fake_provider.settings())
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("summarize", TEXT, {"max_length": 50}, "")
    assert raised.value.reason == "invalid_output"
    assert processor.circuit_state == "closed"


@pytest.mark.parametrize(
    "bad",
    [
        {"label": "furious", "confidence": 0.9, "explanation": "x"},
        {"label": "negative", "confidence": 1.5, "explanation": "x"},
        {"label": "negative", "confidence": 0.5, "explanation": "   "},
        {"label": "negative"},
    ],
)
async def test_out_of_bounds_output_is_sent_back_then_refused(fake_provider: FakeProvider, bad: dict) -> None:
    fake_provider.default = Reply(bad)
    processor = build_processor(fake_provider.settings())
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("sentiment", TEXT, {}, "")
    assert raised.value.reason == "invalid_output"
    assert fake_provider.attempts == 2  # the first answer was sent back once with the validation error


async def test_too_long_summary_is_sent_back_and_the_fix_accepted(fake_provider: FakeProvider) -> None:
    long = " ".join(["word"] * 30)
    fake_provider.script(Reply({"summary": long}), Reply({"summary": "The bridge reopened in June."}))
    processor = build_processor(fake_provider.settings())
    result = await processor.run("summarize", TEXT, {"max_length": 10}, "")
    assert result == SummaryResult(summary="The bridge reopened in June.")
    feedback = json.dumps(fake_provider.requests[1]["messages"][-1])
    assert "30 words" in feedback and "at most 10" in feedback


async def test_extra_items_are_trimmed_to_the_requested_count(fake_provider: FakeProvider) -> None:
    fake_provider.default = Reply({"points": ["a", " ", "b", "c", "d"]})
    processor = build_processor(fake_provider.settings())
    result = await processor.run("key_points", TEXT, {"max_points": 2}, "")
    assert result == KeyPointsResult(points=["a", "b"])


async def test_unreachable_provider_is_unavailable() -> None:
    from tests.fixtures.fake_provider import start_fake_provider

    fake, stop = start_fake_provider()
    settings = fake.settings(provider_retries=1)
    stop()  # nothing listens on that port any more
    processor = build_processor(settings)
    with pytest.raises(ProviderUnavailable) as raised:
        await processor.run("summarize", TEXT, {"max_length": 50}, "")
    assert raised.value.reason == "retries_exhausted"
    assert raised.value.attempts == 2
