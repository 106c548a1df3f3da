"""The README stays true: its first lines are the two commands, its settings table is current."""

from pathlib import Path

import pytest
from aitext.config import settings_table

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[1] / "README.md"


def test_settings_table_matches_the_code():
    assert settings_table() in README.read_text(), "run: .venv/bin/python scripts/update-readme.py"


def test_first_lines_are_run_and_test_and_ci_uses_the_test_command():
    head = README.read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)
    ci = (README.parent / ".ci/run").read_text().split()
    assert ci[-2:] == ["make", "test"]
