"""CPU work of a long request, off the event loop: chunking, and ranking chunks for qa.

`offload` is the one place such work leaves the loop. (A bounded pool for CPU work will replace
asyncio.to_thread here.) The chunker is Rust and releases the GIL; the ranker tokenizes in
Python (about a second for 10 MB), which at least lets the loop run between its GIL slices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aitext.chunking import Chunk, chunker
from aitext.longdoc.budget import Plan

P = ParamSpec("P")
T = TypeVar("T")


async def offload(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await asyncio.to_thread(function, *args, **kwargs)


async def split(text: str, plan: Plan) -> list[Chunk]:
    """The text's content-defined chunks (docs/chunking.md) for this plan: ~10 ms for 10 MB in Rust."""
    return await offload(chunker(None), text, plan.target_bytes, plan.min_bytes, plan.max_bytes)
