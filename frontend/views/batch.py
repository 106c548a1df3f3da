"""Many texts, one operation; results stream in and advance the progress bar."""

import pandas as pd
import streamlit as st
import ui
from batch_results import COLUMNS, BatchOutcome
from client import ServiceError, build_request

client, operations = ui.require_operations()
outcome: BatchOutcome | None = st.session_state.get("batch_outcome")

st.title("Batch")
lines = st.text_area("Texts, one per line", key="batch_text", height=180)
files = st.file_uploader(
    "…and/or upload .txt or .md files (each file is one text)",
    type=["txt", "md"],
    accept_multiple_files=True,
    key="batch_files",
)
items = [(f"line {n}", line.strip()) for n, line in enumerate(lines.splitlines(), 1) if line.strip()]
items += [(f.name, f.getvalue().decode("utf-8", errors="replace")) for f in files or []]
too_many = len(items) > operations.max_batch_items
st.caption(f"{len(items)} texts (at most {operations.max_batch_items} a batch)")
if too_many:
    st.error(f"Too many texts: a batch takes at most {operations.max_batch_items}.", icon=":material/edit:")

operation, options, question = ui.operation_inputs(operations, "batch", outcome.error if outcome else None)

run = st.button("Run batch", type="primary", disabled=not items or too_many, key="batch_run")
progress = st.empty()
if run:
    outcome = BatchOutcome(operation.name, [source for source, _ in items])
    total = len(items)
    progress.progress(0.0, text=f"0 of {total} done")
    requests = [build_request(operation, text, question, options) for _, text in items]
    try:
        for item in client.process_batch(requests):
            outcome.add(item)
            progress.progress(outcome.done / total, text=f"{outcome.done} of {total} done")
    except ServiceError as failed:
        outcome.error = failed
    st.session_state["batch_outcome"] = outcome

if outcome is not None:
    total = len(outcome.sources)
    progress.progress(outcome.done / total if total else 1.0, text=f"{outcome.done} of {total} done")
    if outcome.error is not None:
        ui.show_error(outcome.error)
    failed_items = sum(row["status"] not in ("ok", "not run") for row in outcome.rows)
    st.caption(f"{outcome.operation}: {outcome.done - failed_items} succeeded, {failed_items} failed")
    st.dataframe(pd.DataFrame(outcome.rows, columns=COLUMNS), hide_index=True, width="stretch")
    json_col, csv_col = st.columns(2)
    json_col.download_button(
        "Download JSON", outcome.json(), file_name="aitext-batch.json", mime="application/json", key="batch_json"
    )
    csv_col.download_button(
        "Download CSV", outcome.csv(), file_name="aitext-batch.csv", mime="text/csv", key="batch_csv"
    )
