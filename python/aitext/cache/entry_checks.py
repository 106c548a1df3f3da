"""Whether an authentic stored answer fits the request that found it.

The MAC proves who wrote an entry, not that the writer was right: these checks hold even
against a leaked secret, a bug, or an answer stored before a bound was tightened.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from aitext.cache.envelope import Envelope, EnvelopeError
from aitext.operations import BY_NAME
from aitext.v1 import aitext_pb2 as pb

# How far in the future a stored created_at may be and still be served: clocks of hosts sharing
# a Redis disagree by milliseconds under NTP; an entry dated later than this is not from one of them.
CLOCK_SKEW_SECONDS = 60.0


def check_entry(
    operation: str, options: Mapping[str, int] | None, stored: Envelope, response: pb.ProcessResponse
) -> None:
    """EnvelopeError with the reason when the entry does not fit; `options` None checks only the type's bounds."""
    spec = BY_NAME[operation]
    if response.operation != spec.enum:
        raise EnvelopeError(
            f"holds a {pb.Operation.Name(response.operation)} answer, not {spec.name}", reason="operation"
        )
    try:
        result = spec.result_type.read(response)
        if options is not None and result.checked(options) != result:
            raise ValueError("outside the request's bounds")
    except ValueError as exc:  # pydantic's ValidationError and OutputRejected are ValueErrors
        raise EnvelopeError(f"the answer breaks its bounds: {exc}", reason="bounds") from None
    if not math.isfinite(stored.created_at) or stored.created_at > time.time() + CLOCK_SKEW_SECONDS:
        raise EnvelopeError(f"created_at {stored.created_at} is not a past time", reason="created_at")
