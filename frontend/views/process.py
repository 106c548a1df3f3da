"""Process one text with one operation."""

from dataclasses import dataclass

import streamlit as st
import ui
from aitext.v1 import aitext_pb2 as pb
from client import ServiceError, build_request
from samples import SAMPLES


@dataclass
class Outcome:
    operation: str
    response: pb.ProcessResponse | None = None
    error: ServiceError | None = None
    # The last progress event: a long text's chunks, kept to show the bar where it ended.
    progress: pb.ProcessProgress | None = None


def load_sample() -> None:
    choice = st.session_state["process_sample"]
    if choice in SAMPLES:
        st.session_state["process_text"] = SAMPLES[choice]


client, operations = ui.require_operations()
outcome: Outcome | None = st.session_state.get("process_outcome")
error = outcome.error if outcome else None

st.title("Process a text")
st.selectbox("Start from a sample", ["(none)", *SAMPLES], key="process_sample", on_change=load_sample)
text = st.text_area("Text", key="process_text", height=200, placeholder="Paste a text here")
uploaded = st.file_uploader("…or upload a .txt or .md file", type=["txt", "md"], key="process_file")
if uploaded is not None:
    text = uploaded.getvalue().decode("utf-8", errors="replace")
    st.caption(f"Using {uploaded.name} instead of the text box.")
size = len(text.encode("utf-8"))
st.caption(f"{size:,} of at most {operations.max_text_bytes:,} UTF-8 bytes")
ui.field_error(error, "text")

operation, options, question = ui.operation_inputs(operations, "process", error)

run = st.button("Run", type="primary", key="process_run")
# Always ProcessStream: a short text gets the response alone, the same as Process, and a text
# over the model's input budget fills this bar chunk by chunk.
progress = st.empty()
if run:
    request = build_request(operation, text, question, options)
    outcome = Outcome(operation.name)

    def show_progress(event: pb.ProcessProgress) -> None:
        outcome.progress = event
        ui.chunk_progress(progress, event)

    with st.spinner(f"Running {ui.operation_label(operation)}…"):
        try:
            outcome.response = client.process_with_progress(request, show_progress)
        except ServiceError as failed:
            outcome.error = failed
    st.session_state["process_outcome"] = outcome
    st.rerun()

if outcome is not None:
    if outcome.progress is not None:  # where the bar ended: full, or where the call failed
        ui.chunk_progress(progress, outcome.progress, finished=outcome.response is not None)
    if outcome.error is not None:
        ui.show_error(outcome.error)
    else:
        ui.render_response(outcome.response)
        st.download_button(
            "Download JSON",
            ui.to_json(outcome.response),
            file_name=f"aitext-{outcome.operation}.json",
            mime="application/json",
            key="process_download",
        )
