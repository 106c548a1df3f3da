"""Widgets and renderings the pages share: the service context, operation inputs, results, errors."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st
from aitext.v1 import aitext_pb2 as pb
from client import CACHE_HEALTH_NAME, Client, ServiceError, Settings, connect
from google.protobuf import json_format
from streamlit.delta_generator import DeltaGenerator

# Streamlit's bundled Material icons render everywhere; emoji need a colour-emoji font.
_ERROR_ICONS = {
    "unreachable": ":material/cloud_off:",
    "unauthenticated": ":material/key_off:",
    "permission_denied": ":material/lock:",
    "rate_limited": ":material/hourglass_top:",
    "invalid_argument": ":material/edit:",
}
_OTHER_ERROR_ICON = ":material/error:"
_HEALTH_MARKS = {
    "SERVING": ":green[:material/check_circle:]",
    "NOT_SERVING": ":orange[:material/warning:]",
    "UNREACHABLE": ":red[:material/cancel:]",
}


@dataclass
class Context:
    """What one script run knows about the service; app.py builds it before the page runs."""

    client: Client
    operations: pb.ListOperationsResponse | None
    error: ServiceError | None
    health: dict[str, str]


@st.cache_data(ttl=60, show_spinner=False)
def _operations(address: str, api_key: str) -> pb.ListOperationsResponse:
    # Cached so that reruns (every click) do not spend the API key's rate-limit tokens.
    return Client(address, replace(Settings.from_env(), api_key=api_key)).list_operations()


def load_context() -> Context:
    """Health first (open, no rate limit); ListOperations only when the service answers."""
    client = connect()
    overall, failure = client.health("")
    cache, _ = client.health(CACHE_HEALTH_NAME) if failure is None else (overall, None)
    health = {"": overall, CACHE_HEALTH_NAME: cache}
    if overall == "UNREACHABLE":
        return Context(client, None, failure, health)
    try:
        return Context(client, _operations(client.address, client.settings.api_key), None, health)
    except ServiceError as error:
        return Context(client, None, error, health)


def context() -> Context:
    if "_aitext_context" not in st.session_state:
        st.session_state["_aitext_context"] = load_context()
    return st.session_state["_aitext_context"]


def require_operations() -> tuple[Client, pb.ListOperationsResponse]:
    """The client and ListOperations, or an actionable error and the end of the page."""
    ctx = context()
    if ctx.operations is None:
        show_error(ctx.error)
        st.button("Retry", icon=":material/refresh:", key="retry_service")
        st.stop()
    return ctx.client, ctx.operations


def show_error(error: ServiceError) -> None:
    icon = _ERROR_ICONS.get(error.kind, _OTHER_ERROR_ICON)
    if error.kind == "rate_limited":
        st.warning(error.headline, icon=icon)
    else:
        st.error(error.headline, icon=icon)


def field_error(error: ServiceError | None, *fields: str) -> None:
    """Shows the INVALID_ARGUMENT violation of a field right under its widget."""
    description = error.violation_for(*fields) if error is not None else None
    if description:
        st.error(f"{fields[0].replace('_', ' ').capitalize()} {description}", icon=_ERROR_ICONS["invalid_argument"])


def health_line(label: str, status: str) -> str:
    mark = _HEALTH_MARKS.get(status, ":gray[:material/help:]")
    return f"{mark} {label}: **{status.lower().replace('_', ' ')}**"


def sidebar(ctx: Context) -> None:
    client = ctx.client
    settings = client.settings
    st.sidebar.markdown("### Service")
    st.sidebar.markdown(f"Address: `{client.address}`")
    if client.address != settings.service_address:
        st.sidebar.caption(f"{settings.service_address} is unreachable; using the fallback address.")
    st.sidebar.markdown(health_line("Service", ctx.health[""]))
    st.sidebar.markdown(health_line("Cache", ctx.health[CACHE_HEALTH_NAME]))
    model = ctx.operations.model if ctx.operations else "unknown"
    st.sidebar.markdown(f"Model: `{model}`")
    st.sidebar.caption("API key: " + ("set (AITEXT_UI_API_KEY)" if settings.api_key else "none"))


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
    elif kind:
        # An operation this page has no layout for yet: its result as the service sent it.
        st.subheader(kind.replace("_", " ").capitalize())
        value = getattr(response, kind)
        st.write(json_format.MessageToDict(value) if hasattr(value, "DESCRIPTOR") else value)
    model, took, cache = st.columns(3)
    model.metric("Model", response.model)
    took.metric("Processing time", f"{response.processing_time_ms:.1f} ms")
    cache.metric("Cache", cache_summary(response.cache))
    if response.HasField("chunks"):
        # A text over the model's input budget, processed in chunks (map-reduce).
        chunks = response.chunks
        total, cached, calls = st.columns(3)
        total.metric("Chunks", f"{chunks.total:,}")
        cached.metric("Chunks from cache", f"{chunks.cached:,}")
        calls.metric(
            "Model calls", f"{chunks.model_calls:,}", help=f"{chunks.reduce_calls:,} of them to combine results"
        )
    if response.cache.key:
        age = f", cached {response.cache.age_seconds:.0f} s ago" if response.cache.hit else ""
        st.caption(f"Cache key `{response.cache.key}`{age}")


def chunk_progress(slot: DeltaGenerator, event: pb.ProcessProgress, *, finished: bool = False) -> None:
    """A long text's progress in slot (an st.empty): chunks done of total, how many from the cache."""
    total = event.chunks_total
    fraction = min(event.chunks_done / total, 1.0) if total else 1.0
    cached = f", {event.chunks_cached:,} from the cache"
    if event.stage == "reduce" and not finished:
        text = f"All {total:,} chunks done{cached}; combining the results"
    else:
        text = f"{event.chunks_done:,} of {total:,} chunks done{cached}"
    slot.progress(fraction, text=text)


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return ""


def to_json(message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True)


def to_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
