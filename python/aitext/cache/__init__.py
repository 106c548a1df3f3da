"""The response cache: key spec (`keys`), tiers, storage codec and monitoring."""

from aitext.cache.response_cache import CacheOutcome, ResponseCache, TextTiers, build_cache

__all__ = ["CacheOutcome", "ResponseCache", "TextTiers", "build_cache"]
