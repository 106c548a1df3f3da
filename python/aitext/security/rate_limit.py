"""Per-key token buckets: in Redis when it is there (shared by every worker and replica), else in memory."""

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
    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, identity: str) -> Decision:
        now = time.monotonic()
        tokens, last = self._state.get(identity, (float(self._burst), now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1:
            self._state[identity] = (tokens - 1, now)
            return Decision(True)
        self._state[identity] = (tokens, now)
        return Decision(False, (1 - tokens) / self._rate)


class RateLimiter:
    """rate tokens a second, bursts of `burst`; rate 0 turns limiting off."""

    def __init__(
        self, rate: float, burst: int, *, redis: RedisClient | None = None, namespace: str = "ai_cache"
    ) -> None:
        self.enabled = rate > 0
        self._rate, self._burst = rate, max(1, burst)
        self._local = LocalBuckets(rate, self._burst) if self.enabled else None
        self._script = redis.register_script(TOKEN_BUCKET) if redis is not None and self.enabled else None
        self._namespace = namespace
        self._redis_down_until = 0.0

    async def acquire(self, identity: str) -> Decision:
        if not self.enabled:
            return Decision(True)
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            try:
                wait = float(
                    await self._script(keys=[f"{self._namespace}:ratelimit:{identity}"], args=[self._rate, self._burst])
                )
                return Decision(wait == 0, wait)
            except REDIS_FAILURES as exc:
                # Limiting goes on per process until Redis answers again; never fail a request for it.
                log.warning("rate limiter: Redis unavailable (%s); limiting locally for 5 s", exc)
                self._redis_down_until = time.monotonic() + 5
        assert self._local is not None  # set whenever limiting is enabled
        return self._local.take(identity)
