"""`aitext bench chunks` runs and reports what it promises (a smoke run: nothing here is timed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aitext.bench import run_bench
from aitext.cli import main as cli_main

pytestmark = pytest.mark.unit


def run_quick(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert run_bench("chunks", ["--quick", "--sizes", "100000,300000", *extra]) == 0
    return capsys.readouterr().out


def test_bench_chunks_reports_every_scheme_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    report: dict[str, Any] = json.loads(run_quick(capsys, "--json"))
    assert [row["bytes"] for row in report["sizes"]] == [100_000, 300_000]
    for row in report["sizes"]:
        assert (
            set(row["gb_per_s"])
            == set(row["cpu_gb_per_s"])
            == set(row["best_gb_per_s"])
            == {"python", "rust", "raw_blake3"}
        )
        assert all(value > 0 for value in row["ms_per_call"].values())
        assert row["chunks"] >= 5 and row["rust_vs_python"] > 0 and row["rust_over_raw"] > 0
    # The 10 MB target appears only when 10 MB was measured.
    assert set(report["targets"]) == {"rust_vs_python"}
    assert report["machine"]["nproc"] >= 1


def test_bench_chunks_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_quick(capsys)
    for needle in ("Python reference", "Rust extension", "raw BLAKE3, 1 core", "100 KB", "300 KB", "targets:"):
        assert needle in out
    assert run_quick(capsys, "--markdown").startswith("| text | chunks | Python reference")


def test_cli_knows_the_chunks_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "chunks", "--quick", "--sizes", "100000", "--markdown"]) == 0
    assert "| 100 KB |" in capsys.readouterr().out
