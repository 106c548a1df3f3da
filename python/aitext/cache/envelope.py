"""The bytes stored in Redis: a versioned envelope around a serialized ProcessResponse.

Layout (little-endian):

    magic        4 bytes  b"ATXC"
    version      u8       FORMAT_VERSION
    codec        u8       0 = raw protobuf, 1 = lz4 frame of it
    created_at   f64      Unix seconds when the answer was stored
    ttl_seconds  u32      TTL it was stored with (created_at + ttl = expiry)
    text_len     u64      characters of the request text
    model_len    u16      bytes of the model id that follows
    model        UTF-8
    payload      the (possibly compressed) ProcessResponse bytes

Anything that does not parse raises EnvelopeError; callers treat that as a miss.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import lz4.frame
from google.protobuf.message import DecodeError

from aitext.v1 import aitext_pb2 as pb

MAGIC = b"ATXC"
FORMAT_VERSION = 1
CODEC_RAW = 0
CODEC_LZ4 = 1

_HEADER = struct.Struct("<4sBBdIQH")
_MAX_MODEL_BYTES = 0xFFFF


class EnvelopeError(ValueError):
    """Stored bytes that are not a readable envelope of this version."""


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


def encode(envelope: Envelope, *, compress_min_bytes: int) -> tuple[bytes, int]:
    """Returns the stored bytes and the codec used; lz4 only above the threshold and only if it shrinks."""
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
    return b"".join((header, model, payload)), codec


def decode(data: bytes, *, max_payload_bytes: int) -> Envelope:
    """Parses stored bytes; `max_payload_bytes` bounds decompression so a hostile value cannot balloon."""
    if len(data) < _HEADER.size:
        raise EnvelopeError("shorter than the envelope header")
    magic, version, codec, created_at, ttl_seconds, text_len, model_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise EnvelopeError("bad magic")
    if version != FORMAT_VERSION:
        raise EnvelopeError(f"format version {version}, expected {FORMAT_VERSION}")
    body = _HEADER.size + model_len
    if len(data) < body:
        raise EnvelopeError("truncated model id")
    model = data[_HEADER.size : body].decode("utf-8", errors="replace")
    payload = data[body:]
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
