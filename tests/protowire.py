"""Protobuf wire format written by hand, for requests protobuf itself refuses to encode (bad UTF-8, garbage)."""


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers as protobuf writes them: two's complement in 64 bits
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def process_request(text: bytes, operation: int) -> bytes:
    """A ProcessRequest with `text` as raw bytes (field 1) and `operation` (field 2)."""
    return length_delimited(1, text) + varint(2 << 3) + varint(operation)
