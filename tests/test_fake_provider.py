"""The fake provider behaves like a real one at its limits: a context window and latency."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fixtures.fake_provider import MODEL, FakeProvider

pytestmark = pytest.mark.integration


def chat(fake: FakeProvider, user_text: str) -> httpx.Response:
    body = {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Summarize."}, {"role": "user", "content": user_text}],
        "tools": [{"type": "function", "function": {"name": "submit_summary", "parameters": {}}}],
    }
    return httpx.post(f"{fake.base_url}/chat/completions", json=body, timeout=10)


def test_prompt_over_the_context_window_gets_openais_400(fake_provider: FakeProvider) -> None:
    fake_provider.max_prompt_bytes = 100

    fits = chat(fake_provider, "x" * 80)  # 10 bytes of system prompt + 80
    over = chat(fake_provider, "é" * 46)  # 10 + 92 UTF-8 bytes

    assert fits.status_code == 200
    assert over.status_code == 400
    error = over.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert fake_provider.prompt_sizes == [90, 102]


def test_latency_is_added_to_every_answer(fake_provider: FakeProvider) -> None:
    fake_provider.latency_seconds = 0.3

    started = time.monotonic()
    answer = chat(fake_provider, "short")

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3
