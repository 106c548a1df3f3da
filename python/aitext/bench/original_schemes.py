"""The two key schemes of the write-up the project started from, rebuilt for benchmarking only.

Neither is used by the service (docs/cache-keys.md, "Why not the write-up's keys"): they exist here so that
`aitext bench keys` can measure the spec's implementations against them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# The proposed scheme keeps texts up to this many characters verbatim in the key.
INLINE_MAX_CHARS = 1000


def original_key(text: str, operation: str, options: dict[str, Any], question: str | None) -> str:
    """The starter's scheme: the whole request as sorted-key JSON, MD5 of that."""
    request = {
        "text": text,
        "operation": operation,
        "options": sorted(options.items()) if options else [],
        "question": question,
    }
    serialized = json.dumps(request, sort_keys=True)
    return "ai_cache:" + hashlib.md5(serialized.encode()).hexdigest()


def _short_md5(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()[:8]


def proposed_key(text: str, operation: str, options: dict[str, Any], question: str | None) -> str:
    """The write-up's proposal: short texts inline; longer ones SHA-256 over text, length and
    word count, cut to 16 hex digits; 8-hex-digit MD5s of the options and the question;
    components joined with "|"."""
    if len(text) <= INLINE_MAX_CHARS:
        text_id = text
    else:
        digest = hashlib.sha256(text.encode("utf-8"))
        digest.update(f"len:{len(text)}".encode())
        digest.update(f"words:{len(text.split())}".encode())
        text_id = "hash:" + digest.hexdigest()[:16]
    parts = [f"op:{operation}", f"txt:{text_id}"]
    if options:
        parts.append("opts:" + _short_md5("&".join(f"{name}={value}" for name, value in sorted(options.items()))))
    if question:
        parts.append("q:" + _short_md5(question))
    return "ai_cache:" + "|".join(parts)
