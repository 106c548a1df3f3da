"""Request validation: every violation found, each naming its field."""

from __future__ import annotations

from dataclasses import dataclass

from aitext.config import Settings
from aitext.errors import RequestError, invalid_argument
from aitext.operations import BY_ENUM, OperationSpec
from aitext.security.tenants import Tenant
from aitext.v1 import aitext_pb2 as pb


@dataclass(frozen=True, slots=True)
class ValidRequest:
    spec: OperationSpec
    text: str
    # Effective options: defaults applied (they go into the cache key).
    options: dict[str, int]
    question: str
    control: pb.CacheControl
    # Whose request: its cache partition (Pipeline.namespace_for) and its limits.
    tenant: Tenant


def validate_process(
    request: pb.ProcessRequest, settings: Settings, prefix: str = "", *, tenant: Tenant
) -> ValidRequest:
    """Returns the checked request, or raises INVALID_ARGUMENT listing every bad field.

    `tenant` is required, never defaulted: a request that forgot whose it is must not land in
    some default partition.
    """
    # Each read of a string field builds a new str from the message's UTF-8 (60 µs a MB of ASCII): read it once.
    text = request.text
    violations = _process_violations(request, text, settings, prefix, tenant)
    if violations:
        raise invalid_argument(violations)
    spec = BY_ENUM[request.operation]
    given: dict[str, int] = {}
    if spec.options_field and request.HasField(spec.options_field):
        chosen = getattr(request, spec.options_field)
        given = {o.name: getattr(chosen, o.name) for o in spec.options if chosen.HasField(o.name)}
    return ValidRequest(spec, text, spec.effective_options(given), request.question, request.cache_control, tenant)


def _process_violations(
    request: pb.ProcessRequest, text: str, settings: Settings, prefix: str, tenant: Tenant
) -> list[tuple[str, str]]:
    violations: list[tuple[str, str]] = []

    def bad(field: str, description: str) -> None:
        violations.append((prefix + field, description))

    # A str's UTF-8 size is at most 4 bytes a character: encode only when it could matter.
    if len(text) * 4 > settings.max_text_bytes and len(text.encode("utf-8", "surrogatepass")) > settings.max_text_bytes:
        bad("text", f"is longer than the limit of {settings.max_text_bytes} UTF-8 bytes")
    elif not text or text.isspace():
        bad("text", "must contain at least one non-whitespace character")

    spec = BY_ENUM.get(request.operation)
    if request.operation == pb.OPERATION_UNSPECIFIED:
        bad("operation", "must be set")
    elif spec is None:
        bad("operation", f"unknown operation {request.operation}")

    question = request.question
    if spec is not None and spec.requires_question and (not question or question.isspace()):
        bad("question", f"is required for {pb.Operation.Name(spec.enum)}")
    elif spec is not None and not spec.requires_question and question:
        bad("question", f"is only accepted by OPERATION_QA, not {pb.Operation.Name(spec.enum)}")
    elif len(question) > settings.max_question_chars:
        bad("question", f"is longer than the limit of {settings.max_question_chars} characters")

    chosen_field = request.WhichOneof("options")
    if chosen_field is not None and spec is not None:
        if chosen_field != spec.options_field:
            bad(chosen_field, f"does not apply to {pb.Operation.Name(spec.enum)}")
        else:
            chosen = getattr(request, chosen_field)
            for option in spec.options:
                value = getattr(chosen, option.name)
                if chosen.HasField(option.name) and not option.min_value <= value <= option.max_value:
                    bad(
                        f"{chosen_field}.{option.name}",
                        f"must be between {option.min_value} and {option.max_value}, got {value}",
                    )

    control = request.cache_control
    cap = tenant.max_ttl_seconds
    if control.HasField("ttl_seconds") and not 1 <= control.ttl_seconds <= cap:
        bad("cache_control.ttl_seconds", f"must be between 1 and {cap}, the largest TTL tenant {tenant.name} may set")
    return violations


def validate_batch(request: pb.ProcessBatchRequest, settings: Settings) -> None:
    count = len(request.requests)
    if count == 0:
        raise invalid_argument([("requests", "must contain at least one request")])
    if count > settings.max_batch_items:
        raise invalid_argument([("requests", f"has {count} items; the limit is {settings.max_batch_items}")])


def undecodable(field: str, reason: str) -> RequestError:
    """The error for a request that protobuf could not parse (see aitext.wire)."""
    return invalid_argument([(field, reason)])
