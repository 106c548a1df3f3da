"""`aitext bench cache` runs end to end (tiny iteration count; no timing is asserted)."""

from __future__ import annotations

import json

import pytest
from aitext.bench import cache as bench_cache
from aitext.operations import OPERATIONS

pytestmark = pytest.mark.integration


def test_bench_reports_every_operation_and_tier(redis_url, redis_server, capsys):
    redis_server.cli("SET", "ai_cache:v1:qa:unrelated", "kept")
    assert bench_cache.main(["--iterations", "5", "--text-chars", "3000", "--redis-url", redis_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["operation"] for row in report["rows"]] == [op.name for op in OPERATIONS]
    for row in report["rows"]:
        for cell in ("l1_hit_us", "l2_hit_us", "miss_us"):
            p50, p99 = row[cell]
            assert 0 < p50 <= p99
        assert 0 < row["lz4_ratio"] < 2
        assert row["stored_bytes"] > 0
    assert "Redis" in report["machine"]
    assert redis_server.cli("--scan", "--pattern", "bench:*") == ""  # cleans up after itself
    assert redis_server.cli("GET", "ai_cache:v1:qa:unrelated") == "kept"


def test_bench_table_output(redis_url, capsys):
    assert bench_cache.main(["--iterations", "3", "--text-chars", "2000", "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "| operation | answer bytes |" in out
    assert out.count("\n| ") >= 1 + len(OPERATIONS)
