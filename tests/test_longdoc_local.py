"""Long documents on the offline model: the same map-reduce path as a remote model, with meaningful results.

`AITEXT_MODEL=local` has no input budget by default; given one, a long text goes through
chunking, the chunk cache and the reducers exactly as it would for a provider.
"""

from __future__ import annotations

import re

import grpc
import pytest
from aitext.cache.response_cache import ResponseCache
from aitext.chunking import chunker
from aitext.config import ConfigError, Settings
from aitext.errors import RequestError
from aitext.longdoc import budget
from aitext.longdoc.budget import Plan
from aitext.pipeline import Pipeline
from aitext.processing.processor import build_processor
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from aitext.validation import validate_process

from tests.fixtures.documents import document

pytestmark = pytest.mark.unit

BUDGET = 8_000  # bytes of prompt: ~4.9 KB of document per call
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def pipeline(**overrides: object) -> tuple[Pipeline, Settings]:
    settings = Settings(model="local", model_max_input_bytes=BUDGET, **overrides)  # type: ignore[arg-type]
    return Pipeline(settings, build_processor(settings), ResponseCache(settings)), settings


async def process(p: Pipeline, settings: Settings, request: pb.ProcessRequest, **kwargs: object) -> pb.ProcessResponse:
    return await p.process(validate_process(request, settings), None, **kwargs)  # type: ignore[arg-type]


def chunks_of(text: str, operation: str, options: dict[str, int], question: str = "") -> list[tuple[int, int]]:
    plan = Plan.for_room(budget.room(BUDGET, operation, options, question))
    return [(c[0], c[1]) for c in chunker(None)(text, plan.target_bytes, plan.min_bytes, plan.max_bytes)]


async def test_summary_sentences_come_from_the_text() -> None:
    p, settings = pipeline()
    text = document(300_000)

    response = await process(p, settings, pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE))

    assert response.chunks.total == len(chunks_of(text, "summarize", {"max_length": 100})) > 40
    assert response.chunks.model_calls == response.chunks.total + response.chunks.reduce_calls
    assert response.chunks.reduce_calls >= 2  # at least one level of summaries of summaries, then the final
    sentences = SENTENCE_END.split(response.summary)
    assert len(sentences) >= 2
    for sentence in sentences:
        assert sentence in text
    assert len(response.summary.split()) <= 100


async def test_key_points_come_from_different_parts_of_the_document() -> None:
    p, settings = pipeline()
    text = document(300_000)
    request = pb.ProcessRequest(text=text, operation=pb.OPERATION_KEY_POINTS)
    request.key_points_options.max_points = 5

    response = await process(p, settings, request)

    points = list(response.key_points.points)
    assert len(points) == 5
    fifths: set[int] = set()
    for point in points:
        where = [m.start() for m in re.finditer(re.escape(point), text)]
        assert where, point
        fifths.update(5 * at // len(text) for at in where)
    assert len(fifths) >= 4, (fifths, points)


async def test_qa_finds_the_answering_sentence_in_chunk_40_of_60() -> None:
    p, settings = pipeline()
    question = "How many migrating cranes did the lighthouse keeper Ingrid Solberg count?"
    answer = "The lighthouse keeper Ingrid Solberg counted 4127 migrating cranes over the bay in the autumn of 1987."
    long_text = document(600_000, seed=11)
    sixty = chunks_of(long_text, "qa", {}, question)[:60]
    text = long_text[: sixty[-1][1]]
    # Into the middle of chunk 40: after the first sentence that ends there.
    start, end = sixty[39]
    at = text.index(". ", (start + end) // 2) + 2
    text = text[:at] + answer + " " + text[at:]
    chunks = chunks_of(text, "qa", {}, question)
    assert len(chunks) == 60
    assert [i for i, (s, e) in enumerate(chunks) if answer in text[s:e]] == [39]

    response = await process(p, settings, pb.ProcessRequest(text=text, operation=pb.OPERATION_QA, question=question))

    assert answer in response.answer
    assert response.chunks.total == 60
    assert response.chunks.model_calls == 1  # ranking is lexical; one call answers from the best chunks


async def test_qa_says_not_found_when_no_chunk_matches() -> None:
    p, settings = pipeline()
    text = document(100_000)

    response = await process(
        p, settings, pb.ProcessRequest(text=text, operation=pb.OPERATION_QA, question="Quelle est la zyxwvut?")
    )

    assert response.answer == "The text does not contain an answer to this question."
    assert response.chunks.model_calls == 0


async def test_sentiment_explanation_names_the_chunks_that_drove_it() -> None:
    p, settings = pipeline()
    text = document(150_000)

    response = await process(p, settings, pb.ProcessRequest(text=text, operation=pb.OPERATION_SENTIMENT))

    assert response.chunks.total > 10
    assert response.chunks.model_calls == response.chunks.total
    assert response.chunks.reduce_calls == 0  # aggregation is a computation
    assert re.search(r"driven most by chunks? \d+", response.sentiment.explanation)
    assert 0.0 < response.sentiment.confidence <= 1.0


async def test_progress_follows_each_chunk_then_the_reduce() -> None:
    p, settings = pipeline()
    text = document(200_000)
    events: list[pb.ProcessProgress] = []

    response = await process(
        p, settings, pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE), progress=events.append
    )

    total = response.chunks.total
    maps = [e for e in events if e.stage == "map"]
    assert [e.chunks_done for e in maps] == list(range(1, total + 1))
    assert all(e.chunks_total == total for e in events)
    assert events[-1].stage == "reduce" and [e.stage for e in events].count("reduce") == 1


async def test_text_within_the_budget_takes_one_call_and_says_nothing_of_chunks() -> None:
    p, settings = pipeline()

    response = await process(p, settings, pb.ProcessRequest(text=document(3_000), operation=pb.OPERATION_SUMMARIZE))

    assert not response.HasField("chunks")


def test_a_budget_too_small_for_a_prompt_and_a_minimal_chunk_is_refused_at_start_up() -> None:
    settings = Settings(model="local", model_max_input_bytes=2_000)

    with pytest.raises(ConfigError, match=r"AITEXT_MODEL_MAX_INPUT_BYTES=2000 is too small .* set it to (\d+)") as err:
        Pipeline(settings, build_processor(settings), ResponseCache(settings))

    smallest = int(re.search(r"set it to (\d+)", str(err.value)).group(1))  # type: ignore[union-attr]
    fits = Settings(model="local", model_max_input_bytes=smallest)
    Pipeline(fits, build_processor(fits), ResponseCache(fits))  # the figure it names is enough


def test_default_budgets_follow_the_provider_family() -> None:
    assert budget.input_budget(Settings(model="local")) is None
    openai = budget.input_budget(Settings(model="openai:gpt-4o-mini"))
    anthropic = budget.input_budget(Settings(model="anthropic:claude-3-5-haiku-latest"))
    gemini = budget.input_budget(Settings(model="google-gla:gemini-2.0-flash"))
    other = budget.input_budget(Settings(model="groq:llama-3.1-8b-instant"))
    compatible = budget.input_budget(Settings(model="openai:llama3", openai_base_url="http://localhost:11434/v1"))
    assert other == compatible and other is not None and openai is not None and anthropic is not None
    assert other < openai < anthropic < gemini  # type: ignore[operator]
    assert budget.input_budget(Settings(model="openai:gpt-4o", model_max_input_bytes=50_000)) == 50_000


async def test_process_stream_sends_progress_before_the_final_response(start_server) -> None:  # type: ignore[no-untyped-def]
    server = await start_server(model_max_input_bytes=16_000, map_concurrency=2)
    request = pb.ProcessRequest(text=document(1_000_000), operation=pb.OPERATION_SUMMARIZE)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stream = pb_grpc.TextServiceStub(channel).ProcessStream(pb.ProcessStreamRequest(request=request))
        events = [event async for event in stream]

    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[-1] == "response" and kinds.count("response") == 1
    progress = [event.progress for event in events[:-1]]
    final = events[-1].response
    assert len(progress) == final.chunks.total + 1  # one per chunk, and the start of the reduce
    assert final.chunks.total > 50
    assert progress[-1].stage == "reduce"
    assert max(e.chunks_done for e in progress) == final.chunks.total


async def test_a_question_that_leaves_no_room_for_a_chunk_is_invalid_argument() -> None:
    p, settings = pipeline()
    question = "这份报告里哪一个港口的渡轮" * 150 + "？"  # 1,951 characters, 5,853 bytes of UTF-8
    assert len(question) <= settings.max_question_chars

    with pytest.raises(RequestError) as caught:
        await process(
            p, settings, pb.ProcessRequest(text=document(50_000), operation=pb.OPERATION_QA, question=question)
        )

    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "input budget" in str(caught.value)
