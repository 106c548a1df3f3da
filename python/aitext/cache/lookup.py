"""The values one trip through the response cache passes around."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aitext.cache.envelope import parse_response
from aitext.v1 import aitext_pb2 as pb

Compute = Callable[[], Awaitable[pb.ProcessResponse]]


@dataclass(slots=True)
class CacheOutcome:
    response: pb.ProcessResponse
    hit: bool
    tier: str  # "memory" | "redis" | "" on a miss
    age_seconds: float


@dataclass(frozen=True, slots=True)
class Found:
    """What a single-flight resolves to; every waiter parses its own ProcessResponse from it."""

    payload: bytes
    hit: bool
    tier: str
    created_at: float

    def outcome(self) -> CacheOutcome:
        age = max(0.0, time.time() - self.created_at) if self.hit else 0.0
        return CacheOutcome(parse_response(self.payload), self.hit, self.tier, age)


@dataclass(frozen=True, slots=True)
class Lookup:
    """One get_or_compute call after an L1 miss, as the steps of the request path need it."""

    key: str
    operation: str
    tenant: str  # labels its counters
    options: Mapping[str, int] | None  # the request's effective options: the bounds a stored answer must keep
    text_len: int
    ttl: int
    admit: bool  # to the memory tier (its text-size tier is one L1 keeps)
    store: bool  # the answer, once computed
    max_age: float | None
    compute: Compute
    # Whole answers count in the per-tier lookups; a long text's chunk entries count on their own.
    counted: bool
    deadline: float | None  # the request's, in loop time: how long it may wait for another worker's answer

    def too_old(self, created_at: float, now: float) -> bool:
        return self.max_age is not None and now - created_at > self.max_age
