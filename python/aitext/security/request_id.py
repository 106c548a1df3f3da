"""Client-chosen request ids, made safe to log."""

from __future__ import annotations

import re

MAX_REQUEST_ID_CHARS = 128
# UUIDs, hex and base64(url) ids, W3C trace ids, `service/123`: no spaces, quotes or control
# characters, so an id cannot end the log line, fake another field or another line.
_SAFE = re.compile(rf"[A-Za-z0-9._:/+=@-]{{1,{MAX_REQUEST_ID_CHARS}}}")


def safe_request_id(value: object) -> str | None:
    """`value` when it is a safe id to log, else None (the caller makes a fresh one)."""
    if isinstance(value, str) and _SAFE.fullmatch(value):
        return value
    return None
