"""The bytes stored in Redis: a versioned envelope around a serialized ProcessResponse, bound to its key.

Layout (little-endian):

    magic        4 bytes  b"ATXC"
    version      u8       FORMAT_VERSION (2; version 1 had no MAC)
    codec        u8       0 = raw protobuf, 1 = lz4 frame of it
    created_at   f64      Unix seconds when the answer was stored
    ttl_seconds  u32      TTL it was stored with (created_at + ttl = expiry)
    text_len     u64      characters of the request text
    model_len    u16      bytes of the model id that follows
    model        UTF-8
    payload      the (possibly compressed) ProcessResponse bytes
    mac          32 bytes BLAKE3 keyed hash of frame(cache key) ‖ every byte above

The MAC binds the entry to the cache key it is stored under (the tenant's partition
included): an envelope copied to another key, or written by anyone without the
secret, fails it. Its key is derived from AITEXT_CACHE_SECRET (`EntryMac`).

Anything that does not parse or verify raises EnvelopeError, with a `reason` for
the metrics; callers treat that as a miss.
"""

from __future__ import annotations

import hmac
import logging
import struct
from dataclasses import dataclass

import lz4.frame
from blake3 import blake3
from google.protobuf.message import DecodeError

from aitext.v1 import aitext_pb2 as pb

log = logging.getLogger(__name__)

MAGIC = b"ATXC"
FORMAT_VERSION = 2
CODEC_RAW = 0
CODEC_LZ4 = 1
MAC_BYTES = 32
# BLAKE3's derive_key mode turns the configured secret into the MAC key; the context string
# keeps that key apart from any other use of the same secret.
MAC_CONTEXT = "aitext 2026-12-02 cache-entry MAC v1"

_HEADER = struct.Struct("<4sBBdIQH")
_LENGTH = struct.Struct("<Q")
_MAX_MODEL_BYTES = 0xFFFF

# Why a stored value was not served; a label of aitext_cache_decode_failures_total.
# format and mac are found here; the rest by the cache, against the request.
FAILURE_REASONS = ("format", "mac", "operation", "bounds", "created_at")


class EnvelopeError(ValueError):
    """Stored bytes that are not an envelope of this version, of this key, or of this request."""

    def __init__(self, message: str, reason: str = "format") -> None:
        super().__init__(message)
        self.reason = reason


class EntryMac:
    """The keyed hash that binds envelopes to their keys.

    Without a secret the key is derived from nothing: still a checksum over key and payload
    (a value copied to another key or truncated fails), but anyone who can write to Redis can
    compute it. Every process sharing a Redis must use the same secret; rotating it turns every
    stored entry into a miss that gets replaced.
    """

    def __init__(self, secret: str | None) -> None:
        self.keyed = secret is not None
        material = secret.encode("utf-8") if secret is not None else b""
        self._key: bytes = blake3(material, derive_key_context=MAC_CONTEXT).digest()

    def tag(self, key: str, body: bytes | memoryview) -> bytes:
        """MAC of frame(key) ‖ body: the frame keeps key and body apart, whatever their lengths."""
        encoded = key.encode("utf-8")
        hasher = blake3(_LENGTH.pack(len(encoded)), key=self._key)
        hasher.update(encoded)
        hasher.update(body)
        tag: bytes = hasher.digest()
        return tag

    def warn_if_unkeyed(self, *, stored_in_redis: bool) -> None:
        if self.keyed:
            return
        log.warning(
            "AITEXT_CACHE_SECRET is not set: %s",
            "Redis entries carry an unkeyed MAC, so anyone who can write to this Redis can plant answers "
            "that the service will serve; set the same secret on every worker and replica"
            if stored_in_redis
            else "no Redis is configured, so nothing is stored outside this process yet; set it before adding Redis",
        )


@dataclass(frozen=True, slots=True)
class Envelope:
    payload: bytes  # serialized ProcessResponse, uncompressed
    created_at: float
    ttl_seconds: int
    text_len: int
    model: str

    @property
    def expires_at(self) -> float:
        return self.created_at + self.ttl_seconds


def encode(envelope: Envelope, *, key: str, mac: EntryMac, compress_min_bytes: int) -> tuple[bytes, int]:
    """The bytes to store under `key`, and the codec used; lz4 only above the threshold and only if it shrinks."""
    payload = envelope.payload
    codec = CODEC_RAW
    if len(payload) > compress_min_bytes:
        compressed = lz4.frame.compress(payload, store_size=True)
        if len(compressed) < len(payload):
            payload, codec = compressed, CODEC_LZ4
    model = envelope.model.encode("utf-8")[:_MAX_MODEL_BYTES]
    header = _HEADER.pack(
        MAGIC, FORMAT_VERSION, codec, envelope.created_at, envelope.ttl_seconds, envelope.text_len, len(model)
    )
    body = b"".join((header, model, payload))
    return body + mac.tag(key, body), codec


def decode(data: bytes, *, key: str, mac: EntryMac, max_payload_bytes: int) -> Envelope:
    """Parses and verifies the bytes stored under `key`.

    The MAC is checked before anything is decompressed, so only values written with the secret
    reach lz4; `max_payload_bytes` bounds decompression all the same.
    """
    if len(data) < _HEADER.size + MAC_BYTES:
        raise EnvelopeError("shorter than the envelope header")
    magic, version, codec, created_at, ttl_seconds, text_len, model_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise EnvelopeError("bad magic")
    if version != FORMAT_VERSION:
        raise EnvelopeError(f"format version {version}, expected {FORMAT_VERSION}")
    end = len(data) - MAC_BYTES
    view = memoryview(data)
    if not hmac.compare_digest(mac.tag(key, view[:end]), data[end:]):
        raise EnvelopeError("MAC mismatch: not written under this key with this secret", reason="mac")
    body = _HEADER.size + model_len
    if end < body:
        raise EnvelopeError("truncated model id")
    model = data[_HEADER.size : body].decode("utf-8", errors="replace")
    payload = data[body:end]
    if codec == CODEC_LZ4:
        payload = _decompress(payload, max_payload_bytes)
    elif codec != CODEC_RAW:
        raise EnvelopeError(f"unknown codec {codec}")
    if len(payload) > max_payload_bytes:
        raise EnvelopeError("payload over the size limit")
    return Envelope(payload, created_at, ttl_seconds, text_len, model)


def parse_response(payload: bytes) -> pb.ProcessResponse:
    response = pb.ProcessResponse()
    try:
        response.ParseFromString(payload)
    except DecodeError as exc:
        raise EnvelopeError(f"payload is not a ProcessResponse: {exc}") from exc
    return response


def _decompress(payload: bytes, max_bytes: int) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out: bytes = decompressor.decompress(payload, max_length=max_bytes + 1)
    except RuntimeError as exc:  # lz4 reports every malformed frame as RuntimeError
        raise EnvelopeError(f"bad lz4 frame: {exc}") from exc
    if len(out) > max_bytes:
        raise EnvelopeError("decompressed payload over the size limit")
    if not decompressor.eof or decompressor.unused_data:
        raise EnvelopeError("truncated or trailing lz4 data")
    return out
