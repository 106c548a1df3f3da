"""aitext._native: the Rust fast path of the cache-key spec (docs/cache-keys.md).

Same functions, signatures, keys and exception types as the reference, aitext.cache.keys.
"""

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "CHUNK_DETACH_MIN_BYTES",
    "DEFAULT_NAMESPACE",
    "DETACH_MIN_BYTES",
    "KEY_VERSION",
    "MULTITHREAD_MIN_BYTES",
    "PARALLEL_BATCH_MIN_BYTES",
    "__version__",
    "_raw_blake3",
    "chunk_text",
    "make_key",
    "make_keys",
]

__version__: str
KEY_VERSION: str
DEFAULT_NAMESPACE: str
# Messages (the text plus ~100 bytes of framing) of at least this many bytes are hashed on all cores.
MULTITHREAD_MIN_BYTES: int
# Texts of at least this many UTF-8 bytes are hashed with the GIL released.
DETACH_MIN_BYTES: int
# make_keys hashes a batch on all cores once its texts add up to this many bytes.
PARALLEL_BATCH_MIN_BYTES: int

def make_key(
    text: str,
    operation: str,
    options: Mapping[str, int | bool | str],
    question: str | None,
    model: str,
    prompt_version: str,
    namespace: str | None = "ai_cache",
) -> str:
    """The cache key of one request: "{namespace}:v1:{operation}:{64 hex digits}".

    options are the effective options (defaults applied); question None is the same as "";
    namespace None is the default. TypeError for a field of the wrong type (an option value
    that is not int, bool or str); UnicodeEncodeError (a ValueError) for a string with a lone
    surrogate. Either notes the argument it was processing.
    """

def make_keys(requests: Iterable[Sequence[object]]) -> list[str]:
    """The keys of many requests, in order, hashed on all cores when the batch is large.

    Each request is a tuple (or list) of make_key's arguments in order:
    (text, operation, options, question, model, prompt_version) or the same with namespace
    appended.
    """

def _raw_blake3(data: bytes) -> bytes:
    """BLAKE3-256 of data with make_key's threading and GIL rules (the benchmark's yardstick)."""

# Content-defined chunking (docs/chunking.md); the reference is aitext.chunking.
# Texts of at least this many UTF-8 bytes are chunked with the GIL released.
CHUNK_DETACH_MIN_BYTES: int

def chunk_text(
    text: str,
    target_bytes: int = 8192,
    min_bytes: int = 2048,
    max_bytes: int = 32768,
) -> list[tuple[int, int, int, int, bytes]]:
    """The chunks of text in order: (start, end, byte_start, byte_end, digest).

    str indices, UTF-8 byte offsets and the 32-byte BLAKE3 digest of the framed chunk, as
    aitext.chunking.chunk_text computes them. TypeError for a text that is not a str or a
    size that is not an int; ValueError for a lone surrogate or sizes the spec refuses.
    """
