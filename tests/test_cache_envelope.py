"""The stored-value envelope: round trips, lz4 only when it pays, and every malformed input rejected."""

from __future__ import annotations

import os
import struct

import pytest
from aitext.cache import envelope
from aitext.cache.envelope import CODEC_LZ4, CODEC_RAW, Envelope, EnvelopeError
from aitext.v1 import aitext_pb2 as pb

pytestmark = pytest.mark.unit

LIMIT = 64 * 1024 * 1024


def make(payload: bytes) -> Envelope:
    return Envelope(payload, created_at=1_700_000_000.25, ttl_seconds=7200, text_len=12345, model="local")


def summary_payload(words: int) -> bytes:
    text = " ".join(f"The committee reviewed item {i % 40} of the budget." for i in range(words // 8))
    return pb.ProcessResponse(operation=pb.OPERATION_SUMMARIZE, summary=text, model="local").SerializeToString()


def test_small_payload_is_stored_raw_and_round_trips():
    payload = summary_payload(40)
    data, codec = envelope.encode(make(payload), compress_min_bytes=1024)
    assert codec == CODEC_RAW
    decoded = envelope.decode(data, max_payload_bytes=LIMIT)
    assert decoded == make(payload)
    assert envelope.parse_response(decoded.payload).summary.startswith("The committee")


def test_large_compressible_payload_is_lz4_and_smaller():
    payload = summary_payload(2000)
    data, codec = envelope.encode(make(payload), compress_min_bytes=1024)
    assert codec == CODEC_LZ4
    assert len(data) < len(payload)
    assert envelope.decode(data, max_payload_bytes=LIMIT).payload == payload


def test_incompressible_payload_over_threshold_stays_raw():
    payload = os.urandom(4096)
    data, codec = envelope.encode(make(payload), compress_min_bytes=1024)
    assert codec == CODEC_RAW
    assert envelope.decode(data, max_payload_bytes=LIMIT).payload == payload


def test_metadata_survives_non_ascii_model():
    env = Envelope(b"x", created_at=5.5, ttl_seconds=60, text_len=3, model="ollama:qwen-ü")
    data, _ = envelope.encode(env, compress_min_bytes=1024)
    assert envelope.decode(data, max_payload_bytes=LIMIT) == env
    assert envelope.decode(data, max_payload_bytes=LIMIT).expires_at == 65.5


def _lz4_envelope() -> bytes:
    data, codec = envelope.encode(make(summary_payload(2000)), compress_min_bytes=1024)
    assert codec == CODEC_LZ4
    return data


BAD_VALUES = {
    "empty": b"",
    "garbage": b"\x80\x04\x95 definitely not an envelope \x00\xff" * 3,
    "bad magic": b"XXXX" + _lz4_envelope()[4:],
    "wrong version": _lz4_envelope()[:4] + bytes([99]) + _lz4_envelope()[5:],
    "unknown codec": _lz4_envelope()[:5] + bytes([7]) + _lz4_envelope()[6:],
    "truncated header": _lz4_envelope()[:10],
    "truncated lz4": _lz4_envelope()[:-20],
    "trailing bytes after lz4": _lz4_envelope() + b"junk",
    "model length past the end": _lz4_envelope()[:26] + struct.pack("<H", 60000) + b"ab",
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_malformed_values_raise_envelope_error(name):
    with pytest.raises(EnvelopeError):
        envelope.decode(BAD_VALUES[name], max_payload_bytes=LIMIT)


def test_decompression_is_bounded():
    data = _lz4_envelope()
    with pytest.raises(EnvelopeError, match="size limit"):
        envelope.decode(data, max_payload_bytes=1000)


def test_envelope_error_is_a_value_error():
    assert issubclass(EnvelopeError, ValueError)


def test_payload_that_is_not_a_response_is_rejected():
    with pytest.raises(EnvelopeError):
        envelope.parse_response(b"\xff\xff\xff\xff")


def test_no_pickle_anywhere_in_the_package():
    import pathlib

    import aitext

    root = pathlib.Path(aitext.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if any(word in path.read_text(errors="replace") for word in ("import pickle", "from pickle", "cPickle"))
    ]
    assert offenders == []
