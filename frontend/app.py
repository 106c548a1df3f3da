"""aitext UI: `streamlit run frontend/app.py` (see README). Builds the sidebar, then runs the chosen page."""

import sys
from pathlib import Path

import streamlit as st

# Pages import the UI's modules (client, ui, samples) by name, whoever runs the app.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ui  # noqa: E402

st.set_page_config(page_title="aitext", page_icon=":material/article:", layout="wide")

context = ui.load_context()
st.session_state["_aitext_context"] = context
ui.sidebar(context)

page = st.navigation(
    [
        st.Page("views/process.py", title="Process", icon=":material/article:", default=True),
        st.Page("views/batch.py", title="Batch", icon=":material/library_books:"),
        st.Page("views/cache.py", title="Cache & performance", icon=":material/monitoring:"),
    ]
)
page.run()
