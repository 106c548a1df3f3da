"""The UI in a real browser: `streamlit run` on a free port, Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import pytest

from tests.fixtures.ui import ARTIFACTS

pytestmark = pytest.mark.e2e

TEXT = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk. "
    "He cleaned the great lens, trimmed the wick and lit the lamp. "
    "Ships far out at sea saw the beam and steered clear of the rocks."
)


@pytest.mark.slow
def test_paste_a_text_run_summarize_and_see_the_summary(streamlit_server, chromium_page):
    from playwright.sync_api import expect

    page = chromium_page
    page.goto(streamlit_server.url, wait_until="domcontentloaded")
    text_box = page.get_by_label("Text", exact=True)
    expect(text_box).to_be_visible(timeout=30_000)
    text_box.fill(TEXT)
    text_box.press("Control+Enter")  # commits the value before the click reruns the script
    expect(page.get_by_text(f"{len(TEXT.encode())} of at most")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Run", exact=True).click()

    expect(page.get_by_role("heading", name="Summary")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("The lighthouse keeper climbed", exact=False).last).to_be_visible()
    expect(page.get_by_text("miss", exact=True)).to_be_visible()
    expect(page.get_by_text("Service: serving")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "ui-process-summary.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000, streamlit_server.log()
