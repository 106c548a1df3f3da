"""The stored-value envelope: round trips, lz4 only when it pays, the MAC, and every malformed input rejected."""

from __future__ import annotations

import os
import struct

import pytest
from aitext.cache import envelope
from aitext.cache.envelope import CODEC_LZ4, CODEC_RAW, MAC_BYTES, EntryMac, Envelope, EnvelopeError
from aitext.v1 import aitext_pb2 as pb

pytestmark = pytest.mark.unit

LIMIT = 64 * 1024 * 1024
KEY = "ai_cache:t:acme:v1:summarize:" + "ab" * 32
MAC = EntryMac("test-secret-0123456789")


def encode(env: Envelope, key: str = KEY, mac: EntryMac = MAC) -> tuple[bytes, int]:
    return envelope.encode(env, key=key, mac=mac, compress_min_bytes=1024)


def decode(data: bytes, key: str = KEY, mac: EntryMac = MAC, limit: int = LIMIT) -> Envelope:
    return envelope.decode(data, key=key, mac=mac, max_payload_bytes=limit)


def resigned(body: bytes, key: str = KEY) -> bytes:
    """`body` with a valid MAC: what a writer with the secret (a bug, not an attacker) could store."""
    return body + MAC.tag(key, body)


def make(payload: bytes) -> Envelope:
    return Envelope(payload, created_at=1_700_000_000.25, ttl_seconds=7200, text_len=12345, model="local")


def summary_payload(words: int) -> bytes:
    text = " ".join(f"The committee reviewed item {i % 40} of the budget." for i in range(words // 8))
    return pb.ProcessResponse(operation=pb.OPERATION_SUMMARIZE, summary=text, model="local").SerializeToString()


def test_small_payload_is_stored_raw_and_round_trips():
    payload = summary_payload(40)
    data, codec = encode(make(payload))
    assert codec == CODEC_RAW
    decoded = decode(data)
    assert decoded == make(payload)
    assert envelope.parse_response(decoded.payload).summary.startswith("The committee")


def test_large_compressible_payload_is_lz4_and_smaller():
    payload = summary_payload(2000)
    data, codec = encode(make(payload))
    assert codec == CODEC_LZ4
    assert len(data) < len(payload)
    assert decode(data).payload == payload


def test_incompressible_payload_over_threshold_stays_raw():
    payload = os.urandom(4096)
    data, codec = encode(make(payload))
    assert codec == CODEC_RAW
    assert decode(data).payload == payload


def test_metadata_survives_non_ascii_model():
    env = Envelope(b"x", created_at=5.5, ttl_seconds=60, text_len=3, model="ollama:qwen-ü")
    data, _ = encode(env)
    assert decode(data) == env
    assert decode(data).expires_at == 65.5


def _lz4_envelope() -> bytes:
    data, codec = encode(make(summary_payload(2000)))
    assert codec == CODEC_LZ4
    return data


def _body() -> bytes:
    return _lz4_envelope()[:-MAC_BYTES]


# Values whose MAC is fine but whose contents are not (only a writer with the secret could store them).
MALFORMED_BODIES = {
    "unknown codec": lambda: resigned(_body()[:5] + bytes([7]) + _body()[6:]),
    "truncated lz4": lambda: resigned(_body()[:-20]),
    "trailing bytes after lz4": lambda: resigned(_body() + b"junk"),
    "model length past the end": lambda: resigned(_body()[:26] + struct.pack("<H", 60000) + b"ab"),
}
# Values rejected before the MAC is even computed.
NOT_ENVELOPES = {
    "empty": lambda: b"",
    "garbage": lambda: b"\x80\x04\x95 definitely not an envelope \x00\xff" * 3,
    "bad magic": lambda: b"XXXX" + _lz4_envelope()[4:],
    "version 1 (no MAC)": lambda: _lz4_envelope()[:4] + bytes([1]) + _lz4_envelope()[5:],
    "truncated header": lambda: _lz4_envelope()[:10],
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
def test_malformed_bodies_with_a_valid_mac_are_format_errors(name):
    with pytest.raises(EnvelopeError) as caught:
        decode(MALFORMED_BODIES[name]())
    assert caught.value.reason == "format"


@pytest.mark.parametrize("name", sorted(NOT_ENVELOPES))
def test_values_that_are_not_envelopes_are_format_errors(name):
    with pytest.raises(EnvelopeError) as caught:
        decode(NOT_ENVELOPES[name]())
    assert caught.value.reason == "format"


TAMPERED = {
    "another key": lambda data: decode(data, key=KEY.replace("acme", "other")),
    "another secret": lambda data: decode(data, mac=EntryMac("another-secret-0123456789")),
    "no secret": lambda data: decode(data, mac=EntryMac(None)),
    "one payload bit flipped": lambda data: decode(data[:40] + bytes([data[40] ^ 1]) + data[41:]),
    "created_at changed": lambda data: decode(data[:6] + struct.pack("<d", 2e9) + data[14:]),
    "mac truncated": lambda data: decode(data[:-1]),
}


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_tampered_or_moved_values_fail_the_mac(name):
    data, _ = encode(make(summary_payload(40)))
    with pytest.raises(EnvelopeError) as caught:
        TAMPERED[name](data)
    assert caught.value.reason == "mac"


def test_the_key_is_framed_so_key_and_body_cannot_trade_bytes():
    body = b"ATXC" + b"\x00" * 40
    assert MAC.tag("ab", b"c" + body) != MAC.tag("abc", body)


def test_without_a_secret_the_mac_is_the_same_in_every_process():
    # Several workers sharing a Redis must agree, so "no secret" is a fixed, public key (and a warning).
    data, _ = encode(make(b"x"), mac=EntryMac(None))
    assert decode(data, mac=EntryMac(None)).payload == b"x"
    assert not EntryMac(None).keyed and EntryMac("test-secret-0123456789").keyed


def test_decompression_is_bounded():
    data = _lz4_envelope()
    with pytest.raises(EnvelopeError, match="size limit"):
        decode(data, limit=1000)


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
