"""Request decoding that tells a client which field held invalid UTF-8.

protobuf refuses a message whose string field is not valid UTF-8 (lone
surrogates included), and grpc would answer INTERNAL. We decode ourselves:
on failure, a short walk over the wire format finds the offending field so
the client gets INVALID_ARGUMENT naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message


@dataclass(frozen=True, slots=True)
class UndecodableRequest:
    """Stands in for a request that failed to parse; the servicer rejects it."""

    field: str
    reason: str


def lenient_parser(message_class: type[Message]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Message | UndecodableRequest:
        try:
            return message_class.FromString(data)
        except DecodeError:
            # The upb Descriptor the class carries is the runtime's implementation of Descriptor.
            field = find_invalid_utf8(cast(Descriptor, message_class.DESCRIPTOR), memoryview(data))
            if field is not None:
                return UndecodableRequest(field, "is not valid UTF-8 (lone surrogates are not allowed)")
            return UndecodableRequest("", "the request is not a valid protobuf message")

    return parse


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def find_invalid_utf8(descriptor: Descriptor, data: memoryview) -> str | None:
    """Path of the first string field (e.g. `requests[3].text`) that is not UTF-8, if any."""
    seen: dict[int, int] = {}
    pos = 0
    try:
        while pos < len(data):
            tag, pos = _read_varint(data, pos)
            number, wire_type = tag >> 3, tag & 7
            if wire_type == 0:
                _, pos = _read_varint(data, pos)
            elif wire_type == 1:
                pos += 8
            elif wire_type == 5:
                pos += 4
            elif wire_type == 2:
                length, pos = _read_varint(data, pos)
                chunk, pos = data[pos : pos + length], pos + length
                field = descriptor.fields_by_number.get(number)
                if field is None:
                    continue
                name = field.name
                if field.is_repeated:
                    name = f"{name}[{seen.get(number, 0)}]"
                    seen[number] = seen.get(number, 0) + 1
                if field.type == FieldDescriptor.TYPE_STRING:
                    try:
                        str(chunk, "utf-8")
                    except UnicodeDecodeError:
                        return name
                elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
                    inner = find_invalid_utf8(field.message_type, chunk)
                    if inner is not None:
                        return f"{name}.{inner}"
            else:
                return None  # groups or garbage: nothing more to learn
    except IndexError:
        return None
    return None
