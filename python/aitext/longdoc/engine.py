"""One long request: plan the chunks from the budget, map them, reduce the results.

| operation | map (one cached model call per chunk) | reduce |
|---|---|---|
| summarize | a summary of each chunk | summaries of summaries until they fit, then one final call (model calls, cached) |
| key_points | points of each chunk | merged, de-duplicated, spread over the document (computation) |
| questions | questions on each chunk | chosen spread over the document (computation) |
| sentiment | a rating of each chunk | weighted by confidence and size; the explanation names the chunks (computation) |
| qa | none: BM25 ranks the chunks against the question | one call over the best chunks that fit; "not found" when none matches |
"""

from __future__ import annotations

from collections.abc import Sequence

from aitext.cache.response_cache import ResponseCache
from aitext.chunking import Chunk
from aitext.config import Settings
from aitext.errors import invalid_argument
from aitext.longdoc import budget, combine, rank
from aitext.longdoc.budget import Plan
from aitext.longdoc.calls import CachedCalls, KeyMaker, ModelRunner
from aitext.longdoc.mapper import Progress, map_chunks
from aitext.longdoc.split import offload, split
from aitext.longdoc.summaries import reduce_summaries
from aitext.processing.results import (
    AnswerResult,
    KeyPointsResult,
    OperationResult,
    QuestionsResult,
    SentimentResult,
)
from aitext.v1 import aitext_pb2 as pb
from aitext.validation import ValidRequest

# qa's honest answer when no chunk shares a word with the question (the local model's wording).
NOT_FOUND = "The text does not contain an answer to this question."


class LongDocuments:
    """Built once per process with the pipeline; refuses (ConfigError) a budget that cannot work."""

    def __init__(self, settings: Settings, processor: ModelRunner, cache: ResponseCache) -> None:
        budget.check(settings)
        self.budget = budget.input_budget(settings)
        self._concurrency = settings.map_concurrency
        self._processor = processor
        self._cache = cache

    def room(self, request: ValidRequest) -> int | None:
        """Bytes of text one prompt of this request holds; None: no limit."""
        if self.budget is None:
            return None
        return budget.room(self.budget, request.spec.name, request.options, request.question)

    def needed(self, request: ValidRequest) -> bool:
        """Whether the text is over what one prompt holds (INVALID_ARGUMENT when no chunk would fit)."""
        room = self.room(request)
        if room is None or len(request.text) * 4 <= room:  # UTF-8 takes at most 4 bytes a character
            return False
        if len(request.text.encode()) <= room:
            return False
        if room < budget.MIN_CHUNK_BYTES:
            raise invalid_argument(
                [("question", f"too long for a long text on this model (input budget {self.budget} bytes)")]
            )
        return True

    async def process(
        self, request: ValidRequest, key: KeyMaker, deadline: float | None, progress: Progress | None
    ) -> tuple[OperationResult, pb.ChunkInfo]:
        room = self.room(request)
        assert room is not None, "needed() said the text fits"
        plan = Plan.for_room(room)
        chunks = await split(request.text, plan)
        operation = request.spec.name
        calls = CachedCalls(
            self._processor,
            self._cache,
            key,
            operation=operation,
            question=request.question,
            control=request.control,
            deadline=deadline,
        )
        calls.figures.total = len(chunks)
        if operation == "qa":
            result = await self._qa(calls, request, chunks, room, progress)
            return result, calls.figures.info()
        options = request.options
        if operation == "summarize":
            options = {"max_length": plan.summary_words(request.options["max_length"])}
        mapped = await map_chunks(
            calls, request.text, chunks, options, concurrency=self._concurrency, progress=progress
        )
        _reducing(calls, progress)
        if operation == "summarize":
            result = await reduce_summaries(
                calls, mapped, plan, request.options["max_length"], concurrency=self._concurrency
            )
        elif operation == "key_points":
            points = [r.points if isinstance(r, KeyPointsResult) else [] for r in mapped]
            result = KeyPointsResult(points=combine.spread(points, request.options["max_points"]))
        elif operation == "questions":
            asked = [r.questions if isinstance(r, QuestionsResult) else [] for r in mapped]
            result = QuestionsResult(questions=combine.spread(asked, request.options["num_questions"]))
        elif operation == "sentiment":
            ratings = [r for r in mapped if isinstance(r, SentimentResult)]
            result = combine.sentiment(ratings, [end - start for start, end, *_ in chunks])
        else:
            raise ValueError(f"no long-document path for {operation!r}")
        return result, calls.figures.info()

    async def _qa(
        self,
        calls: CachedCalls,
        request: ValidRequest,
        chunks: Sequence[Chunk],
        room: int,
        progress: Progress | None,
    ) -> OperationResult:
        texts = [request.text[start:end] for start, end, *_ in chunks]
        best = await offload(rank.best_chunks, texts, request.question, room)
        if progress is not None:
            total = len(chunks)
            progress(pb.ProcessProgress(chunks_done=total, chunks_total=total, chunks_cached=0, stage="map"))
        if not best:
            return AnswerResult(answer=NOT_FOUND)
        _reducing(calls, progress)
        return await calls.answer("\n\n".join(texts[i] for i in best))


def _reducing(calls: CachedCalls, progress: Progress | None) -> None:
    if progress is not None:
        f = calls.figures
        progress(pb.ProcessProgress(chunks_done=f.total, chunks_total=f.total, chunks_cached=f.cached, stage="reduce"))
