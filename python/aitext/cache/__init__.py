"""The response cache: key spec (`keys`), tiers, storage codec and monitoring."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from aitext.cache.lookup import CacheOutcome
from aitext.cache.redis_tier import connect
from aitext.cache.response_cache import ResponseCache
from aitext.cache.text_tiers import TextTiers
from aitext.config import Settings

__all__ = ["CacheOutcome", "ResponseCache", "TextTiers", "build_cache"]


def build_cache(
    settings: Settings,
    *,
    set_cache_health: Callable[[bool], None] | None = None,
    registry: CollectorRegistry | None = None,
) -> ResponseCache:
    """The cache described by settings: memory only, Redis, or Redis Cluster. No I/O until start()."""
    connected = connect(settings)
    client = connected[0] if connected is not None else None
    return ResponseCache(settings, redis=client, owns_redis=True, set_cache_health=set_cache_health, registry=registry)
