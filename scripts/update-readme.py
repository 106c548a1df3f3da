"""Rewrites the README's configuration table from the settings (run after adding a setting)."""

import re
from pathlib import Path

from aitext.config import settings_table

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
text = re.sub(
    r"<!-- settings-table -->.*?<!-- /settings-table -->",
    lambda _: f"<!-- settings-table -->\n{settings_table()}\n<!-- /settings-table -->",
    text,
    flags=re.S,
)
readme.write_text(text)
