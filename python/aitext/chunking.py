"""Content-defined chunking: the reference implementation of docs/chunking.md, and the dispatch.

A long text is cut into chunks whose boundaries depend on the text around them, not on
their offsets, so an edit usually moves only the one or two boundaries next to it and
every other chunk keeps its digest (the chunk cache's key; docs/chunking.md, "Stability",
has the measured exceptions). In short:

* a rolling gear hash over the UTF-8 bytes proposes a cut (FastCDC with normalized
  chunking: a hard threshold until ``target_bytes``, an easy one after it, none before
  ``min_bytes``);
* the cut backs off to the last paragraph end within ``target_bytes // 4`` bytes before
  the proposal, else the last sentence end there, else the last whitespace; a proposal
  with none of these in reach is passed over;
* a chunk that reaches ``max_bytes`` ends at the same kind of boundary before it, else
  at the last code-point boundary at or before ``max_bytes``;
* each chunk's digest is ``BLAKE3-256(frame(b"aitext/chunk/v1") ‖ frame(chunk))`` with
  ``frame(b) = u64 LE length of b ‖ b``, the framing of the cache keys.

`chunk_text` here is the reference: plain Python, written to read like the spec rather
than to be fast. ``aitext._native.chunk_text`` (Rust) must return identical chunks for
every input (tests/vectors/chunks.json and tests/test_chunking_properties.py hold both to
that). `chunker(backend)` returns the one the configured key backend names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeAlias

from blake3 import blake3

from aitext.cache import keys

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_BYTES",
    "DEFAULT_TARGET_BYTES",
    "DOMAIN",
    "GEAR",
    "GEAR_SEED",
    "MAX_BYTES_LIMIT",
    "MIN_BYTES_FLOOR",
    "MIN_TO_MAX_GAP",
    "Chunk",
    "ChunkText",
    "chunk_digest",
    "chunk_text",
    "chunker",
    "thresholds",
]

DOMAIN = b"aitext/chunk/v1"
# The gear table is the first 2048 bytes of BLAKE3's extendable output for this string,
# read as 256 little-endian u64: both implementations derive it, nobody copies 256 numbers.
GEAR_SEED = b"aitext/chunk/v1 gear table"
_GEAR_BYTES = blake3(GEAR_SEED).digest(length=256 * 8)
GEAR: tuple[int, ...] = tuple(int.from_bytes(_GEAR_BYTES[i : i + 8], "little") for i in range(0, 256 * 8, 8))

# The gear hash sees the 64 bytes before a position; min_bytes >= 64 keeps that window
# inside the chunk, so a proposal depends on the chunk's own bytes only.
MIN_BYTES_FLOOR = 64
MAX_BYTES_LIMIT = 1 << 32
DEFAULT_TARGET_BYTES = 8 * 1024
DEFAULT_MIN_BYTES = 2 * 1024
DEFAULT_MAX_BYTES = 32 * 1024
# A hard cut steps back at most 3 bytes to a code-point boundary and must not go below min.
MIN_TO_MAX_GAP = 3

# (start, end, byte_start, byte_end, digest): str indices, UTF-8 byte offsets, BLAKE3-256.
Chunk: TypeAlias = tuple[int, int, int, int, bytes]
ChunkText: TypeAlias = Callable[..., list[Chunk]]

_U64 = (1 << 64) - 1
_WHITESPACE = frozenset(b" \t\n\v\f\r")
_CR, _LF = 0x0D, 0x0A
_ASCII_TERMINATORS = frozenset(b".!?")
# Sentence terminators that need no space after them (CJK, Arabic, Indic, ...).
_UNICODE_TERMINATORS = frozenset(
    ch.encode("utf-8")
    for ch in (
        "\u3002",  # 。 ideographic full stop
        "\uff01",  # ！ fullwidth exclamation mark
        "\uff1f",  # ？ fullwidth question mark
        "\uff0e",  # ． fullwidth full stop
        "\uff61",  # ｡ halfwidth ideographic full stop
        "\u061f",  # ؟ Arabic question mark
        "\u06d4",  # ۔ Arabic full stop
        "\u0964",  # । Devanagari danda
        "\u0965",  # ॥ Devanagari double danda
        "\u0589",  # ։ Armenian full stop
        "\u1362",  # ። Ethiopic full stop
        "\u104b",  # ။ Myanmar section mark
    )
)


def _check_text(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    try:
        # str.encode, not text.encode: a str subclass cannot change the bytes chunked.
        return str.encode(text, "utf-8")
    except UnicodeEncodeError as exc:
        # The message of aitext._native and of the cache keys.
        raise ValueError(f"text cannot be encoded as UTF-8: lone surrogate at index {exc.start}") from None


def _check_size(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    number = int.__index__(value)  # the plain int, whatever an int subclass overrides
    if not MIN_BYTES_FLOOR <= number <= MAX_BYTES_LIMIT:
        raise ValueError(f"{name} must be between {MIN_BYTES_FLOOR} and {MAX_BYTES_LIMIT}, not {number}")
    return number


def _check_sizes(target_bytes: object, min_bytes: object, max_bytes: object) -> tuple[int, int, int]:
    target = _check_size(target_bytes, "target_bytes")
    low = _check_size(min_bytes, "min_bytes")
    high = _check_size(max_bytes, "max_bytes")
    if not low <= target <= high:
        raise ValueError(f"sizes must satisfy min_bytes <= target_bytes <= max_bytes, not {low}, {target}, {high}")
    if high - low < MIN_TO_MAX_GAP:
        raise ValueError(f"max_bytes must be at least min_bytes + {MIN_TO_MAX_GAP}, not {high} (min_bytes {low})")
    return target, low, high


def thresholds(target_bytes: int) -> tuple[int, int]:
    """(hard, easy): a position is proposed when its gear hash is below the threshold.

    With b = floor(log2(target_bytes)), the hard one fires with probability 2^-(b+2) and the
    easy one with 2^-(b-2): FastCDC's normalized chunking, level 2, on the hash's top bits.
    """
    bits = target_bytes.bit_length() - 1
    return 1 << (62 - bits), 1 << (66 - bits)


def chunk_digest(chunk: bytes | memoryview) -> bytes:
    """BLAKE3-256(frame(DOMAIN) ‖ frame(chunk)), frame(b) = u64 LE length of b ‖ b."""
    hasher = blake3()
    hasher.update(len(DOMAIN).to_bytes(8, "little"))
    hasher.update(DOMAIN)
    hasher.update(len(chunk).to_bytes(8, "little"))
    hasher.update(chunk)
    return hasher.digest()


def _proposals(data: bytes, first: int, end: int, hard_until: int, hard: int, easy: int) -> Iterator[int]:
    """The positions p in [first, end), in order, whose gear hash H(p) is below the threshold.

    H(p) is the gear hash of the 64 bytes before p: h = (h << 1) + GEAR[byte] mod 2^64 over
    data[p - 64 : p] (older bytes are shifted out). The threshold is `hard` for p < hard_until
    and `easy` from there on.
    """
    gear = GEAR
    h = 0
    for byte in data[first - 64 : first - 1]:
        h = ((h << 1) + gear[byte]) & _U64
    # Each step takes in data[p - 1] and tests p.
    for low, high, threshold in ((first, min(end, hard_until), hard), (max(first, hard_until), end, easy)):
        for p, byte in enumerate(data[low - 1 : high - 1], low):
            h = ((h << 1) + gear[byte]) & _U64
            if h < threshold:
                yield p


def _splits_crlf(data: bytes, q: int) -> bool:
    return data[q - 1] == _CR and data[q] == _LF


def _is_sentence_end(data: bytes, q: int) -> bool:
    """A terminator, then at most one whitespace byte or one CRLF, then q.

    ASCII . ! ? count only with the whitespace after them ("e.g" and "3.14" do not end a
    sentence); the Unicode terminators count with or without it.
    """
    space = 2 if data[q - 2 : q] == b"\r\n" else 1 if data[q - 1] in _WHITESPACE else 0
    r = q - space
    if space and data[r - 1] in _ASCII_TERMINATORS:
        return True
    return data[r - 3 : r] in _UNICODE_TERMINATORS or data[r - 2 : r] in _UNICODE_TERMINATORS


def _preferred_cut(data: bytes, low: int, high: int) -> int | None:
    """The last paragraph end in [low, high], else the last sentence end, else the last
    whitespace end; None when there is none of them. high < len(data)."""
    paragraph = max(data.rfind(b"\n\n", low - 2, high) + 2, data.rfind(b"\r\n\r\n", low - 4, high) + 4)
    if paragraph >= low:
        return paragraph
    whitespace = None
    for q in range(high, low - 1, -1):
        last = data[q - 1]
        if last in _WHITESPACE:
            if _splits_crlf(data, q):
                continue
            if whitespace is None:
                whitespace = q
            if _is_sentence_end(data, q):
                return q
        elif last >= 0x80 and _is_sentence_end(data, q):
            return q
    return whitespace


def _code_point_start(data: bytes, q: int) -> int:
    """The last position <= q that is not inside a UTF-8 sequence."""
    while 0x80 <= data[q] < 0xC0:
        q -= 1
    return q


def _cut(data: bytes, start: int, target: int, low: int, high: int) -> int:
    """Where the chunk that begins at `start` ends."""
    size = len(data)
    if size - start <= low:
        return size
    end = min(start + high, size)
    window = target // 4
    hard, easy = thresholds(target)
    for p in _proposals(data, start + low, end, start + target, hard, easy):
        q = _preferred_cut(data, max(start + low, p - window), p)
        if q is not None:
            return q
    if end == size:
        return size
    q = _preferred_cut(data, max(start + low, end - window), end)
    return q if q is not None else _code_point_start(data, end)


def chunk_text(
    text: str,
    target_bytes: int = DEFAULT_TARGET_BYTES,
    min_bytes: int = DEFAULT_MIN_BYTES,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Chunk]:
    """The chunks of `text` in order: ``(start, end, byte_start, byte_end, digest)``.

    ``text[start:end]`` is the chunk; its UTF-8 form is ``text.encode()[byte_start:byte_end]``
    and ``digest`` its 32-byte BLAKE3 digest (`chunk_digest`). The chunks cover the text
    exactly; all but the last have between ``min_bytes`` and ``max_bytes`` UTF-8 bytes. An
    empty text has no chunks. TypeError for a text that is not a str or a size that is not
    an int; ValueError for a lone surrogate, a size outside [64, 2**32], sizes out of order
    (min <= target <= max) or max_bytes < min_bytes + 3.
    """
    data = _check_text(text)
    target, low, high = _check_sizes(target_bytes, min_bytes, max_bytes)
    chunks: list[Chunk] = []
    view = memoryview(data)
    start = char_start = 0
    ascii_only = len(data) == str.__len__(text)
    while start < len(data):
        end = _cut(data, start, target, low, high)
        char_end = char_start + (end - start if ascii_only else len(str(view[start:end], "utf-8")))
        chunks.append((char_start, char_end, start, end, chunk_digest(view[start:end])))
        start, char_start = end, char_end
    return chunks


def chunker(backend: keys.Backend | None = None) -> ChunkText:
    """The chunk_text of `backend` ("rust" or "python"); None means the configured key
    backend (`aitext.cache.keys.backend()`), so chunks and keys come from the same place."""
    if backend is None:
        backend = keys.backend()
    if backend == "python":
        return chunk_text
    if backend == "rust":
        from aitext import _native

        return _native.chunk_text
    raise ValueError(f"backend must be rust or python, not {backend!r}")
