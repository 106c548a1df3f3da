"""`aitext bench longdoc` runs and counts what it promises (a smoke run: nothing here is timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import longdoc

pytestmark = pytest.mark.integration  # a fake provider on loopback


def test_bench_longdoc_counts_the_calls_an_edit_costs(capsys: pytest.CaptureFixture[str]) -> None:
    assert longdoc.main(["--json", "--quick", "--size", "300000", "--latency", "0"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)

    steps = report["steps"]
    chunks = steps["cold"]["chunks"]
    assert chunks > 10
    assert steps["cold"]["provider_calls"] == chunks + steps["cold"]["reduce_calls"]
    for edit in ("edit_middle", "insert_start"):
        assert steps[edit]["cached_chunks"] >= chunks - 2
        assert steps[edit]["provider_calls"] == steps[edit]["model_calls"] <= 2 + steps[edit]["reduce_calls"]
    assert steps["whole_hit"]["whole_hit"] == 1 and steps["whole_hit"]["provider_calls"] == 0
    assert steps["chunks_only"]["whole_hit"] == 0
    assert steps["chunks_only"]["provider_calls"] == 0 and steps["chunks_only"]["cached_chunks"] == chunks


def test_bench_longdoc_markdown_has_a_row_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert longdoc.main(["--markdown", "--quick", "--size", "100000", "--latency", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| step | model calls |")
    assert len(lines) == 2 + 5


def test_make_bench_longdoc_runs_the_script() -> None:
    """`make bench-longdoc` runs the file as a script: it must print its report, not exit silently."""
    script = Path(longdoc.__file__)
    done = subprocess.run(
        [sys.executable, str(script), "--markdown", "--quick", "--size", "100000", "--latency", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith("| step | model calls |"), done.stdout + done.stderr
