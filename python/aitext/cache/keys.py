"""Cache keys: the reference implementation of the key spec, and the backend the service uses.

The spec (docs/cache-keys.md, in short)::

    key      = "{namespace}:v1:{operation}:{hex(digest)}"
    digest   = BLAKE3-256(frame(b"aitext/cache-key/v1") ‖ frame(operation) ‖ frame(text)
                          ‖ frame(options) ‖ frame(question) ‖ frame(model) ‖ frame(prompt_version))
    frame(b) = u64 little-endian length of b ‖ b
    options  = concatenation, over the options sorted by name, of frame(name) ‖ frame(value as text)

Strings are framed as UTF-8. Option values are int (decimal), bool ("true"/"false") or
str (as is); anything else, float included, is a TypeError. Callers pass the *effective*
options, defaults applied (`OperationSpec.effective_options`), so that a request that
spells out a default shares its key with one that leaves it out. A question of None is
framed as empty.

`make_key` / `make_keys` here are the reference: plain Python over the `blake3`
package. `aitext._native` (Rust) implements the same functions with the same signature
and must return identical keys for every input and raise the same exception types for bad
input, in words of its own (tests/vectors/cache_keys.json, tests/test_keys.py and the
property tests hold both to that). The service calls whichever `key_function()` /
`batch_key_function()` return; `backend()` says which one that is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, TypeAlias

from blake3 import blake3

__all__ = [
    "DEFAULT_NAMESPACE",
    "DOMAIN",
    "KEY_VERSION",
    "Backend",
    "KeyRequest",
    "OptionValue",
    "backend",
    "batch_key_function",
    "configure",
    "key_function",
    "make_key",
    "make_keys",
]

logger = logging.getLogger(__name__)

DOMAIN = b"aitext/cache-key/v1"
KEY_VERSION = "v1"
DEFAULT_NAMESPACE = "ai_cache"
BACKEND_ENV = "AITEXT_KEY_BACKEND"

OptionValue: TypeAlias = int | bool | str
# (text, operation, options, question, model, prompt_version[, namespace]): make_key's
# arguments in order; a 6-item request uses the default namespace.
KeyRequest: TypeAlias = (
    tuple[str, str, Mapping[str, OptionValue], str | None, str, str]
    | tuple[str, str, Mapping[str, OptionValue], str | None, str, str, str | None]
)
MakeKey: TypeAlias = Callable[..., str]
MakeKeys: TypeAlias = Callable[[Iterable[KeyRequest]], list[str]]
Backend: TypeAlias = Literal["rust", "python"]


def _utf8(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be str, not {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate. aitext._native raises this type too, and PyO3 notes the argument the same way.
        exc.add_note(f"while processing '{field}'")
        raise


def _option_value(name: bytes, value: object) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        # int.__repr__ rather than str(): an int subclass cannot change the decimal text.
        return int.__repr__(value).encode("ascii")
    if isinstance(value, str):
        return _utf8(value, "option value")
    raise TypeError(f"option '{name.decode('utf-8')}' must be int, bool or str, not {type(value).__name__}")


def _frame_header(length: int) -> bytes:
    return length.to_bytes(8, "little")


def _encode_options(options: object) -> bytes:
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping, not {type(options).__name__}")
    # Names are checked and encoded in the mapping's order, values in name order:
    # aitext._native does the same, so the first bad field raises the same error type.
    items = [(_utf8(name, "option name"), value) for name, value in options.items()]
    # UTF-8 byte order is code point order, so this is sorting by name.
    items.sort(key=lambda item: item[0])
    parts: list[bytes] = []
    for name, value in items:
        encoded = _option_value(name, value)
        parts += (_frame_header(len(name)), name, _frame_header(len(encoded)), encoded)
    return b"".join(parts)


def make_key(
    text: str,
    operation: str,
    options: Mapping[str, OptionValue],
    question: str | None,
    model: str,
    prompt_version: str,
    namespace: str | None = DEFAULT_NAMESPACE,
) -> str:
    """The cache key of one request: ``"{namespace}:v1:{operation}:{64 hex digits}"``.

    ``options`` are the effective options (defaults applied); ``question`` None is the same
    as ""; ``namespace`` None is the default namespace. Raises TypeError for a field of the
    wrong type (an option value that is not int, bool or str) and UnicodeEncodeError (a
    ValueError) for a string that cannot be encoded as UTF-8 (a lone surrogate).
    """
    text_bytes = _utf8(text, "text")
    operation_bytes = _utf8(operation, "operation")
    options_bytes = _encode_options(options)
    question_bytes = b"" if question is None else _utf8(question, "question")
    model_bytes = _utf8(model, "model")
    prompt_bytes = _utf8(prompt_version, "prompt_version")
    if namespace is None:
        namespace = DEFAULT_NAMESPACE
    _utf8(namespace, "namespace")

    hasher = blake3()
    for field in (DOMAIN, operation_bytes, text_bytes, options_bytes, question_bytes, model_bytes, prompt_bytes):
        hasher.update(_frame_header(len(field)))
        hasher.update(field)
    # join, not an f-string: a str subclass's __str__ / __format__ must not change the key.
    return "".join((namespace, ":", KEY_VERSION, ":", operation, ":", hasher.hexdigest()))


def make_keys(requests: Iterable[KeyRequest]) -> list[str]:
    """The keys of many requests, in order.

    Each request is a tuple (or list) of make_key's arguments in order: ``(text, operation,
    options, question, model, prompt_version)`` or the same with ``namespace`` appended.
    """
    keys: list[str] = []
    for request in requests:
        if not isinstance(request, tuple | list) or len(request) not in (6, 7):
            raise TypeError(
                "each request must be a tuple (text, operation, options, question, model, prompt_version[, namespace])"
            )
        keys.append(make_key(*request))
    return keys


_selected: tuple[Backend, MakeKey, MakeKeys] | None = None


def configure(requested: str | None = None) -> Backend:
    """Choose the implementation the service uses and return its name.

    ``requested`` is "auto", "rust" or "python"; None reads AITEXT_KEY_BACKEND (default
    "auto"). "auto" takes the Rust extension when it imports and falls back to the Python
    reference with a logged warning when it does not; "rust" without the extension raises
    ImportError.
    """
    global _selected
    if requested is None:
        requested = os.environ.get(BACKEND_ENV, "auto")
    choice = requested.strip().lower()
    if choice not in ("auto", "rust", "python"):
        raise ValueError(f"{BACKEND_ENV} must be auto, rust or python, not {requested!r}")
    _selected = _load(choice)
    return _selected[0]


def _load(choice: str) -> tuple[Backend, MakeKey, MakeKeys]:
    if choice == "python":
        return ("python", make_key, make_keys)
    try:
        from aitext import _native
    except ImportError as exc:
        if choice == "rust":
            raise ImportError(
                f"{BACKEND_ENV}=rust but the Rust extension aitext._native does not import ({exc}); "
                "build it with `maturin develop --release` or `pip install -e .`"
            ) from exc
        logger.warning("aitext._native does not import (%s); cache keys use the Python reference", exc)
        return ("python", make_key, make_keys)
    # A stale build of the extension would silently orphan every cached entry.
    probe = ("probe ✓", "summarize", {"max_length": 100, "strict": True}, None, "local", "1")
    if _native.make_key(*probe) != make_key(*probe):
        message = "aitext._native computes different cache keys than the reference; rebuild it"
        if choice == "rust":
            raise RuntimeError(message)
        logger.warning("%s; cache keys use the Python reference", message)
        return ("python", make_key, make_keys)
    return ("rust", _native.make_key, _native.make_keys)


def _current() -> tuple[Backend, MakeKey, MakeKeys]:
    if _selected is None:
        configure()
    assert _selected is not None
    return _selected


def backend() -> Backend:
    """ "rust" or "python": the implementation behind key_function()."""
    return _current()[0]


def key_function() -> MakeKey:
    """The make_key the service uses (see configure())."""
    return _current()[1]


def batch_key_function() -> MakeKeys:
    """The make_keys the service uses (see configure())."""
    return _current()[2]
