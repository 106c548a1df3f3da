"""The response cache: key spec (`keys`), tiers, storage codec and monitoring."""

from aitext.cache.response_cache import CacheOutcome, ResponseCache, build_cache
from aitext.cache.text_tiers import TextTiers

__all__ = ["CacheOutcome", "ResponseCache", "TextTiers", "build_cache"]
