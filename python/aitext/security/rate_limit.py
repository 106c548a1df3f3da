"""Token buckets per key and per tenant: in Redis when it is there (shared by every worker and replica), else in memory."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aitext.cache.redis_tier import REDIS_FAILURES, RedisClient

log = logging.getLogger(__name__)

# Refill from the elapsed time, take one token if there is one. Redis's own clock, so replicas agree.
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_seconds: float = 0.0


class LocalBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, identity: str, rate: float, burst: int) -> Decision:
        now = time.monotonic()
        tokens, last = self._state.get(identity, (float(burst), now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1:
            self._state[identity] = (tokens - 1, now)
            return Decision(True)
        self._state[identity] = (tokens, now)
        return Decision(False, (1 - tokens) / rate)


class RateLimiter:
    """Token buckets: `rate` tokens a second, bursts of `burst`, per identity; rate 0 turns a bucket off.

    The constructor's rate and burst are the default (the per-key limit); acquire() may name others
    (a tenant's). Identities are namespaced by the caller: `key:<name>`, `tenant:<name>`.
    """

    def __init__(
        self, rate: float, burst: int, *, redis: RedisClient | None = None, namespace: str = "ai_cache"
    ) -> None:
        self._rate, self._burst = rate, max(1, burst)
        self._local = LocalBuckets()
        self._script = redis.register_script(TOKEN_BUCKET) if redis is not None else None
        self._namespace = namespace
        self._redis_down_until = 0.0

    async def acquire(self, identity: str, rate: float | None = None, burst: int | None = None) -> Decision:
        rate = self._rate if rate is None else rate
        burst = self._burst if burst is None else max(1, burst)
        if rate <= 0:
            return Decision(True)
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            try:
                wait = float(await self._script(keys=[f"{self._namespace}:ratelimit:{identity}"], args=[rate, burst]))
                return Decision(wait == 0, wait)
            except REDIS_FAILURES as exc:
                # Limiting goes on per process until Redis answers again; never fail a request for it.
                log.warning("rate limiter: Redis unavailable (%s); limiting locally for 5 s", exc)
                self._redis_down_until = time.monotonic() + 5
        return self._local.take(identity, rate, burst)
