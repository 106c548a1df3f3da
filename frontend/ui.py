"""Widgets and renderings the pages share: the service context, operation inputs, results, errors."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from google.protobuf import json_format

from client import CACHE_HEALTH_NAME, Client, ServiceError, connect
from aitext.v1 import aitext_pb2 as pb

_ERROR_ICONS = {
    "unreachable": "🔌",
    "unauthenticated": "🔑",
    "permission_denied": "🔒",
    "rate_limited": "⏳",
    "invalid_argument": "✏️",
}


@dataclass
class Context:
    """What one script run knows about the service; app.py builds it before the page runs."""

    client: Client
    operations: pb.ListOperationsResponse | None
    error: ServiceError | None


def load_context() -> Context:
    client = connect()
    try:
        return Context(client, client.list_operations(), None)
    except ServiceError as error:
        return Context(client, None, error)


def context() -> Context:
    if "_aitext_context" not in st.session_state:
        st.session_state["_aitext_context"] = load_context()
    return st.session_state["_aitext_context"]


def require_operations() -> tuple[Client, pb.ListOperationsResponse]:
    """The client and ListOperations, or an actionable error and the end of the page."""
    ctx = context()
    if ctx.operations is None:
        show_error(ctx.error)
        st.stop()
    return ctx.client, ctx.operations


def show_error(error: ServiceError) -> None:
    icon = _ERROR_ICONS.get(error.kind, "🚨")
    if error.kind == "rate_limited":
        st.warning(error.headline, icon=icon)
    else:
        st.error(error.headline, icon=icon)


def field_error(error: ServiceError | None, *fields: str) -> None:
    """Shows the INVALID_ARGUMENT violation of a field right under its widget."""
    description = error.violation_for(*fields) if error is not None else None
    if description:
        st.error(f"{fields[0].replace('_', ' ').capitalize()} {description}", icon="✏️")


def health_line(label: str, status: str) -> str:
    mark = {"SERVING": "🟢", "NOT_SERVING": "🟠", "UNREACHABLE": "🔴"}.get(status, "⚪")
    return f"{mark} {label}: **{status.lower().replace('_', ' ')}**"


def sidebar(ctx: Context) -> None:
    client = ctx.client
    settings = client.settings
    st.sidebar.markdown("### Service")
    st.sidebar.markdown(f"Address: `{client.address}`")
    if client.address != settings.service_address:
        st.sidebar.caption(f"{settings.service_address} is unreachable; using the fallback address.")
    st.sidebar.markdown(health_line("Service", client.health("")))
    st.sidebar.markdown(health_line("Cache", client.health(CACHE_HEALTH_NAME)))
    model = ctx.operations.model if ctx.operations else "unknown"
    st.sidebar.markdown(f"Model: `{model}`")
    st.sidebar.caption("API key: " + ("set (AITEXT_UI_API_KEY)" if settings.api_key else "none"))
    if ctx.error is not None:
        st.sidebar.error(ctx.error.headline, icon=_ERROR_ICONS.get(ctx.error.kind, "🚨"))


def operation_label(info: pb.OperationInfo) -> str:
    return info.name.replace("_", " ")


def operation_inputs(
    operations: pb.ListOperationsResponse, key: str, error: ServiceError | None
) -> tuple[pb.OperationInfo, dict[str, int], str]:
    """Operation select, its options within the API's limits, and the question box for qa."""
    by_name = {info.name: info for info in operations.operations}
    name = st.selectbox(
        "Operation",
        list(by_name),
        format_func=lambda n: operation_label(by_name[n]),
        key=f"{key}_operation",
        help="; ".join(f"{operation_label(i)}: {i.description}" for i in operations.operations),
    )
    info = by_name[name]
    st.caption(info.description)
    field_error(error, "operation")
    options: dict[str, int] = {}
    if info.options:
        columns = st.columns(len(info.options))
        for column, option in zip(columns, info.options):
            with column:
                options[option.name] = st.number_input(
                    option.name.replace("_", " ").capitalize(),
                    min_value=option.min_value,
                    max_value=option.max_value,
                    value=option.default_value,
                    step=1,
                    help=f"{option.description} ({option.min_value}..{option.max_value}, default {option.default_value})",
                    key=f"{key}_{info.name}_{option.name}",
                )
                field_error(error, option.name)
    question = ""
    if info.requires_question:
        question = st.text_input(
            "Question",
            max_chars=operations.max_question_chars or None,
            key=f"{key}_question",
            placeholder="What would you like to know about the text?",
        )
        field_error(error, "question")
    return info, options, question


def cache_summary(cache: pb.CacheInfo) -> str:
    return f"hit ({cache.tier})" if cache.hit else "miss"


def result_text(response: pb.ProcessResponse) -> str:
    """A one-line rendering of a result, for tables and CSV."""
    kind = response.WhichOneof("result")
    if kind == "sentiment":
        s = response.sentiment
        return f"{sentiment_name(s.label)} ({s.confidence:.2f}): {s.explanation}"
    if kind == "key_points":
        return " | ".join(response.key_points.points)
    if kind == "questions":
        return " | ".join(response.questions.questions)
    return getattr(response, kind) if kind else ""


def sentiment_name(label: int) -> str:
    return pb.SentimentLabel.Name(label).removeprefix("SENTIMENT_LABEL_").lower()


def render_response(response: pb.ProcessResponse) -> None:
    kind = response.WhichOneof("result")
    if kind == "summary":
        st.subheader("Summary")
        st.write(response.summary)
    elif kind == "sentiment":
        s = response.sentiment
        st.subheader("Sentiment")
        st.markdown(f"**{sentiment_name(s.label).capitalize()}**")
        st.progress(min(max(s.confidence, 0.0), 1.0), text=f"Confidence {s.confidence:.0%}")
        st.write(s.explanation)
    elif kind == "key_points":
        st.subheader("Key points")
        st.markdown("\n".join(f"- {point}" for point in response.key_points.points) or "_none_")
    elif kind == "questions":
        st.subheader("Questions")
        st.markdown("\n".join(f"{i}. {q}" for i, q in enumerate(response.questions.questions, 1)) or "_none_")
    elif kind == "answer":
        st.subheader("Answer")
        st.write(response.answer)
    model, took, cache = st.columns(3)
    model.metric("Model", response.model)
    took.metric("Processing time", f"{response.processing_time_ms:.1f} ms")
    cache.metric("Cache", cache_summary(response.cache))
    if response.cache.key:
        age = f", cached {response.cache.age_seconds:.0f} s ago" if response.cache.hit else ""
        st.caption(f"Cache key `{response.cache.key}`{age}")


def to_json(message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True)


def to_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
