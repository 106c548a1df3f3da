"""summarize's reduce: summaries of summaries, level by level, until they fit one prompt.

Each level joins the summaries (one paragraph each) and cuts the result with the same
content-defined chunker as the text, so an edit changes one group per level, not every
group after it; each group is summarized by one cached model call. The last call, over
everything left, uses the request's max_length, so the final summary respects it.
"""

from __future__ import annotations

from aitext.longdoc.budget import Plan
from aitext.longdoc.calls import CachedCalls
from aitext.longdoc.mapper import bounded
from aitext.longdoc.split import split
from aitext.processing.results import OperationResult, SummaryResult
from aitext.processing.unavailable import ProviderUnavailable

MAX_LEVELS = 8


def join(results: list[OperationResult]) -> str:
    return "\n\n".join(r.summary.strip() for r in results if isinstance(r, SummaryResult))


async def reduce_summaries(
    calls: CachedCalls, summaries: list[OperationResult], plan: Plan, max_length: int, *, concurrency: int
) -> OperationResult:
    text = join(summaries)
    level_options = {"max_length": plan.summary_words(max_length)}
    levels = 0
    while len(text.encode()) > plan.room:
        levels += 1
        shorter = await _level(calls, text, plan, level_options, concurrency)
        if len(shorter) >= len(text) or levels > MAX_LEVELS:
            raise ProviderUnavailable(
                f"summaries of {len(text)} characters did not get shorter (level {levels})", reason="invalid_output"
            )
        text = shorter
    return await calls.reduce(text, {"max_length": max_length})


async def _level(calls: CachedCalls, text: str, plan: Plan, options: dict[str, int], concurrency: int) -> str:
    """One level up: each group of summaries summarized."""
    groups = await split(text, plan)

    async def one(index: int) -> OperationResult:
        start, end = groups[index][0], groups[index][1]
        return await calls.reduce(text[start:end], options)

    return join(await bounded(len(groups), one, concurrency))
