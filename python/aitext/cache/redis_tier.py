"""L2: Redis or Redis Cluster behind a circuit that never lets Redis fail a request.

One background task PINGs Redis every `probe_interval` seconds, traffic or not, so a worker
with no cache traffic still reports a dead Redis (aitext.cache NOT_SERVING) within a second.
When a PING or a request's command fails the tier goes unavailable: requests skip L2 at once
(no reconnect per request), health is reported down, and the task pings with exponential
backoff and jitter. Coming back takes `recovery_probes` answered PINGs in a row, each on a
fresh connection, and the connections from before the outage are dropped first: a restarted
Redis is reported up once, not up and down again as each stale pooled connection fails.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from aitext.config import Settings

log = logging.getLogger(__name__)

RedisMode = Literal["redis", "cluster"]
RedisClient = Redis | RedisCluster

# What a broken, unreachable or overloaded Redis raises through redis-py.
REDIS_FAILURES = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)

UNLINK_BATCH = 500
SCAN_COUNT = 1000


class Unavailable(Exception):
    """L2 is down (or went down during this call); the caller carries on without it."""


def parse_node(node: str) -> ClusterNode:
    host, _, port = node.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"cluster node {node!r} is not host:port")
    return ClusterNode(host.strip("[]"), int(port))


def connect(settings: Settings) -> tuple[RedisClient, RedisMode] | None:
    """A client built from settings (no I/O yet); None when no Redis is configured."""
    common: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "socket_timeout": settings.redis_timeout_seconds,
        # Our circuit does the retrying; redis-py's own retries would stall each request.
        "retry": Retry(NoBackoff(), 0),
    }
    if settings.redis_cluster_nodes:
        nodes = [parse_node(n) for n in settings.redis_cluster_nodes]
        return RedisCluster(startup_nodes=nodes, **common), "cluster"
    if settings.redis_url:
        return Redis.from_url(settings.redis_url, **common), "redis"
    return None


class RedisTier:
    def __init__(
        self,
        client: RedisClient,
        *,
        backoff_initial: float,
        backoff_max: float,
        probe_interval: float = 0.5,
        recovery_probes: int = 3,
        on_health: Callable[[bool], None] | None = None,
        on_error: Callable[[], None] | None = None,
        owns_client: bool = False,
    ) -> None:
        if not isinstance(client, Redis | RedisCluster):
            raise TypeError(f"expected a redis.asyncio Redis or RedisCluster, got {type(client).__name__}")
        self.client = client
        self.mode: RedisMode = "cluster" if isinstance(client, RedisCluster) else "redis"
        self.available = False
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._probe_interval = probe_interval
        self._recovery_probes = recovery_probes
        self._on_health = on_health
        self._on_error = on_error
        self._owns_client = owns_client
        self._prober: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._channels: dict[str, tuple[Callable[[str], None], Callable[[], None]]] = {}
        self.subscribed = asyncio.Event()
        self._up = asyncio.Event()  # set while available
        self._reported: bool | None = None
        self._closed = False

    async def start(self) -> None:
        try:
            await self.client.ping()
        except REDIS_FAILURES as exc:
            log.warning("redis unavailable at start (%s); serving from memory until it answers", exc)
            self._went_down()
        else:
            self._came_up()
        self._prober = asyncio.get_running_loop().create_task(self._probe_loop())

    async def close(self) -> None:
        # The loops also check _closed: redis-py can turn a cancellation into a connection error.
        self._closed = True
        tasks = [t for t in (self._prober, self._listener) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self._prober = self._listener = None
        if self._owns_client:
            await self.client.aclose()

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._call(lambda: self.client.get(key))
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int | None) -> None:
        await self._call(lambda: self.client.set(key, value, ex=ttl_seconds))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._call(lambda: self.client.unlink(*keys)))

    async def delete_matching(self, pattern: str) -> int:
        """SCAN every primary for `pattern` and UNLINK what it finds, in batches."""

        async def run() -> int:
            scan_kwargs: dict[str, Any] = {"match": pattern, "count": SCAN_COUNT}
            if self.mode == "cluster":
                scan_kwargs["target_nodes"] = RedisCluster.PRIMARIES
            deleted = 0
            batch: list[bytes] = []
            async for key in self.client.scan_iter(**scan_kwargs):
                batch.append(key)
                if len(batch) >= UNLINK_BATCH:
                    deleted += await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                deleted += await self.client.unlink(*batch)
            return deleted

        return int(await self._call(run))

    async def publish(self, channel: str, message: str) -> None:
        await self._call(lambda: self.client.publish(channel, message))

    async def set_if_absent(self, key: str, value: bytes, ttl_ms: int) -> bool:
        """SET NX PX: whether this call created the key."""
        return bool(await self._call(lambda: self.client.set(key, value, nx=True, px=ttl_ms)))

    async def script(self, lua: str, key: str, *args: bytes | int) -> Any:
        """Runs a one-key Lua script (EVAL; in a cluster, on the key's node)."""
        return await self._call(lambda: self.client.eval(lua, 1, key, *args))

    def subscribe(self, channel: str, on_message: Callable[[str], None], on_gap: Callable[[], None]) -> None:
        """Delivers `channel`'s messages to on_message, resubscribing with backoff after Redis failures.

        on_gap runs whenever a subscription starts after a failure: messages may have been missed.
        Every channel shares one pub/sub connection; `subscribed` is set once the first is listened to.
        """
        self._channels[channel] = (on_message, on_gap)
        if self._listener is None:
            self.subscribed = asyncio.Event()
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        delay = self._backoff_initial
        interrupted = False
        while not self._closed:
            # Resubscribe only once the prober trusts Redis again: the missed-invalidation check
            # that follows needs L2 up, or it would drop all of memory for nothing.
            await self._up.wait()
            pubsub = self.client.pubsub()
            try:
                listening: set[str] = set()
                while not self._closed:
                    if len(listening) != len(self._channels):  # a channel added since (they are never removed)
                        added = [c for c in self._channels if c not in listening]
                        await pubsub.subscribe(*added)
                        listening.update(added)
                        if interrupted:
                            for channel in added:
                                self._channels[channel][1]()
                        self.subscribed.set()
                        delay = self._backoff_initial
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message["type"] == "message":
                        handler = self._channels.get(message["channel"].decode("utf-8", errors="replace"))
                        if handler is not None:
                            handler[0](message["data"].decode("utf-8", errors="replace"))
            except REDIS_FAILURES as exc:
                if _being_cancelled():
                    raise asyncio.CancelledError from exc
                log.debug("invalidation subscription lost (%s); resubscribing", exc)
                interrupted = True
                self.subscribed.clear()
            finally:
                try:
                    await pubsub.aclose()
                except REDIS_FAILURES:
                    pass
            if not self._closed:
                await asyncio.sleep(delay + random.uniform(0, self._backoff_initial))
                delay = min(delay * 2, self._backoff_max)

    async def _call(self, command: Callable[[], Awaitable[Any]]) -> Any:
        if not self.available:
            raise Unavailable("redis is down")
        try:
            return await command()
        except REDIS_FAILURES as exc:
            if _being_cancelled():
                raise asyncio.CancelledError from exc  # a caller going away says nothing about Redis
            if self._on_error is not None:
                self._on_error()
            log.warning("redis command failed (%s: %s); continuing without L2", type(exc).__name__, exc)
            self._went_down()
            raise Unavailable(str(exc)) from exc

    def _came_up(self) -> None:
        self.available = True
        self._up.set()
        self._report(True)

    def _went_down(self) -> None:
        self.available = False
        self._up.clear()
        self._report(False)

    def _report(self, ok: bool) -> None:
        if self._reported is not ok:
            self._reported = ok
            if self._on_health is not None:
                self._on_health(ok)

    async def _probe_loop(self) -> None:
        """PINGs forever: down at the first failure, up after `recovery_probes` answers in a row."""
        delay = self._backoff_initial
        answered = 0
        while not self._closed:
            if self.available or answered:
                await asyncio.sleep(self._probe_interval)
            else:
                await asyncio.sleep(delay + random.uniform(0, self._backoff_initial))
                delay = min(delay * 2, self._backoff_max)
            if self._closed:
                return
            was_available = self.available
            ok = await self._ping(fresh=not was_available)
            if was_available != self.available:
                answered = 0  # a request's command failed meanwhile; start counting afresh
            elif was_available:
                if not ok:
                    log.warning("redis does not answer PING; continuing without L2")
                    self._went_down()
                    delay, answered = self._backoff_initial, 0
            elif not ok:
                answered = 0
            else:
                answered += 1
                if answered >= self._recovery_probes:
                    await self._drop_idle_connections()  # made before the outage, or by the probes
                    log.info("redis answered %d PINGs in a row; L2 back in use", answered)
                    self._came_up()
                    delay, answered = self._backoff_initial, 0

    async def _ping(self, *, fresh: bool) -> bool:
        try:
            if fresh:
                await self._drop_idle_connections()
            await self.client.ping()
        except REDIS_FAILURES as exc:
            if _being_cancelled():
                raise asyncio.CancelledError from exc
            return False
        return True

    async def _drop_idle_connections(self) -> None:
        # A Redis that restarted has closed them all; each would fail its next command once.
        # Redis Cluster clients rebuild their node connections themselves after an error.
        if isinstance(self.client, Redis):
            try:
                await self.client.connection_pool.disconnect(inuse_connections=False)
            except REDIS_FAILURES:
                pass


def _being_cancelled() -> bool:
    """True when redis-py turned this task's cancellation into one of its own errors."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
