"""`aitext bench keys` runs and reports what it promises (a smoke run: nothing here is timed)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from aitext.bench import run_bench
from aitext.bench.original_schemes import original_key, proposed_key

pytestmark = pytest.mark.unit


def run_quick(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert run_bench("keys", ["--quick", "--sizes", "100,1000,100000", *extra]) == 0
    return capsys.readouterr().out


def test_bench_keys_reports_every_scheme_size_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    report: dict[str, Any] = json.loads(run_quick(capsys, "--json"))
    assert [row["bytes"] for row in report["sizes"]] == [100, 1000, 100000]
    for row in report["sizes"]:
        assert set(row["us_per_key"]) == {"original", "proposed", "python", "rust", "raw_blake3"}
        assert all(value > 0 for value in row["us_per_key"].values())
        assert set(row["rust_speedup"]) == {"vs_original", "vs_proposed", "vs_python"}
    assert report["concurrency"]["bytes"] < report["machine"]["multithread_min_bytes"]
    assert {"one_thread_keys_per_s", "two_threads_keys_per_s", "speedup"} <= set(report["concurrency"]["rust"])
    assert report["batch"]["requests"] == 1000
    assert set(report["targets"]) == {
        "rust_vs_raw_max_overhead",
        "rust_100b_vs_original",
        "rust_100b_vs_python",
        "two_threads_speedup",
    }


def test_bench_keys_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_quick(capsys)
    for needle in (
        "original (JSON+MD5)",
        "proposed (SHA-256+words)",
        "Python reference",
        "Rust extension",
        "raw BLAKE3",
        "concurrency",
        "make_keys",
        "targets:",
    ):
        assert needle in out
    assert run_quick(capsys, "--markdown").startswith("| text | original")


def test_unknown_benchmark_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench("no_such_bench", []) == 2
    assert "no benchmark" in capsys.readouterr().err


def test_write_up_schemes_are_rebuilt_as_described() -> None:
    body = json.dumps({"operation": "qa", "options": [["k", 1]], "question": "q?", "text": "t"}, sort_keys=True)
    assert original_key("t", "qa", {"k": 1}, "q?") == "ai_cache:" + hashlib.md5(body.encode()).hexdigest()
    # Short texts go into the proposed key verbatim: the forgeable key the spec replaces.
    assert proposed_key("a|b", "summarize", {}, None) == "ai_cache:op:summarize|txt:a|b"
    long_key = proposed_key("w " * 600, "qa", {"k": 1}, "q?")
    assert long_key.startswith("ai_cache:op:qa|txt:hash:") and "|opts:" in long_key and "|q:" in long_key
